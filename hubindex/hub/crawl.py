"""`hubindex crawl`: list a hub's models, fingerprint each new commit from range reads, record everything.

Metadata first: one listing call per page gives every repo's commit sha, card data, base models, tags, siblings,
dates, downloads and likes. A repo whose sha was crawled to a final outcome before is skipped. The rest get a partial
signature (`partial.py`); gated, missing, pickle-only and broken repos are recorded with the reason. With `full`,
whole checkpoints are fetched afterwards for Delta Activations (`full_fetch.py`). Stage functions live in
`stages.py` so a queue worker can run them one repo at a time.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel
from rich.progress import Progress

from hubindex.catalog import Catalog
from hubindex.catalog.hub_rows import is_current, mark_full
from hubindex.hub.full_fetch import FullFetchOptions, drop_weights, fetch_full
from hubindex.hub.source import CrawlQuery, HubSource
from hubindex.hub.stages import CrawledModel, fingerprint_stage, finish_stage, list_stage, record_stage
from hubindex.ids import model_path


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
    models: list[CrawledModel]
    bytes_fetched: int  # range reads and small files, partial fingerprints only
    bytes_full: int  # whole checkpoints downloaded for Delta Activations
    bytes_total: int  # size of the weight files of the models fingerprinted
    fetched_fraction: float | None
    lineage_families: int
    spaces: int
    seconds: float


def crawl(db: Path, query: CrawlQuery, source: HubSource, full: FullFetchOptions | None = None,
          quiet: bool = True) -> CrawlReport:
    started = time.perf_counter()
    models: list[CrawledModel] = []
    created: dict[str, datetime | None] = {}
    with Catalog(db) as catalog, Progress(disable=quiet, transient=True) as progress:
        task = progress.add_task("crawl", total=query.limit)
        for listed in list_stage(source, query):
            progress.advance(task)
            if is_current(catalog, listed.id, listed.sha, source.endpoint):
                models.append(CrawledModel(id=listed.id, sha=listed.sha, status="unchanged"))
                continue
            fetched = fingerprint_stage(source, listed)
            record_stage(catalog, source.endpoint, listed, fetched)
            models.append(fetched.outcome)
            created[listed.id] = listed.created_at
        families = spaces = 0
        if full is None:
            families, spaces = finish_stage(catalog)
    full_fetched, over_budget, bytes_full = [], [], 0
    if full is not None:
        wanted = sorted(((m.id, m.sha, m.bytes_total, created.get(m.id)) for m in models if m.status == "partial"),
                        key=lambda w: (str(w[3] or ""), w[0]))  # bases before children
        fetched = fetch_full(source, wanted, full)
        full_fetched, over_budget, bytes_full = fetched.fetched, fetched.over_budget, sum(fetched.bytes.values())
        families, spaces = _index_fetched(db, source.endpoint, full, fetched.fetched, fetched.bytes)
        for model in models:
            if model.id in fetched.failed:
                model.reason = f"partial signature kept; full fetch failed: {fetched.failed[model.id]}"
            elif model.id in fetched.fetched:
                model.status = "full"
    done = [m for m in models if m.status in ("partial", "full")]
    fetched_bytes = sum(m.bytes_fetched for m in done)
    total = sum(m.bytes_total for m in done)
    return CrawlReport(
        db=str(db), endpoint=source.endpoint, listed=len(models), fingerprinted=len(done),
        unchanged=sum(m.status == "unchanged" for m in models), full_fetched=full_fetched, over_budget=over_budget,
        problems=[m for m in models if m.status not in ("partial", "full", "unchanged")], models=models,
        bytes_fetched=fetched_bytes, bytes_full=bytes_full, bytes_total=total,
        fetched_fraction=round(fetched_bytes / total, 6) if total else None, lineage_families=families,
        spaces=spaces, seconds=round(time.perf_counter() - started, 3))


def _index_fetched(db: Path, endpoint: str, options: FullFetchOptions, fetched: list[str],
                   sizes: dict[str, int]) -> tuple[int, int]:
    """Index the downloaded folders like any local root, then give the rows back their hub identity."""
    from hubindex.indexer.pipeline import index_paths

    report = index_paths(db, [options.cache], options.methods, embed=True, quiet=True)
    if not options.keep:
        drop_weights(options.cache, fetched)
    with Catalog(db) as catalog:
        for model_id in fetched:
            path = str(model_path(options.cache, model_id)) if options.keep else None
            mark_full(catalog, model_id, endpoint, path, sizes.get(model_id, 0))
    return report.lineage_families, report.spaces
