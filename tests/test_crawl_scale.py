"""A metadata crawl killed with SIGKILL mid-listing resumes from its stored cursor: every repo recorded once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_metadata_crawl_resumes_after_sigkill(tmp_path):
    out = subprocess.run([sys.executable, "bench/crawl_scale.py", "--count", "5000", "--page-size", "250",
                          "--kill-at", "2000", "--db", str(tmp_path / "scale.duckdb")], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout[out.stdout.index("{"):])
    killed, resumed = summary["runs"]
    assert killed["killed"] and 2000 <= killed["killed_at"] < 5000
    # The second run started at the cursor of the last page the first one committed, and listed only the rest.
    assert killed["killed_at"] <= resumed["resumed_from"] + 250 and resumed["resumed_from"] >= 2000
    assert resumed["listed"] == 5000 - resumed["resumed_from"]
    assert summary["catalog"] == {"rows": 5000, "distinct": 5000, "expected": 5000, "cursors_left": 0, "ok": True}

    import duckdb

    con = duckdb.connect(str(tmp_path / "scale.duckdb"), read_only=True)
    ids = {r[0] for r in con.execute("SELECT id FROM hub_models").fetchall()}
    statuses = con.execute("SELECT DISTINCT status FROM hub_models").fetchall()
    con.close()
    from tests.hub_server import synthetic_info

    assert ids == {synthetic_info(i)["id"] for i in range(5000)} and statuses == [("listed",)]


def test_read_ahead_keeps_order_reads_one_ahead_and_raises_where_read():
    from hubindex.hub.crawl import read_ahead

    produced: list[int] = []

    def pages():
        for i in range(5):
            produced.append(i)
            yield i
        raise RuntimeError("listing failed")

    seen = []
    reader = read_ahead(pages())
    for item in reader:
        seen.append(item)
        ahead = len(seen) + (1 if len(seen) < 5 else 0)  # the next page is fetched meanwhile, no more than it
        deadline = time.monotonic() + 10
        while len(produced) < ahead and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.02)
        assert len(produced) == ahead
        if item == 4:
            break
    assert seen == [0, 1, 2, 3, 4]
    try:
        list(read_ahead(pages()))
    except RuntimeError as exc:
        assert "listing failed" in str(exc)
    else:
        raise AssertionError("the listing's error was swallowed")
