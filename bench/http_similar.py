"""HTTP latency of `GET /models/{id}/similar` under concurrent clients, over a synthetic catalog of N models.

The catalog is written straight into DuckDB by SQL (N models in `--families` families, each with a random
`--dim`-dimensional Delta Activations row), its delta spaces are built by `hubindex.catalog.spaces.rebuild` (from
50k vectors per family, a fast-scan index re-scored exactly: approximate), and a real `hubindex serve` process
answers on a free loopback port. Before serving, `--recall` random models are searched in the served spaces and by
exact flat search over the same vectors: recall@k and the share of identical answers (ids, scores, order).

Load generator: `wrk` (a C client; Debian package `wrk`) when it is installed, so the clients cost the shared cores
little; else `--clients` keep-alive asyncio streams in this process (`--client asyncio` forces them). Workloads:
- `similar`: each request for a random model of the whole catalog (almost every one a miss of the server's
  answer cache: the delta lookup in memory plus one FAISS search);
- `repeated`: each request for one of `--hot` models (the popular ones: answered from the cache once asked);
- `baseline`: the atlas stylesheet `/static/app.css` (5.6 KB) from the same server, the HTTP stack without the
  catalog, with the ratio /similar : baseline.
Each: p50 with one client, then p50/p99 and throughput with `--clients` clients, non-200 count, and the server
process's CPU per request (from /proc: a number the other processes sharing the cores inflate less than latency).
The load average (1 min) is printed at the start and the end.

Usage: python bench/http_similar.py [--models 100000] [--families 1] [--dim 64] [--clients 32] [--requests 2000]
       [--seconds 10 (wrk)] [--hot 1000] [--recall 300] [--client wrk|asyncio] [--db FILE (reuse/keep the catalog)]
       [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/server.py starts `hubindex serve`

from hubindex.catalog import Catalog
from hubindex.catalog.spaces import Spaces, delta_space, delta_vectors, rebuild
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


WRK_SCRIPT = """
local low, high = {low}, {high}
math.randomseed(0)
request = function()
  local i = math.random(low, high)
  return wrk.format("GET", "/models/org" .. (i % 97) .. "/bench-model-" .. i .. "/similar?k=10")
end
"""


def server_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wrk_ms(text: str) -> float:
    value = float(re.match(r"[0-9.]+", text).group())
    return value * {"us": 1e-3, "ms": 1.0, "s": 1e3}[re.search(r"[a-z]+$", text).group()]


def run_wrk(url: str, clients: int, seconds: float, path: str | None, ids: tuple[int, int] | None) -> dict:
    """One wrk run: a fixed path, or random bench models with ids in [low, high]."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        command = ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
        if ids is not None:
            script.write(WRK_SCRIPT.format(low=ids[0], high=ids[1]))
            script.flush()
            command += ["-s", script.name]
        out = subprocess.run([*command, url + (path or "")], capture_output=True, text=True, check=True).stdout
    count = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"requests": count, "p50_ms": _wrk_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
            "p99_ms": _wrk_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
            "requests_per_s": float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1)),
            "non_200": (int(bad.group(1)) if bad else 0) + (sum(map(int, errors.groups())) if errors else 0)}


def run_asyncio(url: str, clients: int, requests: int, path: str | None, ids: tuple[int, int] | None) -> dict:
    def path_for(_: str) -> str:
        return path if path is not None else similar_path(model_id(random.randint(*ids)))

    started = time.perf_counter()
    latencies, errors = asyncio.run(load(url, ["-"], clients, requests, path_for))
    wall = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {"requests": requests, "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "requests_per_s": requests / wall, "non_200": errors}


def measure(url: str, pid: int, args, path: str | None, ids: tuple[int, int] | None) -> dict:
    """p50 with one client, then p50/p99, throughput and server CPU per request with `args.clients` clients."""
    def run(clients: int) -> dict:
        if args.client == "wrk":
            return run_wrk(url, clients, args.seconds, path, ids)
        return run_asyncio(url, clients, min(args.requests, 500) if clients == 1 else args.requests, path, ids)

    single = run(1)
    cpu = server_cpu_s(pid)
    many = run(args.clients)
    cpu_ms = (server_cpu_s(pid) - cpu) * 1000 / max(many["requests"], 1)
    return {"one_client_p50_ms": round(single["p50_ms"], 2), "p50_ms": round(many["p50_ms"], 2),
            "p99_ms": round(many["p99_ms"], 2), "requests_per_s": round(many["requests_per_s"], 1),
            "non_200": single["non_200"] + many["non_200"], "server_cpu_ms_per_request": round(cpu_ms, 3)}


def index_recall(db: Path, samples: int, k: int) -> dict:
    """The served spaces against exact search over the same vectors, for `samples` models of the whole catalog."""
    rng = np.random.default_rng(0)
    found = same = asked = 0
    # One OpenMP thread, as `hubindex serve` searches: FAISS's exact flat search gives other last bits of the
    # scores on two threads (a blocked kernel), while the served index's re-scoring does not depend on threads.
    faiss.omp_set_num_threads(1)
    with Catalog(db) as catalog:
        spaces = Spaces.open(catalog.spaces_dir)
        by_family = delta_vectors(catalog, "hubindex")
        total = sum(len(members) for members in by_family.values())
        for family, members in by_family.items():
            space = delta_space("hubindex", family)
            ids = spaces.manifest[space]["ids"]
            vectors = np.stack([members[m] for m in ids]).astype(np.float32)
            exact = faiss.IndexFlatIP(vectors.shape[1])
            exact.add(vectors)
            served = spaces._index(space)
            for row in rng.choice(len(ids), max(1, round(samples * len(ids) / total)), replace=False):
                got, want = served.search(vectors[row:row + 1], k), exact.search(vectors[row:row + 1], k)
                found += len(set(got[1][0].tolist()) & set(want[1][0].tolist()))
                same += bool(np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]))
                asked += 1
    return {"recall_at_k": round(found / (asked * k), 4), "identical": round(same / asked, 4), "asked": asked,
            "index": type(served).__name__}


def warm_up(url: str, families: int, models: int) -> None:
    """Until the server answers from memory: the spaces and the delta targets load on the first requests (the
    targets in a background thread), so batches are sent until one is not faster than the batch before."""
    previous = float("inf")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        latencies, _ = asyncio.run(load(url, [model_id(i) for i in range(families, min(models, families + 5000))],
                                        4, 100))
        median = float(np.median(latencies))
        if median >= 0.8 * previous:
            return
        previous = median
        time.sleep(1)


def ask_each(url: str, models: list[str]) -> None:
    """Each model once, four clients at a time."""
    remaining = iter(models)
    asyncio.run(load(url, ["-"], 4, len(models), lambda _: similar_path(next(remaining))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=100_000)
    parser.add_argument("--families", type=int, default=1)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=2000, help="per run, asyncio client")
    parser.add_argument("--seconds", type=int, default=10, help="per run, wrk")
    parser.add_argument("--hot", type=int, default=1000, help="models asked in the repeated workload")
    parser.add_argument("--recall", type=int, default=300, help="models searched for recall@10 (0: skip)")
    parser.add_argument("--client", choices=("wrk", "asyncio"), default="wrk" if shutil.which("wrk") else "asyncio")
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
        recall = index_recall(db, args.recall, 10) if args.recall else None
        server = start_server(db, timeout=300)
        try:
            warm_up(server.url, args.families, args.models)
            last = args.models - 1
            workloads = {"similar": (None, (args.families, last)),
                         "repeated": (None, (args.families, min(last, args.families + args.hot - 1))),
                         "baseline": (BASELINE, None)}
            load_start = os.getloadavg()[0]
            runs = {}
            for name, (path, ids) in workloads.items():
                if name == "repeated":  # the popular models were asked before: their answers are cached
                    ask_each(server.url, [model_id(i) for i in range(ids[0], ids[1] + 1)])
                runs[name] = measure(server.url, server.process.pid, args, path, ids)
            load_end = os.getloadavg()[0]
        finally:
            server.stop()
    result = {"models": args.models, "families": args.families, "dim": args.dim, "clients": args.clients,
              "client": args.client, "catalog_build_s": round(build_s, 1), **runs["similar"],
              "repeated": runs["repeated"], "baseline": runs["baseline"],
              "recall": recall, "load_average_1min": [round(load_start, 1), round(load_end, 1)],
              "ratio_to_baseline": {key: round(runs["similar"][key] / runs["baseline"][key], 2)
                                    for key in ("one_client_p50_ms", "p50_ms", "p99_ms", "requests_per_s",
                                                "server_cpu_ms_per_request") if runs["baseline"][key]}}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.models} models ({args.families} families, dim {args.dim}; catalog written in "
          f"{result['catalog_build_s']} s), {args.clients} clients ({args.client}); load average "
          f"{result['load_average_1min'][0]} -> {result['load_average_1min'][1]}:")
    if recall:
        print(f"  served index {recall['index']}: recall@10 {recall['recall_at_k']} against exact search, identical "
              f"answers {recall['identical']} ({recall['asked']} models)")
    for name, label in (("similar", "/similar?k=10, any model"), ("repeated", f"/similar?k=10, {args.hot} models"),
                        ("baseline", f"{BASELINE} (baseline)")):
        run = runs[name]
        print(f"  {label}: one client p50 {run['one_client_p50_ms']} ms; {args.clients} clients p50 {run['p50_ms']} ms"
              f"   p99 {run['p99_ms']} ms   {run['requests_per_s']} req/s   non-200: {run['non_200']}   server CPU "
              f"{run['server_cpu_ms_per_request']} ms/request")
    ratios = result["ratio_to_baseline"].items()
    print("  /similar (any model) : baseline: " + ", ".join(f"{k} x{v}" for k, v in ratios))


if __name__ == "__main__":
    main()
