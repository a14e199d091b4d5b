"""The query path at hub scale: family linking, `/parents`, `/lineage?family=` and the atlas over a synthetic
catalog of N models (default 1,000,000), each timed.

The catalog is written straight into DuckDB by SQL (no checkpoints): N models in `--families` families, each a fan
from its root; lineage, lineage digests, five stored parent candidates per model (what
`lineage/ranked_parents.py` writes when lineage runs) and a `--dim`-dimensional Delta Activations row per model.
Family linking (`indexer.families.linked_groups`, the part of family assignment that grew with the square of a
layout's models) runs on `--link-models` synthetic sample vectors: tight fans around roots about sqrt(2) apart.

Printed per stage: seconds with the CPU seconds, load average and peak RSS so far (or ms per request, the mean over
`--requests` random models), and for the atlas the
first call and a repeated call through the server's cache, in process and through a real `hubindex serve`. The
machine's load is printed with them, and a baseline
measured in the same run (one model's row, `Catalog.model`, per request) with each query's ratio to it.

Usage: python bench/index_scale.py [--models 1000000] [--families 100] [--link-models 1000000] [--dim 16]
       [--requests 200] [--db FILE (reuse/keep the catalog)] [--no-http]
Linking is sized apart (`--link-models`): its HNSW neighbour search took 257 s for 100k models at load 24, so 1M
wants a quiet machine; the catalog side at 1M peaked at 2.7 GiB (notes wt-core6).
Indexing real model folders end to end (models/min per stage) is bench/index_folders.py.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hubindex.atlas import family_map, forest_json
from hubindex.catalog import Catalog
from hubindex.catalog.cache import AnswerCache
from hubindex.embed.methods import get_method
from hubindex.indexer.families import linked_groups
from hubindex.lineage.queries import entries, parents


def model_id(i: int) -> str:
    return f"org{i % 97}/scale-model-{i}"


def write_catalog(db: Path, models: int, families: int, dim: int) -> None:
    name = "'org' || (i % 97) || '/scale-model-' || i"
    root = f"'org' || ((i % {families}) % 97) || '/scale-model-' || (i % {families})"
    with Catalog(db) as catalog:
        con = catalog.con
        con.execute("SELECT setseed(0.42)")
        con.execute(f"""
            INSERT INTO models (id, revision, source, kind, status, architecture, params, dtype, family, base,
                                base_source, tags, created_at, indexed_at)
            SELECT {name}, 'rev' || i, 'bench', 'model', 'indexed', 'LlamaForCausalLM', 1000000, 'F32', {root},
                   {root}, 'weights', ['bench', 'domain' || (i % 10)],
                   (TIMESTAMP '2024-01-01' + to_seconds(i))::TIMESTAMP, now()::TIMESTAMP
            FROM range({models}) t(i)""")
        con.execute(f"""
            INSERT INTO lineage SELECT {name}, {root},
                   CASE WHEN i < {families} THEN []::VARCHAR[] ELSE [{root}] END,
                   CASE WHEN i < {families} THEN 'root' ELSE 'finetune' END, 0.9, '{{}}'
            FROM range({models}) t(i)""")
        con.execute(f"INSERT INTO lineage_families SELECT {root}, 'synthetic', {models // families}, 0, now() "
                    f"FROM range({families}) t(i)")
        con.execute(f"INSERT INTO parent_rankings SELECT {root}, 'synthetic' FROM range({families}) t(i)")
        con.execute(f"""
            INSERT INTO parent_candidates
            SELECT {name}, {root}, r, CASE WHEN r = 0 THEN {root} ELSE 'org' || ((i + r) % 97) || '/scale-model-' ||
                   (i + r * {families}) % {models} END, 1.0 / (r + 1), r * 0.1, r = 0, '{{"synthetic": true}}'
            FROM range({families}, {models}) t(i), range(5) s(r)
            ORDER BY 1, 3""")
        con.execute(f"""
            INSERT INTO embeddings
            SELECT {name}, 'hubindex', 'rev' || i, {root}, 'rev' || (i % {families}), vector,
                   sqrt(list_sum(list_transform(vector, lambda x: x * x))), '{get_method("hubindex").recipe}'
            FROM (SELECT i, list_transform(range({dim}), lambda x: (random() - 0.5 + (i % 10 = x % 10)::INT)::FLOAT)
                  AS vector FROM range({families}, {models}) t(i))""")


def fans(n: int, families: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    """Sample vectors of n models in tight fans (finetunes a few percent from their root), roots independent."""
    rng = np.random.default_rng(seed)
    roots = rng.normal(size=(families, dim)).astype(np.float32)
    members = rng.integers(0, families, size=n)
    return roots[members] + rng.normal(scale=0.03, size=(n, dim)).astype(np.float32)


def peak_memory() -> str:
    """This process's peak resident memory so far (Linux: ru_maxrss in KiB)."""
    return f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB"


def timed(label: str, call, results: dict) -> object:
    started, cpu = time.perf_counter(), time.process_time()
    value = call()
    results[label] = time.perf_counter() - started
    print(f"  {label}: {results[label]:.3f} s (CPU {time.process_time() - cpu:.3f} s, load "
          f"{os.getloadavg()[0]:.1f}, {peak_memory()})", flush=True)
    return value


def per_request(label: str, call, ids: list[str], requests: int, results: dict) -> None:
    started = time.perf_counter()
    for _ in range(requests):
        call(random.choice(ids))
    results[label] = (time.perf_counter() - started) / requests * 1000
    print(f"  {label}: {results[label]:.2f} ms per request (load {os.getloadavg()[0]:.1f})", flush=True)


def atlas_over_http(db: Path, family: str, results: dict) -> None:
    """The atlas answers through a real `hubindex serve` (its own answer cache): first call, then the mean of five
    repeated calls, each the whole HTTP exchange with the JSON body read."""
    import httpx

    from tests.server import start_server

    server = start_server(db, timeout=600)
    try:
        with httpx.Client(base_url=server.url, timeout=600) as http:
            for path, params in (("/atlas/forest", {}), ("/atlas/map", {"family": family})):
                timed(f"HTTP {path} first", lambda p=path, q=params: http.get(p, params=q).raise_for_status(), results)
                started = time.perf_counter()
                for _ in range(5):
                    size = len(http.get(path, params=params).raise_for_status().content)
                results[f"HTTP {path} cached"] = (time.perf_counter() - started) / 5
                print(f"  HTTP {path} cached: {results[f'HTTP {path} cached']:.3f} s ({size / 1e6:.1f} MB)")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=1_000_000)
    parser.add_argument("--families", type=int, default=100)
    parser.add_argument("--link-models", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--no-http", dest="http", action="store_false", help="skip the atlas through a server")
    args = parser.parse_args()
    random.seed(0)
    results: dict[str, float] = {}
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    vectors = fans(args.link_models, args.families)
    groups = timed(f"family linking, {args.link_models} models", lambda: linked_groups(vectors), results)
    print(f"    {len(groups)} families found ({args.families} planted)")
    with tempfile.TemporaryDirectory(prefix="hubindex-scale-") as scratch:
        db = args.db or Path(scratch) / "scale.duckdb"
        if not db.exists():
            timed(f"catalog written, {args.models} models", lambda: write_catalog(db, args.models, args.families,
                                                                                  args.dim), results)
        ids = [model_id(i) for i in range(args.families, args.models)]
        with Catalog(db) as catalog:
            per_request("baseline: one model row", catalog.model, ids, args.requests, results)
            per_request("/parents (stored)", lambda m: parents(catalog, m, 5), ids, args.requests, results)
            family = model_id(0)
            found = timed("/lineage?family= (one family)", lambda: entries(catalog, family), results)
            print(f"    {len(found)} entries")
            timed("catalog state digest (no longer on the cached path)", catalog.state_digest, results)
            # The atlas on one OpenMP thread, as `hubindex serve` runs FAISS (on a loaded machine FAISS's threads
            # spin waiting for a core: the map's k-means on two threads was many times slower).
            faiss.omp_set_num_threads(1)
            cache = AnswerCache()
            for attempt in ("first", "cached"):
                timed(f"/atlas/forest {attempt}",
                      lambda: cache.json(catalog, ("forest",), lambda: forest_json(catalog)), results)
            for attempt in ("first", "cached"):
                timed(f"/atlas/map {attempt}",
                      lambda: cache.json(catalog, ("map", family),
                                         lambda: family_map(catalog, family).model_dump_json()), results)
        if args.http:
            atlas_over_http(db, family, results)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    base = results["baseline: one model row"] / 1000  # seconds, as the timed stages
    for label in ("/parents (stored)", "/lineage?family= (one family)", "/atlas/forest cached", "/atlas/map cached",
                  *(["HTTP /atlas/forest cached", "HTTP /atlas/map cached"] if args.http else [])):
        value = results[label] / 1000 if label.startswith("/parents") else results[label]
        print(f"  {label} : baseline = x{value / base:.1f}")


if __name__ == "__main__":
    main()
