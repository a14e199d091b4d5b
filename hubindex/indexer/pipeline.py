"""`hubindex index` in one process: the run's phases (`run.py`) with every job executed right here.

The queue path (`hubindex.workers`) drives the same Run with the same jobs on Celery workers; this is the embedded
default when no broker is configured. Unchanged folders (same file sizes and mtimes) are not re-read, so a second
run is cheap and changes nothing.
"""

from __future__ import annotations

import time
import uuid
from contextlib import nullcontext
from pathlib import Path

from hubindex.catalog import Catalog
from hubindex.errors import HubindexError
from hubindex.indexer.jobs import Job
from hubindex.indexer.progress import ProgressCallback
from hubindex.indexer.run import Failure, IndexReport, Run
from hubindex.indexer.stages import TRANSIENT, execute, failure

__all__ = ["Failure", "IndexReport", "index_paths", "run_locally"]


def run_locally(catalog: Catalog, run: Run, progress: ProgressCallback | None = None) -> Run:
    """Drive a run to the end in this process; transient errors are recorded at once (nothing retries here).
    `progress(stage, done, total)` hears of every finished job."""
    jobs: list[Job] = run.start(catalog)
    while True:
        if not jobs:
            jobs = run.advance(catalog)
            if not jobs:
                return run
        stage = run.phase
        if progress:
            progress(stage, 0, len(jobs))
        for done, job in enumerate(jobs, 1):
            try:
                result = execute(job)
            except TRANSIENT as exc:
                result = failure(job, exc)
            run.record(catalog, result)
            if progress:
                progress(stage, done, len(jobs))
        jobs = []


def index_paths(db: Path | Catalog, paths: list[Path], methods: list[str], embed: bool = True, prune: bool = False,
                quiet: bool = False, progress: ProgressCallback | None = None) -> IndexReport:
    """Index into the catalog file `db`, or into an open Catalog (a server's, which owns the file; left open).
    `progress` hears of every finished job (not when `quiet`)."""
    started = time.perf_counter()
    for path in paths:
        if not Path(path).is_dir():
            raise HubindexError(f"{path}: no such directory")
    db_path = db.path if isinstance(db, Catalog) else Path(db)
    run = Run.new(uuid.uuid4().hex, db_path, list(paths), methods, embed=embed, prune=prune)
    opened = nullcontext(db) if isinstance(db, Catalog) else Catalog(db)
    with opened as catalog:
        run_locally(catalog, run, None if quiet else progress)
    run.report.seconds = round(time.perf_counter() - started, 3)
    return run.report
