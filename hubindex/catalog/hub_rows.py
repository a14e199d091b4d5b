"""The catalog's `hub_models` table: what a crawl saw per hub repo, and whether its commit needs crawling again."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hubindex.catalog.store import Catalog

HUB_COLUMNS = ("id", "endpoint", "sha", "status", "reason", "author", "pipeline_tag", "library_name", "gated",
               "private", "created_at", "last_modified", "downloads", "likes", "tags", "base_models", "base_relation",
               "card_data", "siblings", "bytes_total", "bytes_fetched", "requests", "crawled_at")
DONE = ("partial", "full", "unsupported")  # outcomes that hold until the commit changes; others are retried


def hub_row(catalog: Catalog, model_id: str) -> dict | None:
    cursor = catalog.con.execute("SELECT * FROM hub_models WHERE id = ?", [model_id])
    row = cursor.fetchone()
    if row is None:
        return None
    out = dict(zip([d[0] for d in cursor.description], row, strict=True))
    out["card_data"] = json.loads(out["card_data"]) if out["card_data"] else {}
    return out


def is_current(catalog: Catalog, model_id: str, sha: str | None, endpoint: str) -> bool:
    """True when this commit was crawled to a final outcome already: nothing to fetch."""
    row = hub_row(catalog, model_id)
    return bool(row and sha and row["sha"] == sha and row["endpoint"] == endpoint and row["status"] in DONE)


def record_hub(catalog: Catalog, row: dict) -> None:
    row = {**row, "card_data": json.dumps(row.get("card_data") or {}, default=str),
           "crawled_at": datetime.now(UTC).replace(tzinfo=None)}
    catalog.con.execute(f"INSERT OR REPLACE INTO hub_models ({', '.join(HUB_COLUMNS)}) VALUES "
                        f"({', '.join('?' * len(HUB_COLUMNS))})", [row.get(c) for c in HUB_COLUMNS])


def hub_rows(catalog: Catalog) -> list[dict]:
    cursor = catalog.con.execute("SELECT * EXCLUDE (card_data) FROM hub_models ORDER BY id")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def mark_full(catalog: Catalog, model_id: str, endpoint: str, path: str | None, downloaded: int) -> None:
    """A model indexed from a full download: its rows keep the hub as source (and no path once the weights are
    deleted); the hub row says `full` and counts the download."""
    catalog.con.execute("UPDATE models SET source = ?, path = ? WHERE id = ?", [endpoint, path, model_id])
    catalog.con.execute("UPDATE hub_models SET status = 'full', bytes_fetched = coalesce(bytes_fetched, 0) + ? "
                        "WHERE id = ?", [downloaded, model_id])
