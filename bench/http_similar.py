"""HTTP latency of `GET /models/{id}/similar` under concurrent clients, over a synthetic catalog of N models.

The catalog is written straight into DuckDB by SQL (N models in `--families` families, each with a random
`--dim`-dimensional Delta Activations row), its delta spaces are built by `hubindex.catalog.spaces.rebuild` (HNSW
from 50k vectors per family), and a real `hubindex serve` process answers on a free loopback port. `--clients`
concurrent keep-alive clients (asyncio streams) send `--requests` requests in all, each for a random model's k=10
nearest.

Printed: p50 latency with one client, then p50/p99 latency seen by the clients, throughput, non-200 count, and the
same for a baseline measured in the same run against the same server: a 5.6 KB static file (`/static/app.css`,
the HTTP stack without the catalog), with the ratio /similar : baseline. Clients and server share this machine's
cores, so the numbers include that contention; the load average (1 min) is printed at the start and the end.

Usage: python bench/http_similar.py [--models 100000] [--families 1] [--dim 64] [--clients 32] [--requests 2000]
       [--db FILE (reuse/keep the synthetic catalog)] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/server.py starts `hubindex serve`

from hubindex.catalog import Catalog
from hubindex.catalog.spaces import rebuild
from hubindex.embed.methods import get_method
from tests.server import start_server


def model_id(i: int) -> str:
    return f"org{i % 97}/bench-model-{i}"


def write_catalog(db: Path, models: int, families: int, dim: int) -> None:
    with Catalog(db) as catalog:
        con = catalog.con
        con.execute("SELECT setseed(0.42)")
        # Roots first (ids 0..families-1), every model points at root (i % families).
        con.execute(f"""
            INSERT INTO models (id, revision, source, kind, status, architecture, params, dtype, family, base,
                                base_source, tags, created_at, indexed_at)
            SELECT 'org' || (i % 97) || '/bench-model-' || i, 'rev' || i, 'bench', 'model', 'indexed',
                   'LlamaForCausalLM', 1000000, 'F32', 'org' || ((i % {families}) % 97) || '/bench-model-'
                   || (i % {families}), 'org' || ((i % {families}) % 97) || '/bench-model-' || (i % {families}),
                   'weights', ['bench'], now()::TIMESTAMP, now()::TIMESTAMP
            FROM range({models}) t(i)""")
        con.execute(f"""
            INSERT INTO embeddings
            SELECT model_id, 'hubindex', revision, base, 'rev0', vector,
                   sqrt(list_sum(list_transform(vector, lambda x: x * x))), '{get_method("hubindex").recipe}'
            FROM (SELECT 'org' || (i % 97) || '/bench-model-' || i AS model_id, 'rev' || i AS revision,
                         'org' || ((i % {families}) % 97) || '/bench-model-' || (i % {families}) AS base,
                         list_transform(range({dim}), lambda x: (random() - 0.5)::FLOAT) AS vector
                  FROM range({families}, {models}) t(i))""")
        rebuild(catalog, weights=False)


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> int:
    """One keep-alive HTTP/1.1 GET; returns the status. A client this small costs the shared cores little, so the
    numbers are the server's (httpx spends about a millisecond of CPU per request)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])


BASELINE = "/static/app.css"  # the atlas page's stylesheet, 5.6 KB


def similar_path(model: str) -> str:
    return f"/models/{model}/similar?k=10"


async def load(url: str, ids: list[str], clients: int, requests: int,
               path_for=similar_path) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    remaining = iter(range(requests))
    host, port = url.removeprefix("http://").split(":")

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for _ in remaining:
                model = random.choice(ids)
                started = time.perf_counter()
                status = await _get(reader, writer, path_for(model))
                latencies.append(time.perf_counter() - started)
                errors += status != 200
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=100_000)
    parser.add_argument("--families", type=int, default=1)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    random.seed(0)
    with tempfile.TemporaryDirectory(prefix="hubindex-http-bench-") as scratch:
        db = args.db or Path(scratch) / "bench.duckdb"
        started = time.perf_counter()
        if not db.exists():
            write_catalog(db, args.models, args.families, args.dim)
        build_s = time.perf_counter() - started
        server = start_server(db, timeout=300)
        try:
            ids = [model_id(i) for i in range(args.families, args.models)]
            asyncio.run(load(server.url, ids[:200], args.clients, 2 * args.clients))  # warm-up: indexes loaded
            load_start = os.getloadavg()[0]
            runs = {name: measure(server.url, ids, args.clients, args.requests, path_for)
                    for name, path_for in (("similar", similar_path), ("baseline", lambda _: BASELINE))}
            load_end = os.getloadavg()[0]
        finally:
            server.stop()
    result = {"models": args.models, "families": args.families, "dim": args.dim, "clients": args.clients,
              "requests": args.requests, "catalog_build_s": round(build_s, 1), **runs["similar"],
              "baseline": runs["baseline"], "load_average_1min": [round(load_start, 1), round(load_end, 1)],
              "ratio_to_baseline": {key: round(runs["similar"][key] / runs["baseline"][key], 2)
                                    for key in ("one_client_p50_ms", "p50_ms", "p99_ms", "requests_per_s")
                                    if runs["baseline"][key]}}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.models} models ({args.families} families, dim {args.dim}; catalog written in "
          f"{result['catalog_build_s']} s), {args.clients} clients, {args.requests} requests each; load average "
          f"{result['load_average_1min'][0]} -> {result['load_average_1min'][1]}:")
    for name, label in (("similar", "/similar?k=10"), ("baseline", f"{BASELINE} (baseline)")):
        run = runs[name]
        print(f"  {label}: one client p50 {run['one_client_p50_ms']} ms; {args.clients} clients p50 {run['p50_ms']} ms"
              f"   p99 {run['p99_ms']} ms   {run['requests_per_s']} req/s   non-200: {run['non_200']}")
    print("  /similar : baseline: " + ", ".join(f"{k} x{v}" for k, v in result["ratio_to_baseline"].items()))


def measure(url: str, ids: list[str], clients: int, requests: int, path_for) -> dict:
    """p50 with one client, then p50/p99 and throughput with `clients` clients."""
    single, _ = asyncio.run(load(url, ids, 1, min(requests, 500), path_for))
    started = time.perf_counter()
    latencies, errors = asyncio.run(load(url, ids, clients, requests, path_for))
    wall = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {"one_client_p50_ms": round(float(np.percentile(np.asarray(single) * 1000, 50)), 2),
            "p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "requests_per_s": round(requests / wall, 1), "non_200": errors}


if __name__ == "__main__":
    main()
