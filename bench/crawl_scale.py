"""Metadata crawl at hub scale: repos/s into the catalog and RSS over time, and resume after SIGKILL.

    .venv/bin/python bench/crawl_scale.py [--count 1000000] [--kill-at N] [--page-size 1000] [--compare]

The hub is tests/hub_server.py in its own process with `--synthetic COUNT` (listing pages generated on demand, so a
million repos cost it no memory). The crawl runs in a child process (`hubindex.hub.crawl.crawl(...,
metadata_only=True)`, the code behind `hubindex crawl --metadata-only`), which reports after each recorded page;
this process samples the child's RSS from /proc. With --kill-at N the child is SIGKILLed once N repos are recorded
and a second child resumes from the stored listing cursor; at the end the catalog is checked: every repo exactly once.

Prints one line per ~10 % (repos, repos/s overall and recent, RSS MiB), then a JSON summary: wall rate, the
crawler's CPU inside crawl() and the hub's (the rate two idle cores sustain follows from them on a loaded machine),
and the load average. --compare first crawls the same listing without reading pages ahead (the baseline) in the
same run. Targets (issue 16): >= 1,000 repos/s on 2 cores, RSS flat after the first 10k.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used so far (/proc/PID/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def child(db: str, endpoint: str, read_ahead: bool) -> None:
    """The crawl itself: prints `count seconds cpu-seconds` after each page."""
    os.environ["HF_HUB_OFFLINE"] = "0"
    from hubindex.hub import crawl as crawl_module
    from hubindex.hub.crawl import crawl
    from hubindex.hub.source import CrawlQuery, HubSource, go_online

    if not read_ahead:  # the baseline of --compare: each page requested only after the one before is recorded
        crawl_module.read_ahead = iter

    go_online()
    started, cpu = time.perf_counter(), time.process_time()

    def on_page(count: int) -> None:
        print(f"{count} {time.perf_counter() - started:.3f} {time.process_time() - cpu:.3f}", flush=True)

    report = crawl(Path(db), CrawlQuery(), HubSource(endpoint=endpoint), metadata_only=True, on_page=on_page)
    print(f"done {report.listed} {report.resumed_from} {report.seconds} {time.process_time() - cpu:.2f}", flush=True)


def start_hub(count: int, page_size: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.hub_server", "--synthetic", str(count), "--page-size",
                             str(page_size)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def run_child(db: Path, endpoint: str, count: int, kill_at: int | None, samples: list[dict],
              read_ahead: bool = True) -> dict:
    """Run one crawl child to completion (or SIGKILL it at `kill_at`); append (repos, seconds, rss) samples."""
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(db), endpoint]
                            + ([] if read_ahead else ["--no-read-ahead"]), cwd=ROOT, stdout=subprocess.PIPE, text=True)
    step = max(1, count // 10)
    next_print, last = step, (0, 0.0, 0.0)
    result: dict = {"killed": False}
    for line in proc.stdout:
        parts = line.split()
        if parts[0] == "done":
            result.update(listed=int(parts[1]), resumed_from=int(parts[2]), seconds=float(parts[3]),
                          crawl_cpu_s=float(parts[4]))
            continue
        repos, seconds, cpu = int(parts[0]), float(parts[1]), float(parts[2])
        sample = {"repos": repos, "seconds": seconds, "cpu_s": cpu, "rss_mib": round(rss_mib(proc.pid), 1)}
        samples.append(sample)
        if repos >= next_print:
            recent = (repos - last[0]) / max(1e-9, seconds - last[1])
            # The crawler's own CPU per 1,000 repos since the last line: grows if the catalog slows with its size.
            cost = (cpu - last[2]) / max(1, repos - last[0]) * 1e6
            print(f"{repos:>9,} repos  {repos / max(seconds, 1e-9):>8,.0f}/s overall  {recent:>8,.0f}/s recent  "
                  f"crawler CPU {cost:>5.0f} ms per 1k  RSS {sample['rss_mib']:.0f} MiB  load {os.getloadavg()[0]:.1f}",
                  flush=True)
            next_print, last = next_print + step, (repos, seconds, cpu)
        if kill_at is not None and repos >= kill_at:
            os.kill(proc.pid, signal.SIGKILL)
            result.update(killed=True, killed_at=repos, seconds=seconds)
            break
    _, _, usage = os.wait4(proc.pid, 0)  # the child's own CPU time: a rate that does not depend on other load
    proc.returncode = 0
    result["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 1)
    return result


def check(db: Path, count: int) -> dict:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    rows, distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM hub_models").fetchone()
    cursors = con.execute("SELECT count(*) FROM hub_crawl_cursors").fetchone()[0]
    con.close()
    return {"rows": rows, "distinct": distinct, "expected": count, "cursors_left": cursors,
            "ok": rows == distinct == count and cursors == 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--kill-at", type=int)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--compare", action="store_true",
                        help="first crawl the same listing without reading pages ahead (baseline), then as usual")
    parser.add_argument("--child", nargs=2, metavar=("DB", "ENDPOINT"))
    parser.add_argument("--no-read-ahead", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, read_ahead=not args.no_read_ahead)
        return
    hub, endpoint = start_hub(args.count, args.page_size)
    samples: list[dict] = []
    baseline = None
    try:
        with tempfile.TemporaryDirectory(prefix="crawl-scale-") as tmp:
            if args.compare:
                print("baseline: no read-ahead", flush=True)
                before = cpu_seconds(hub.pid)
                baseline = run_child(Path(tmp) / "baseline.duckdb", endpoint, args.count, None, [], read_ahead=False)
                baseline.update(hub_cpu_s=round(cpu_seconds(hub.pid) - before, 1),
                                repos_per_s=round(args.count / baseline["seconds"]))
                (Path(tmp) / "baseline.duckdb").unlink()
                print("read-ahead (as crawl runs)", flush=True)
            hub_before = cpu_seconds(hub.pid)
            db = args.db or Path(tmp) / "scale.duckdb"
            started = time.perf_counter()
            runs = [run_child(db, endpoint, args.count, args.kill_at, samples)]
            if runs[0]["killed"]:
                runs.append(run_child(db, endpoint, args.count, None, samples))
            wall = time.perf_counter() - started
            verdict = check(db, args.count)
        hub_cpu = cpu_seconds(hub.pid) - hub_before
    finally:
        hub.terminate()
        hub.wait(10)
    after_10k = [s["rss_mib"] for s in samples if s["repos"] >= 10_000]
    crawl_s = sum(r.get("seconds", 0) for r in runs)  # inside crawl(): without the child's imports
    cpu_s = sum(r["cpu_s"] for r in runs)  # imports included (~10 s per child)
    crawl_cpu = sum(r.get("crawl_cpu_s", 0) for r in runs)  # inside crawl() (a killed run never reports it)
    summary = {"count": args.count, "page_size": args.page_size, "runs": runs, "wall_s": round(wall, 1),
               "crawl_s": round(crawl_s, 1), "repos_per_s": round(args.count / crawl_s) if crawl_s else None,
               "crawler_cpu_s": round(cpu_s, 1),
               "repos_per_crawler_cpu_s": round(args.count / cpu_s) if cpu_s else None,
               "crawl_cpu_s": round(crawl_cpu, 1), "hub_cpu_s": round(hub_cpu, 1),
               # What two idle cores sustain: the crawler and the hub each on one core, listing pages read ahead
               # (bounded by the busier of the two), and at the least if they strictly took turns.
               "repos_per_s_two_idle_cores": round(args.count / max(crawl_cpu, hub_cpu, 1e-9)),
               "repos_per_s_one_core_in_turns": round(args.count / max(crawl_cpu + hub_cpu, 1e-9)),
               "load_average": os.getloadavg(), "rss_mib_at_10k": after_10k[0] if after_10k else None,
               "rss_mib_max_after_10k": max(after_10k) if after_10k else None, "catalog": verdict}
    if baseline is not None:
        summary["baseline_no_read_ahead"] = baseline
        summary["speedup_over_baseline"] = round(baseline["seconds"] / crawl_s, 2) if crawl_s else None
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
