"""`hubindex crawl`: list a hub's models, fingerprint each new commit from range reads, record everything.

Metadata first: one listing call per page gives every repo's commit sha, card data, base models, tags, siblings,
dates, downloads and likes. A repo whose sha was crawled to a final outcome before is skipped. The rest get a partial
signature (`partial.py`); gated, missing, pickle-only and broken repos are recorded with the reason. With `full`,
whole checkpoints are fetched afterwards for Delta Activations (`full_fetch.py`). Stage functions live in
`stages.py` so a queue worker can run them one repo at a time.

The listing is read page by page; each page's rows and the cursor of the next page are committed together, so a
crawl killed at any point resumes where it stopped (nothing lost, nothing recorded twice). `metadata_only` records
the listing's metadata and card data (hub_models, status `listed`) without reading any weight: a page of a thousand
repos is one request and one upsert.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from hubindex.catalog import Catalog
from hubindex.catalog.hub_rows import (
    DONE,
    current_commits,
    lacking_full,
    limit_memory,
    load_cursor,
    mark_full,
    record_listed,
    save_cursor,
)
from hubindex.hub.full_fetch import FullFetchOptions, drop_weights, fetch_full
from hubindex.hub.source import CrawlQuery, HubSource, TransientHubError
from hubindex.hub.stages import (
    CrawledModel,
    fingerprint_stage,
    finish_stage,
    listed_fields,
    listed_from_item,
    record_stage,
)
from hubindex.ids import model_path
from hubindex.progress import ProgressCallback


class CrawlReport(BaseModel):
    """What one `hubindex crawl` run did."""

    db: str
    endpoint: str
    listed: int
    fingerprinted: int  # new commits given a partial signature
    unchanged: int
    full_fetched: list[str]
    over_budget: list[str]  # wanted a full fetch, did not fit --max-disk: partial signature kept
    problems: list[CrawledModel]  # unsupported, gated, missing, error, invalid
    models: list[CrawledModel]  # every repo listed (empty with metadata_only: a listing may hold millions)
    bytes_fetched: int  # range reads and small files, partial fingerprints only
    bytes_full: int  # whole checkpoints downloaded for Delta Activations
    bytes_total: int  # size of the weight files of the models fingerprinted
    fetched_fraction: float | None
    lineage_families: int
    spaces: int
    seconds: float
    metadata_only: bool = False  # listing metadata and cards recorded, no weight read
    resumed_from: int = 0  # repos an interrupted earlier run of the same listing had recorded already
    transient: int = 0  # repos that failed transiently (timeouts, 5xx after retries): not recorded, retried next crawl


def query_key(query: CrawlQuery, mode: str) -> str:
    """A listing's identity for its resumable cursor."""
    return json.dumps({**asdict(query), "mode": mode}, sort_keys=True, default=str)


T = TypeVar("T")
_END = object()
METADATA_MEMORY = "256MB"  # DuckDB's memory in a metadata-only crawl: a page upsert needs a few MB


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """The items of `items`, the next one fetched in a thread while the caller handles the current one: a listing
    page is requested while the one before is being recorded (a cursor-paginated listing cannot be requested in
    parallel, but its requests and the catalog's writes can overlap). At most one item is read ahead."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as pool:
        pending = pool.submit(next, items, _END)
        while (item := pending.result()) is not _END:
            pending = pool.submit(next, items, _END)
            yield item


def listed_pages(catalog: Catalog, source: HubSource, query: CrawlQuery, mode: str,
                 record: Callable[[list[dict]], None], atomic: bool) -> Iterator[int]:
    """The listing page by page, resuming from the cursor an interrupted run left. With `atomic`, `record(page)`
    runs inside the transaction that stores the next cursor, so a kill loses and repeats nothing; without (record
    opens transactions of its own), the cursor is stored after the page: a kill repeats at most that page, whose
    rows are upserts by id. With `atomic` (nothing but the catalog is written per page) the next page is read
    ahead; a kill loses at most that page, unrecorded, and the stored cursor asks for it again."""
    key = query_key(query, mode)
    saved = load_cursor(catalog, source.endpoint, key)
    url, count = saved if saved else (None, 0)
    pages = source.list_pages(query, resume=url)
    for page, nxt in read_ahead(pages) if atomic else pages:
        if query.limit is not None:
            page = page[: max(0, query.limit - count)]
            nxt = nxt if count + len(page) < query.limit else None
        if not atomic:
            record(page)
        with catalog.transaction():
            if atomic:
                record(page)
            count += len(page)
            save_cursor(catalog, source.endpoint, key, nxt, count)
        yield len(page)
        if nxt is None:
            return
    save_cursor(catalog, source.endpoint, key, None, count)


def crawl(db: Path, query: CrawlQuery, source: HubSource, full: FullFetchOptions | None = None,
          progress: ProgressCallback | None = None, metadata_only: bool = False,
          on_page: Callable[[int], None] | None = None) -> CrawlReport:
    """One crawl of the listing `query`; `on_page(repos listed so far)` after each recorded page, and
    `progress("crawl", repos done, limit or 0)` after each repo (each page with `metadata_only`)."""
    started = time.perf_counter()
    models: list[CrawledModel] = []
    listed_count = transient = 0
    report_progress = progress or (lambda stage, done, total: None)
    with Catalog(db) as catalog:
        if metadata_only:
            limit_memory(catalog, METADATA_MEMORY)
        resumed = load_cursor(catalog, source.endpoint, query_key(query, "metadata" if metadata_only else "crawl"))
        report_progress("crawl", 0, query.limit or 0)

        def fingerprint_page(items: list[dict]) -> None:
            nonlocal transient
            page = [listed_from_item(i) for i in items]
            known = current_commits(catalog, source.endpoint, [p.id for p in page])
            for listed in page:
                sha, status = known.get(listed.id, (None, None))
                if listed.sha and sha == listed.sha and status in DONE:
                    models.append(CrawledModel(id=listed.id, sha=listed.sha, status="unchanged"))
                    continue
                try:
                    fetched = fingerprint_stage(source, listed)
                except TransientHubError as exc:  # not recorded: the next crawl tries this commit again
                    transient += 1
                    models.append(CrawledModel(id=listed.id, sha=listed.sha, status="error",
                                               reason=f"transient, retried on the next crawl: {exc}"))
                    continue
                record_stage(catalog, source.endpoint, listed, fetched)
                models.append(fetched.outcome)
                report_progress("crawl", len(models), query.limit or 0)

        def record_metadata(items: list[dict]) -> None:
            rows = [listed_fields(i) for i in items]
            for row in rows:
                row["card_data"], row["endpoint"] = row.pop("card"), source.endpoint
            record_listed(catalog, rows)

        record = record_metadata if metadata_only else fingerprint_page
        for size in listed_pages(catalog, source, query, "metadata" if metadata_only else "crawl", record,
                                 atomic=metadata_only):
            listed_count += size
            report_progress("crawl", listed_count, query.limit or 0)
            if on_page is not None:
                on_page(listed_count)
        families = spaces = 0
        if full is None and not metadata_only:
            families, spaces = finish_stage(catalog)
        wanted = lacking_full(catalog, source.endpoint, [m.id for m in models]) if full is not None else []
    full_fetched, over_budget, bytes_full = [], [], 0
    if full is not None:
        fetched = fetch_full(source, wanted, full)
        full_fetched, over_budget, bytes_full = fetched.fetched, fetched.over_budget, sum(fetched.bytes.values())
        families, spaces = _index_fetched(db, source.endpoint, full, fetched.fetched, fetched.bytes, progress)
        for model in models:
            if model.id in fetched.failed:
                model.reason = f"partial signature kept; full fetch failed: {fetched.failed[model.id]}"
            elif model.id in fetched.fetched:
                model.status = "full"
    done = [m for m in models if m.status in ("partial", "full")]
    fetched_bytes = sum(m.bytes_fetched for m in done)
    total = sum(m.bytes_total for m in done)
    return CrawlReport(
        db=str(db), endpoint=source.endpoint, listed=listed_count, fingerprinted=len(done),
        unchanged=sum(m.status == "unchanged" for m in models), full_fetched=full_fetched, over_budget=over_budget,
        problems=[m for m in models if m.status not in ("partial", "full", "unchanged")], models=models,
        bytes_fetched=fetched_bytes, bytes_full=bytes_full, bytes_total=total,
        fetched_fraction=round(fetched_bytes / total, 6) if total else None, lineage_families=families,
        spaces=spaces, seconds=round(time.perf_counter() - started, 3), metadata_only=metadata_only,
        resumed_from=resumed[1] if resumed else 0, transient=transient)


def _index_fetched(db: Path, endpoint: str, options: FullFetchOptions, fetched: list[str],
                   sizes: dict[str, int], progress: ProgressCallback | None) -> tuple[int, int]:
    """Index the downloaded folders like any local root, then give the rows back their hub identity."""
    from hubindex.indexer.pipeline import index_paths

    report = index_paths(db, [options.cache], options.methods, embed=True, progress=progress)
    if not options.keep:
        drop_weights(options.cache, fetched)
    with Catalog(db) as catalog:
        for model_id in fetched:
            path = str(model_path(options.cache, model_id)) if options.keep else None
            mark_full(catalog, model_id, endpoint, path, sizes.get(model_id, 0))
    return report.lineage_families, report.spaces
