"""Nearest-neighbour query latency at hub scale: the FAISS index hubindex builds for a space vs exact numpy search,
measured in the same run on the same vectors and queries.

Vectors imitate a Delta Activations space: `--clusters` domain directions plus per-model noise, unit length, inner
product (cosine). The FAISS index is the one `hubindex.catalog.spaces.build_index` builds (exact flat below
HNSW_FROM vectors, HNSW with M=32, efSearch=128 beyond). Each query is one model's vector with a small
perturbation, searched one at a time (as `GET /models/{id}/similar` does).

Printed: build seconds; p50/p99 latency of FAISS and of numpy (`vectors @ q` + argpartition); recall@k of FAISS
against the exact answer (target >= 0.95); the speed ratio numpy p50 / FAISS p50.

Usage: python bench/query_latency.py [--n 100000] [--dim 256] [--queries 500] [--k 10] [--clusters 30]
       [--threads N] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import faiss
import numpy as np

from hubindex.catalog.spaces import HNSW_FROM, build_index


def synthetic(n: int, dim: int, clusters: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim)).astype(np.float32)
    vectors = centers[rng.integers(0, clusters, n)] + rng.normal(scale=0.7, size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 4), "p99_ms": round(float(np.percentile(ms, 99)), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--clusters", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="FAISS OpenMP threads (default: FAISS's)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    vectors = synthetic(args.n, args.dim, args.clusters, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    picks = rng.choice(args.n, args.queries, replace=False)
    queries = vectors[picks] + rng.normal(scale=0.05, size=(args.queries, args.dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)

    started = time.perf_counter()
    index = build_index(vectors, "ip")
    build_s = time.perf_counter() - started

    faiss_times, numpy_times, recalls = [], [], []
    for q in queries:
        t0 = time.perf_counter()
        _, rows = index.search(q[None, :], args.k)
        t1 = time.perf_counter()
        scores = vectors @ q
        top = np.argpartition(-scores, args.k)[: args.k]
        exact = top[np.argsort(-scores[top])]
        t2 = time.perf_counter()
        faiss_times.append(t1 - t0)
        numpy_times.append(t2 - t1)
        recalls.append(len(set(rows[0].tolist()) & set(exact.tolist())) / args.k)
    result = {
        "n": args.n, "dim": args.dim, "queries": args.queries, "k": args.k,
        "index": type(index).__name__ + ("" if args.n >= HNSW_FROM else " (exact below HNSW_FROM)"),
        "build_s": round(build_s, 2), "faiss": percentiles(faiss_times), "numpy": percentiles(numpy_times),
        "recall_at_k": round(float(np.mean(recalls)), 4),
    }
    result["speed_ratio_p50"] = round(result["numpy"]["p50_ms"] / result["faiss"]["p50_ms"], 1)
    result["speed_ratio_p99"] = round(result["numpy"]["p99_ms"] / result["faiss"]["p99_ms"], 1)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.n} vectors, dim {args.dim}, {args.queries} single queries, k={args.k}; index {result['index']} "
          f"built in {result['build_s']} s")
    for name in ("faiss", "numpy"):
        print(f"  {name:5s}  p50 {result[name]['p50_ms']:8.3f} ms   p99 {result[name]['p99_ms']:8.3f} ms")
    print(f"  recall@{args.k} {result['recall_at_k']:.4f} (target >= 0.95); numpy/faiss speed ratio "
          f"p50 {result['speed_ratio_p50']}x, p99 {result['speed_ratio_p99']}x")


if __name__ == "__main__":
    main()
