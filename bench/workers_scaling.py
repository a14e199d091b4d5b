"""Models per minute: in-process `hubindex index` vs the queue with 1 and 2 worker processes, same zoo.

Each mode indexes the zoo into a fresh catalog (fingerprints, bases, Delta Activations with the default method,
lineage, FAISS). Queue modes start a throwaway redis-server, one catalog owner (`hubindex worker --queues ingest`)
and N `hubindex worker --queues cpu,gpu` processes, wait until they are ready, then time `hubindex index --queue`
from submission to the owner finishing the run. Ratios are against the in-process run of this same invocation.
Worker start-up (imports, ~5 s each) is not timed; it is paid once per worker, not per run.

Usage: python bench/workers_scaling.py [--zoo PATH] [--workers 1,2] [--threads N] [--json]
       (without --zoo a tiny zoo, seed 7, is built into a temporary folder first)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis
from hubindex.workers.local_redis import start_redis

from hubindex.embed.methods import DEFAULT_METHOD
from hubindex.indexer.pipeline import index_paths

HUBINDEX = str(Path(sys.executable).with_name("hubindex"))


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def queued(zoo: Path, workers: int, work: Path, env: dict[str, str]) -> tuple[float, int]:
    proc, url = start_redis(work)
    env = {**env, "HUBINDEX_BROKER_URL": url}
    db = work / f"queued-{workers}.duckdb"
    logs = [work / f"worker-{workers}-{i}.log" for i in range(workers)]
    procs = [subprocess.Popen([HUBINDEX, "worker", "--queues", "ingest", "--db", str(db)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    procs += [subprocess.Popen([HUBINDEX, "worker", "--queues", "cpu,gpu", "--loglevel", "info"], env=env,
                               stdout=log.open("w"), stderr=subprocess.STDOUT) for log in logs]
    try:
        r = redis.Redis.from_url(url)
        _wait(lambda: r.keys("hubindex:owner:*"), 120, "the catalog owner")
        _wait(lambda: all(" ready." in log.read_text() for log in logs), 120, "the workers")
        out = subprocess.run([HUBINDEX, "index", str(zoo), "--db", str(db), "--queue", "--wait", "--json"], env=env,
                             capture_output=True, text=True, check=True)
        report = json.loads(out.stdout)
        return report["seconds"], report["seen"]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(60)
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", type=Path)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--threads", type=int, help="torch/OpenMP threads per process (default: library default)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
        import torch

        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="hubindex-workers-bench-") as tmp:
        work = Path(tmp)
        zoo = args.zoo
        if zoo is None:
            from hubindex.zoo.build import ZooOptions, build_zoo

            zoo = work / "zoo"
            build_zoo(zoo, ZooOptions(seed=7, size="tiny"), jobs=2)
        started = time.perf_counter()
        report = index_paths(work / "inprocess.duckdb", [zoo], [DEFAULT_METHOD], quiet=True)
        rows = [{"mode": "in-process", "workers": 0, "seconds": time.perf_counter() - started,
                 "models": report.seen}]
        for n in (int(x) for x in args.workers.split(",")):
            seconds, models = queued(zoo, n, work, env)
            rows.append({"mode": "queue", "workers": n, "seconds": seconds, "models": models})
    base = rows[0]["models"] / rows[0]["seconds"]
    for row in rows:
        row["models_per_minute"] = round(60 * row["models"] / row["seconds"], 1)
        row["vs_in_process"] = round(row["models"] / row["seconds"] / base, 2)
        row["seconds"] = round(row["seconds"], 1)
    if args.json:
        print(json.dumps({"cpus": os.cpu_count(), "rows": rows}, indent=2))
        return
    print(f"{'mode':<12}{'workers':>8}{'models':>8}{'seconds':>9}{'models/min':>12}{'x in-process':>14}"
          f"   ({os.cpu_count()} CPUs)")
    for row in rows:
        print(f"{row['mode']:<12}{row['workers']:>8}{row['models']:>8}{row['seconds']:>9}"
              f"{row['models_per_minute']:>12}{row['vs_in_process']:>14}")


if __name__ == "__main__":
    main()
