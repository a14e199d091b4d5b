"""The catalog's `hub_models` table: what a crawl saw per hub repo, and whether its commit needs crawling again."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hubindex.catalog.store import Catalog

HUB_COLUMNS = ("id", "endpoint", "sha", "status", "reason", "author", "pipeline_tag", "library_name", "gated",
               "private", "created_at", "last_modified", "downloads", "likes", "tags", "base_models", "base_relation",
               "card_data", "siblings", "bytes_total", "bytes_fetched", "requests", "crawled_at", "created_source")
DONE = ("partial", "full", "unsupported")  # outcomes that hold until the commit changes; others are retried
# What a metadata-only listing writes; weights-derived columns (status, bytes) are kept for an unchanged commit.
LISTED_COLUMNS = ("id", "endpoint", "sha", "author", "pipeline_tag", "library_name", "gated", "private", "created_at",
                  "created_source", "last_modified", "downloads", "likes", "tags", "base_models", "base_relation",
                  "card_data", "siblings")
_LISTED_TYPES = {"private": "BOOLEAN", "created_at": "TIMESTAMP", "last_modified": "TIMESTAMP", "downloads": "BIGINT",
                 "likes": "BIGINT", "tags": "VARCHAR[]", "base_models": "VARCHAR[]", "siblings": "VARCHAR[]",
                 "card_data": "JSON"}


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


def current_commits(catalog: Catalog, endpoint: str, ids: list[str]) -> dict[str, tuple[str | None, str]]:
    """(sha, status) of the rows these ids have at this endpoint: one query for a whole listing page."""
    rows = catalog.con.execute("SELECT id, sha, status FROM hub_models WHERE endpoint = ? AND id IN "
                               "(SELECT unnest(?))", [endpoint, ids]).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def record_listed(catalog: Catalog, rows: list[dict]) -> None:
    """Upsert a page of listing metadata in one statement (column lists, not row-by-row inserts: DuckDB takes a
    thousand rows in tens of milliseconds this way). A changed commit becomes `listed` (to be fingerprinted); an
    unchanged one keeps its outcome."""
    if not rows:
        return
    rows = list({r["id"]: r for r in rows}.values())  # one row per id per statement
    now = datetime.now(UTC).replace(tzinfo=None)
    columns = [[json.dumps(r.get(c) or {}, default=str) if c == "card_data" else r.get(c) for r in rows]
               for c in LISTED_COLUMNS]
    select = ", ".join(f"CAST(unnest(${c}) AS {_LISTED_TYPES.get(c, 'VARCHAR')}) AS {c}" for c in LISTED_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in LISTED_COLUMNS if c != "id")
    catalog.con.execute(
        f"INSERT INTO hub_models ({', '.join(LISTED_COLUMNS)}, status, crawled_at) "
        f"SELECT *, 'listed', $now::TIMESTAMP FROM (SELECT {select}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates}, crawled_at = excluded.crawled_at, "
        "status = CASE WHEN hub_models.sha IS NOT DISTINCT FROM excluded.sha THEN hub_models.status ELSE 'listed' END, "
        "reason = CASE WHEN hub_models.sha IS NOT DISTINCT FROM excluded.sha THEN hub_models.reason ELSE NULL END",
        {"now": now, **dict(zip(LISTED_COLUMNS, columns, strict=True))})


def load_cursor(catalog: Catalog, endpoint: str, query_key: str) -> tuple[str, int] | None:
    """(next page URL, repos recorded so far) of an unfinished listing of this query, if any."""
    row = catalog.con.execute("SELECT next_url, listed FROM hub_crawl_cursors WHERE endpoint = ? AND query_key = ?",
                              [endpoint, query_key]).fetchone()
    return (row[0], row[1]) if row else None


def save_cursor(catalog: Catalog, endpoint: str, query_key: str, next_url: str | None, listed: int) -> None:
    """Where the listing continues (None: finished, the cursor is dropped)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    if next_url is None:
        catalog.con.execute("DELETE FROM hub_crawl_cursors WHERE endpoint = ? AND query_key = ?", [endpoint, query_key])
        return
    catalog.con.execute("INSERT INTO hub_crawl_cursors VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (endpoint, query_key) "
                        "DO UPDATE SET next_url = excluded.next_url, listed = excluded.listed, "
                        "updated_at = excluded.updated_at", [endpoint, query_key, next_url, listed, now, now])


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
