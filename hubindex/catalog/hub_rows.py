"""The catalog's `hub_models` table: what a crawl saw per hub repo, and whether its commit needs crawling again."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hubindex.catalog.records import HubRecord, ListingCursor, PartialRepo, SeenCommit
from hubindex.catalog.store import Catalog
from hubindex.status import CrawlStatus

HUB_COLUMNS = ("id", "endpoint", "sha", "status", "reason", "author", "pipeline_tag", "library_name", "gated",
               "private", "created_at", "last_modified", "downloads", "likes", "tags", "base_models", "base_relation",
               "card_data", "siblings", "bytes_total", "bytes_fetched", "requests", "crawled_at", "created_source")
# Outcomes that hold until the commit changes; the others are tried again by the next crawl.
DONE: tuple[CrawlStatus, ...] = (CrawlStatus.PARTIAL, CrawlStatus.FULL, CrawlStatus.UNSUPPORTED)
# What a metadata-only listing writes, with the JSON types DuckDB parses a page into; weights-derived columns
# (status, reason, bytes) are kept for an unchanged commit.
LISTED_TYPES = {"id": "VARCHAR", "endpoint": "VARCHAR", "sha": "VARCHAR", "author": "VARCHAR",
                "pipeline_tag": "VARCHAR", "library_name": "VARCHAR", "gated": "VARCHAR", "private": "BOOLEAN",
                "created_at": "TIMESTAMP", "created_source": "VARCHAR", "last_modified": "TIMESTAMP",
                "downloads": "BIGINT", "likes": "BIGINT", "tags": "VARCHAR[]", "base_models": "VARCHAR[]",
                "base_relation": "VARCHAR", "card_data": "JSON", "siblings": "VARCHAR[]"}


def hub_row(catalog: Catalog, model_id: str) -> HubRecord | None:
    cursor = catalog.con.execute("SELECT * FROM hub_models WHERE id = ?", [model_id])
    rows = HubRecord.from_rows([d[0] for d in cursor.description], cursor.fetchall())
    if not rows:
        return None
    rows[0].card_data = rows[0].card_data or {}  # a repo without card data reads as an empty card
    return rows[0]


def is_current(catalog: Catalog, model_id: str, sha: str | None, endpoint: str) -> bool:
    """True when this commit was crawled to a final outcome already: nothing to fetch."""
    row = hub_row(catalog, model_id)
    return bool(row and sha and row.sha == sha and row.endpoint == endpoint and row.status in DONE)


def record_hub(catalog: Catalog, row: dict) -> None:
    row = {**row, "card_data": json.dumps(row.get("card_data") or {}, default=str),
           "crawled_at": datetime.now(UTC).replace(tzinfo=None)}
    catalog.con.execute(f"INSERT OR REPLACE INTO hub_models ({', '.join(HUB_COLUMNS)}) VALUES "
                        f"({', '.join('?' * len(HUB_COLUMNS))})", [row.get(c) for c in HUB_COLUMNS])


def current_commits(catalog: Catalog, endpoint: str, ids: list[str]) -> dict[str, SeenCommit]:
    """The commit and outcome of the rows these ids have at this endpoint: one query for a whole listing page."""
    rows = catalog.con.execute("SELECT id, sha, status FROM hub_models WHERE endpoint = ? AND id IN "
                               "(SELECT unnest(?))", [endpoint, ids]).fetchall()
    return {r[0]: SeenCommit(r[1], CrawlStatus(r[2])) for r in rows}


def lacking_full(catalog: Catalog, endpoint: str, ids: list[str]) -> list[PartialRepo]:
    """Listed repos whose current commit has only a partial signature, whichever crawl made it: what `crawl --full`
    downloads, oldest first (bases before children)."""
    rows = catalog.con.execute(
        "SELECT id, sha, coalesce(bytes_total, 0), created_at FROM hub_models "
        "WHERE endpoint = ? AND status = 'partial' AND id IN (SELECT unnest(?)) ORDER BY created_at NULLS LAST, id",
        [endpoint, ids]).fetchall()
    return [PartialRepo(*r) for r in rows]


def record_listed(catalog: Catalog, rows: list[dict]) -> None:
    """Upsert a page of listing metadata in one statement: the page goes in as one JSON text that DuckDB parses
    (per-value conversion of Python lists costs ~10 us a value; this keeps a 1,000-repo page at tens of ms). A
    changed commit becomes `listed` (to be fingerprinted); an unchanged one keeps its outcome."""
    if not rows:
        return
    rows = list({r["id"]: r for r in rows}.values())  # one row per id per statement
    page = json.dumps([{c: r.get(c) for c in LISTED_TYPES} for r in rows], default=str)
    schema = json.dumps([{c: "VARCHAR" if t == "TIMESTAMP" else t for c, t in LISTED_TYPES.items()}])
    names = ", ".join(LISTED_TYPES)
    values = ", ".join(f"r.{c}::TIMESTAMP" if t == "TIMESTAMP" else f"r.{c}" for c, t in LISTED_TYPES.items())
    updates = ", ".join(f"{c} = excluded.{c}" for c in LISTED_TYPES if c != "id")
    keep = "hub_models.sha IS NOT DISTINCT FROM excluded.sha"
    catalog.con.execute(
        f"INSERT INTO hub_models ({names}, status, crawled_at) "
        f"SELECT {values}, 'listed', $now::TIMESTAMP FROM (SELECT unnest(from_json($page, $schema)) AS r) "
        f"ON CONFLICT (id) DO UPDATE SET {updates}, crawled_at = excluded.crawled_at, "
        f"status = CASE WHEN {keep} THEN hub_models.status ELSE 'listed' END, "
        f"reason = CASE WHEN {keep} THEN hub_models.reason ELSE NULL END",
        {"now": datetime.now(UTC).replace(tzinfo=None), "page": page, "schema": schema})


def limit_memory(catalog: Catalog, size: str) -> None:
    """Cap DuckDB's memory for this connection (e.g. '256MB'; default 80 % of RAM): a long listing crawl's cache of
    hub_models and its id index would otherwise grow with the table; what does not fit is read back from the file."""
    catalog.con.execute(f"SET memory_limit = '{size}'")


def load_cursor(catalog: Catalog, endpoint: str, query_key: str) -> ListingCursor | None:
    """Where an unfinished listing of this query continues, if there is one."""
    row = catalog.con.execute("SELECT next_url, listed FROM hub_crawl_cursors WHERE endpoint = ? AND query_key = ?",
                              [endpoint, query_key]).fetchone()
    return ListingCursor(*row) if row else None


def save_cursor(catalog: Catalog, endpoint: str, query_key: str, next_url: str | None, listed: int) -> None:
    """Where the listing continues (None: finished, the cursor is dropped)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    if next_url is None:
        catalog.con.execute("DELETE FROM hub_crawl_cursors WHERE endpoint = ? AND query_key = ?", [endpoint, query_key])
        return
    catalog.con.execute("INSERT INTO hub_crawl_cursors VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (endpoint, query_key) "
                        "DO UPDATE SET next_url = excluded.next_url, listed = excluded.listed, "
                        "updated_at = excluded.updated_at", [endpoint, query_key, next_url, listed, now, now])


def hub_rows(catalog: Catalog) -> list[HubRecord]:
    """Every hub row without its card data."""
    cursor = catalog.con.execute("SELECT * EXCLUDE (card_data) FROM hub_models ORDER BY id")
    return HubRecord.from_rows([d[0] for d in cursor.description], cursor.fetchall())


def mark_full(catalog: Catalog, model_id: str, endpoint: str, path: str | None, downloaded: int) -> None:
    """A model indexed from a full download: its rows keep the hub as source (and no path once the weights are
    deleted); the hub row says `full` and counts the download."""
    catalog.con.execute("UPDATE models SET source = ?, path = ? WHERE id = ?", [endpoint, path, model_id])
    catalog.con.execute("UPDATE hub_models SET status = 'full', bytes_fetched = coalesce(bytes_fetched, 0) + ? "
                        "WHERE id = ?", [downloaded, model_id])
