"""`hubindex index` in one process: an IndexRun driven by `pipeline.local.run_locally`.

The queue path (`hubindex.workers`) drives the same run with the same stages on Celery workers; this is the
embedded default when no broker is configured. Unchanged folders (same file sizes and mtimes) are not re-read, so a
second run is cheap and changes nothing.
"""

from __future__ import annotations

import time
import uuid
from contextlib import nullcontext
from pathlib import Path

from hubindex.catalog import Catalog
from hubindex.errors import HubindexError
from hubindex.indexer.run import IndexRun
from hubindex.pipeline.local import run_locally
from hubindex.pipeline.run import Failure, IndexReport
from hubindex.progress import ProgressCallback

__all__ = ["Failure", "IndexReport", "index_paths"]


def index_paths(db: Path | Catalog, paths: list[Path], methods: list[str], embed: bool = True, prune: bool = False,
                quiet: bool = False, progress: ProgressCallback | None = None) -> IndexReport:
    """Index into the catalog file `db`, or into an open Catalog (a server's, which owns the file; left open).
    `progress` hears of every finished job (not when `quiet`)."""
    started = time.perf_counter()
    for path in paths:
        if not Path(path).is_dir():
            raise HubindexError(f"{path}: no such directory")
    db_path = db.path if isinstance(db, Catalog) else Path(db)
    run = IndexRun.new(uuid.uuid4().hex, db_path, list(paths), methods, embed=embed, prune=prune)
    opened = nullcontext(db) if isinstance(db, Catalog) else Catalog(db)
    with opened as catalog:
        run_locally(catalog, run, None if quiet else progress)
    run.report.seconds = round(time.perf_counter() - started, 3)
    return run.report
