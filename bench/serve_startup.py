"""Time from launching `hubindex serve` to its first successful HTTP answer (`GET /health` 200).

Each round starts a fresh `hubindex serve` process on a free loopback port over the same catalog (by default an
empty one made for the run; `--db FILE` serves a copy of yours) and polls `/health` every 10 ms until it answers
200; then the server is stopped. The baseline, measured in the same run and interleaved with the server rounds, is
a bare interpreter start (`python -c pass`), so the ratio says what hubindex adds on this machine at its current
load. CPU seconds (user + system of the measured process until it answered) are printed beside the wall time: on
a loaded shared machine they show what the start costs without the wait for a core. Also printed: the import of
the API app alone (`python -c "import hubindex.api.app"`), and whether that import pulled in torch, transformers or
peft (it must not: they load when a route that needs them runs).

Target (issue 18): ready in <= 3 s.

Usage: python bench/serve_startup.py [--rounds 5] [--db FILE] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("torch", "transformers", "peft")
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc): what the start costs whatever the load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve_once(db: Path, timeout: float = 300) -> tuple[float, float]:
    """(wall seconds from Popen to the first 200 from /health, CPU seconds the server used until then)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBINDEX_")}  # no stray broker or roots
    started = time.perf_counter()
    process = subprocess.Popen([str(BIN / "hubindex"), "serve", "--db", str(db), "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while time.perf_counter() - started < timeout:
            if process.poll() is not None:
                raise RuntimeError(f"hubindex serve exited {process.returncode}: {process.stderr.read().decode()}")
            if answers(port):
                return time.perf_counter() - started, cpu_seconds(process.pid)
            time.sleep(0.01)
        raise RuntimeError(f"hubindex serve did not answer within {timeout} s")
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def python_once(code: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of `python -c code`."""
    before = os.times()
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    wall, after = time.perf_counter() - started, os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def heavy_imports_of_api() -> list[str]:
    code = f"import sys, hubindex.api.app; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db", type=Path, help="serve a copy of this catalog (default: an empty one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="serve-startup-") as tmp:
        db = Path(tmp) / "bench.duckdb"
        if args.db:
            shutil.copy2(args.db, db)
            spaces = args.db.with_name(args.db.name + ".faiss")
            if spaces.exists():
                shutil.copytree(spaces, db.with_name(db.name + ".faiss"))
        else:
            make = f"from hubindex.catalog import Catalog; Catalog({str(db)!r}).close()"
            subprocess.run([sys.executable, "-c", make], check=True)
        load_before = os.getloadavg()
        times: dict[str, list[tuple[float, float]]] = {"python -c pass": [], "import hubindex.api.app": [],
                                                       "hubindex serve": []}
        for _ in range(args.rounds):  # interleaved, so load changes hit every measure alike
            times["python -c pass"].append(python_once("pass"))
            times["import hubindex.api.app"].append(python_once("import hubindex.api.app"))
            times["hubindex serve"].append(serve_once(db))
        load_after = os.getloadavg()
        heavy = heavy_imports_of_api()

    baseline = statistics.median(wall for wall, _ in times["python -c pass"])
    result: dict = {}
    for name, runs in times.items():
        walls, cpus = [w for w, _ in runs], [c for _, c in runs]
        result[name] = {"median_s": round(statistics.median(walls), 3), "min_s": round(min(walls), 3),
                        "cpu_median_s": round(statistics.median(cpus), 3),
                        "ratio_to_python": round(statistics.median(walls) / baseline, 1)}
    result["rounds"] = args.rounds
    result["load_average_1min"] = [round(load_before[0], 2), round(load_after[0], 2)]
    result["cores"] = os.cpu_count()
    result["heavy_modules_imported_by_api"] = heavy
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.rounds} rounds, {os.cpu_count()} cores, load average (1 min) {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after")
    for name in times:
        row = result[name]
        print(f"  {name:26s} median {row['median_s']:7.3f} s  min {row['min_s']:7.3f} s  "
              f"(CPU {row['cpu_median_s']:.3f} s)  x{row['ratio_to_python']} of python -c pass")
    print(f"  torch/transformers/peft imported by the API app: {', '.join(heavy) or 'none'}")
    print(f"  ready in <= 3 s: {'yes' if result['hubindex serve']['median_s'] <= 3 else 'no'} (median)")


if __name__ == "__main__":
    main()
