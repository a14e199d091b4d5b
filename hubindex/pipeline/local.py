"""Drive a run to its end in this process: the same stages the queue workers run, executed right here."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hubindex.pipeline.stage import TRANSIENT, Job, execute, failure

if TYPE_CHECKING:
    from hubindex.catalog import Catalog
    from hubindex.pipeline.run import Run


def run_locally(catalog: Catalog, run: Run, progress: Callable[[str, int, int], None] | None = None) -> Run:
    """Transient errors are recorded at once (nothing retries here). `progress(stage, done, total)` hears of every
    finished job
    (`hubindex.progress.ProgressCallback`)."""
    jobs: list[Job] = run.start(catalog)
    while jobs:
        phase = run.phase
        if progress:
            progress(phase, 0, len(jobs))
        for done, job in enumerate(jobs, 1):
            try:
                result = execute(job)
            except TRANSIENT as exc:
                result = failure(job, exc)
            run.record(catalog, result)
            if progress:
                progress(phase, done, len(jobs))
        jobs = run.advance(catalog)
    return run
