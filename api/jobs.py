"""Index jobs: on the Celery workers when a broker is configured, else in a thread of this server.

The server owns the catalog (one read-write DuckDB process), so an in-process job writes through it; a job on the
workers sends its results back through the ingest consumer the server runs (see app.py). Job records live in
memory: a restarted server forgets finished jobs (the catalog keeps their results).
"""

from __future__ import annotations

import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hubindex.api.errors import ServiceError

from hubindex.errors import NotFoundError
from hubindex.service_answers import JobRequest, JobStatus

if TYPE_CHECKING:
    from hubindex.api.app import Settings
    from hubindex.api.metrics import Metrics

    from hubindex.catalog import Catalog

RUN_ID = re.compile(r"[0-9a-f]{32}")  # ids of queued runs (uuid4 hex)
MAX_JOBS_KEPT = 1000


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def check_paths(request: JobRequest, roots: list[Path]) -> list[Path]:
    """Resolve each path and refuse any outside the configured index roots (no `..` or symlink escapes)."""
    if not roots:
        raise ServiceError(403, "forbidden", "index jobs are disabled: start the server with --index-root DIR")
    resolved_roots = [r.resolve() for r in roots]
    paths = []
    for raw in request.paths:
        path = Path(raw).resolve()
        if not any(path == r or path.is_relative_to(r) for r in resolved_roots):
            raise ServiceError(403, "forbidden", f"{raw!r} is outside the server's index roots")
        if not path.is_dir():
            raise NotFoundError(f"{raw!r} is not a folder under the server's index roots")
        paths.append(path)
    return paths


class ThreadJobs:
    """One job at a time in a background thread of the server, writing through the server's own catalog."""

    backend = "thread"

    def __init__(self, settings: Settings, catalog: Catalog, metrics: Metrics) -> None:
        self.settings, self.catalog, self.metrics = settings, catalog, metrics
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubindex-job")
        self.jobs: dict[str, JobStatus] = {}
        self.lock = threading.Lock()

    def submit(self, request: JobRequest) -> JobStatus:
        paths = check_paths(request, self.settings.index_roots)
        job = JobStatus(id=uuid.uuid4().hex, state="queued", backend="thread", request=request,
                        submitted_at=_now())
        with self.lock:
            if len(self.jobs) >= MAX_JOBS_KEPT:  # forget the oldest finished ones
                done = [j for j in self.jobs.values() if j.state in ("succeeded", "failed")]
                for old in sorted(done, key=lambda j: j.submitted_at)[: len(done) // 2 or 1]:
                    self.jobs.pop(old.id, None)
            self.jobs[job.id] = job
        self.pool.submit(self._run, job.id, paths)
        return job.model_copy()

    def _run(self, job_id: str, paths: list[Path]) -> None:
        job = self.jobs[job_id]
        job.state, job.started_at = "running", _now()
        from hubindex.indexer.pipeline import index_paths  # the indexer (torch) loads with the first job

        writer = self.catalog.cursor_view()  # its own cursor: requests read through theirs meanwhile
        try:
            report = index_paths(writer, paths, list(job.request.methods),
                                 embed=job.request.embed, prune=job.request.prune, quiet=True)
            job.result, job.state = report, "succeeded"
        except Exception as exc:  # a job's failure is its answer, never the server's
            job.error, job.state = f"{type(exc).__name__}: {exc}", "failed"
        finally:
            writer.close()
        job.finished_at = _now()
        self.metrics.jobs.labels(job.state).inc()

    def get(self, job_id: str) -> JobStatus:
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"no job {job_id!r} on this server")
        return job.model_copy()

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class CeleryJobs:
    """Runs queued for the Celery workers; this server owns the catalog, so its ingest consumer (app.py) plans
    them and records their results. A run's state lives in Redis, so any server on the broker can report it."""

    backend = "celery"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def submit(self, request: JobRequest) -> JobStatus:
        from hubindex.workers.ingest import submit

        paths = check_paths(request, self.settings.index_roots)
        try:
            run = submit(self.settings.db, paths, list(request.methods), request.embed, request.prune)
        except Exception as exc:  # broker down or unreachable
            raise ServiceError(503, "unavailable", f"cannot reach the job queue: {exc}") from None
        return JobStatus(id=run.id, state="queued", backend="celery", request=request, submitted_at=run.created_at)

    def get(self, job_id: str) -> JobStatus:
        from hubindex.workers.state import client, load_run

        run = load_run(client(), job_id) if RUN_ID.fullmatch(job_id) else None
        if run is None or Path(run.db) != self.settings.db.resolve():
            raise NotFoundError(f"no job {job_id!r} for this server's catalog")
        state = {"queued": "queued", "finished": "succeeded", "failed": "failed"}.get(run.phase, "running")
        request = JobRequest(paths=run.paths, methods=run.methods, embed=run.embed, prune=run.prune)
        return JobStatus(id=run.id, state=state, backend="celery", request=request, submitted_at=run.created_at,
                         finished_at=run.finished_at, error=run.error,
                         result=run.report if state == "succeeded" else None)

    def shutdown(self) -> None:
        pass


def make_jobs(settings: Settings, catalog: Catalog, metrics: Metrics) -> ThreadJobs | CeleryJobs:
    return CeleryJobs(settings) if settings.broker_url else ThreadJobs(settings, catalog, metrics)
