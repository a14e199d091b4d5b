"""Nearest-neighbour query latency at hub scale: the FAISS index hubindex builds for a space vs exact numpy search,
measured in the same run on the same vectors and queries.

Vectors imitate a Delta Activations space: `--clusters` domain directions plus per-model noise, unit length, inner
product (cosine). The FAISS index is the one `hubindex.catalog.spaces.build_index` builds (exact flat below
HNSW_FROM vectors, HNSW with M=32, efSearch=EF_SEARCH beyond). Each query is one model's vector with a small
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
    parser.add_argument("--ef", default=None, help="HNSW efSearch values to compare on the same index, e.g. "
                        "128,256 (default: the one hubindex builds with)")
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

    numpy_times, exact = [], []
    for q in queries:
        t0 = time.perf_counter()
        scores = vectors @ q
        top = np.argpartition(-scores, args.k)[: args.k]
        exact.append(set(top[np.argsort(-scores[top])].tolist()))
        numpy_times.append(time.perf_counter() - t0)
    hnsw = hasattr(index, "hnsw")
    efs = [int(e) for e in args.ef.split(",")] if args.ef and hnsw else [index.hnsw.efSearch if hnsw else None]
    runs = []
    for ef in efs:
        if ef is not None:
            index.hnsw.efSearch = ef
        faiss_times, recalls = [], []
        for q, truth in zip(queries, exact, strict=True):
            t0 = time.perf_counter()
            _, rows = index.search(q[None, :], args.k)
            faiss_times.append(time.perf_counter() - t0)
            recalls.append(len(set(rows[0].tolist()) & truth) / args.k)
        run = {"ef_search": ef, **percentiles(faiss_times), "recall_at_k": round(float(np.mean(recalls)), 4)}
        run["speed_ratio_p50"] = round(float(np.percentile(numpy_times, 50)) * 1000 / run["p50_ms"], 1)
        run["speed_ratio_p99"] = round(float(np.percentile(numpy_times, 99)) * 1000 / run["p99_ms"], 1)
        runs.append(run)
    result = {
        "n": args.n, "dim": args.dim, "queries": args.queries, "k": args.k,
        "index": type(index).__name__ + ("" if args.n >= HNSW_FROM else " (exact below HNSW_FROM)"),
        "build_s": round(build_s, 2), "numpy": percentiles(numpy_times), "faiss": runs,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.n} vectors, dim {args.dim}, {args.queries} single queries, k={args.k}; index {result['index']} "
          f"built in {result['build_s']} s")
    print(f"  numpy exact      p50 {result['numpy']['p50_ms']:8.3f} ms   p99 {result['numpy']['p99_ms']:8.3f} ms")
    for run in runs:
        label = f"faiss ef={run['ef_search']}" if run["ef_search"] else "faiss"
        print(f"  {label:15s}  p50 {run['p50_ms']:8.3f} ms   p99 {run['p99_ms']:8.3f} ms   recall@{args.k} "
              f"{run['recall_at_k']:.4f} (target >= 0.95)   numpy/faiss p50 {run['speed_ratio_p50']}x, "
              f"p99 {run['speed_ratio_p99']}x")


if __name__ == "__main__":
    main()
