"""Nearest-neighbour query latency at hub scale: the FAISS index hubindex builds for a space vs exact numpy search,
measured in the same run on the same vectors and queries.

Vectors imitate a Delta Activations space: `--clusters` domain directions plus per-model noise (or, with
`--uniform`, uniform in a cube: no structure, the hardest case and what bench/http_similar.py writes), unit length,
inner product (cosine). The FAISS index is the one `hubindex.catalog.spaces.build_index` builds (exact flat below
LARGE_FROM vectors; beyond, fast-scan PQ re-scored exactly up to SCAN_DIM_MAX dimensions, HNSW wider). Each query
is one model's vector with a small perturbation, searched one at a time (as `GET /models/{id}/similar` does).

Printed: build seconds; p50/p99 latency of exact FAISS flat search (the baseline), of numpy (`vectors @ q` +
argpartition) and of the index; recall@k of the index against the exact answer (target >= 0.99) and the share of
queries answered identically (same ids, same scores, same order); the speed ratio flat p50 / index p50.

Usage: python bench/query_latency.py [--n 100000] [--dim 64] [--queries 500] [--k 10] [--clusters 30] [--uniform]
       [--refine 20,50] [--ef 128,256] [--hnsw (also the HNSW index used before)] [--threads N] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import faiss
import numpy as np

from hubindex.catalog.spaces import EF_SEARCH, LARGE_FROM, build_index


def synthetic(n: int, dim: int, clusters: int, seed: int, uniform: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if uniform:
        vectors = rng.random((n, dim), dtype=np.float32) - 0.5
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    centers = rng.normal(size=(clusters, dim)).astype(np.float32)
    vectors = centers[rng.integers(0, clusters, n)] + rng.normal(scale=0.7, size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 4), "p99_ms": round(float(np.percentile(ms, 99)), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--clusters", type=int, default=30)
    parser.add_argument("--uniform", action="store_true", help="uniform vectors instead of clusters")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="FAISS OpenMP threads (default 1, as `hubindex serve` "
                        "searches; exact flat search gives other last bits of the scores on several threads)")
    parser.add_argument("--ef", default=None, help="HNSW efSearch values to compare on the same index, e.g. "
                        "128,256 (default: the one hubindex builds with)")
    parser.add_argument("--refine", default=None, help="re-scoring factors to compare on the same fast-scan index, "
                        "e.g. 20,50 (default: the one hubindex builds with)")
    parser.add_argument("--hnsw", action="store_true", help="also build the HNSW index large delta spaces had "
                        "before (M 32, efSearch EF_SEARCH) and measure it on the same queries")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    vectors = synthetic(args.n, args.dim, args.clusters, args.seed, args.uniform)
    rng = np.random.default_rng(args.seed + 1)
    picks = rng.choice(args.n, args.queries, replace=False)
    queries = vectors[picks] + rng.normal(scale=0.05, size=(args.queries, args.dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)

    started = time.perf_counter()
    index = build_index(vectors, "ip")
    build_s = time.perf_counter() - started
    flat = faiss.IndexFlatIP(args.dim)
    flat.add(vectors)

    numpy_times = []
    for q in queries:
        t0 = time.perf_counter()
        scores = vectors @ q
        top = np.argpartition(-scores, args.k)[: args.k]
        top[np.argsort(-scores[top])]
        numpy_times.append(time.perf_counter() - t0)
    flat_times, exact = timed_search(flat, queries, args.k)
    hnsw = hasattr(index, "hnsw")
    refined = hasattr(index, "k_factor")
    if hnsw:
        settings = [int(e) for e in args.ef.split(",")] if args.ef else [index.hnsw.efSearch]
    elif refined:
        settings = [int(f) for f in args.refine.split(",")] if args.refine else [int(index.k_factor)]
    else:
        settings = [None]
    flat_p50 = float(np.percentile(flat_times, 50)) * 1000
    runs = []
    for setting in settings:
        if hnsw:
            index.hnsw.efSearch = setting
        elif refined:
            index.k_factor = setting
        times, answers = timed_search(index, queries, args.k)
        runs.append({"ef_search" if hnsw else "refine": setting, **scored(times, answers, exact, flat_p50)})
    if args.hnsw:
        started = time.perf_counter()
        graph = faiss.IndexHNSWFlat(args.dim, 32, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efSearch = EF_SEARCH
        graph.add(vectors)
        hnsw_build_s = time.perf_counter() - started
        times, answers = timed_search(graph, queries, args.k)
        runs.append({"hnsw_before": EF_SEARCH, "build_s": round(hnsw_build_s, 1),
                     **scored(times, answers, exact, flat_p50)})
    result = {
        "n": args.n, "dim": args.dim, "data": "uniform" if args.uniform else f"{args.clusters} clusters",
        "queries": args.queries, "k": args.k,
        "index": type(index).__name__ + ("" if args.n >= LARGE_FROM else " (exact below LARGE_FROM)"),
        "build_s": round(build_s, 2), "flat": percentiles(flat_times), "numpy": percentiles(numpy_times),
        "faiss": runs,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.n} vectors ({result['data']}), dim {args.dim}, {args.queries} single queries, k={args.k}; index "
          f"{result['index']} built in {result['build_s']} s")
    for name in ("flat", "numpy"):
        print(f"  {name + ' exact':22s} p50 {result[name]['p50_ms']:8.3f} ms   p99 {result[name]['p99_ms']:8.3f} ms")
    for run in runs:
        key = "ef_search" if hnsw else "refine"
        label = f"index {key}={run[key]}" if run.get(key) else "index"
        if "hnsw_before" in run:
            label = f"HNSW ef={run['hnsw_before']} (before)"
        print(f"  {label:22s} p50 {run['p50_ms']:8.3f} ms   p99 {run['p99_ms']:8.3f} ms   recall@{args.k} "
              f"{run['recall_at_k']:.4f} (target >= 0.99)   identical {run['identical']:.4f}   flat/index p50 "
              f"{run['flat_over_index_p50']}x")


def scored(times: list[float], answers: list, exact: list, flat_p50_ms: float) -> dict:
    """Latency, recall@k against exact search, the share of identical answers (ids, scores, order), speed-up."""
    k = len(exact[0][1])
    pairs = list(zip(answers, exact, strict=True))
    recall = np.mean([len(set(a[1].tolist()) & set(b[1].tolist())) / k for a, b in pairs])
    identical = np.mean([np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in pairs])
    run = {**percentiles(times), "recall_at_k": round(float(recall), 4), "identical": round(float(identical), 4)}
    return {**run, "flat_over_index_p50": round(flat_p50_ms / run["p50_ms"], 1)}


def timed_search(index, queries: np.ndarray, k: int) -> tuple[list[float], list[tuple[np.ndarray, np.ndarray]]]:
    """One query at a time: seconds each, and (scores, rows) each."""
    times, answers = [], []
    for q in queries:
        t0 = time.perf_counter()
        scores, rows = index.search(q[None, :], k)
        times.append(time.perf_counter() - t0)
        answers.append((scores[0], rows[0]))
    return times, answers


if __name__ == "__main__":
    main()
