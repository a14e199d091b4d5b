"""The catalog owner's side of the queue: plan runs, record results, enqueue the next phase's jobs.

Exactly one process opens a DuckDB catalog (DuckDB allows one read-write process per file, and no reader beside
it). That process, the owner (`hubindex serve` when it runs, else `hubindex worker --queues ingest`), calls
`run_owner` in a thread; a Redis lock per database file, renewed while it lives, makes sure only one owner consumes
`ingest` at a time. Workers never open the catalog: they publish results here. Messages are acknowledged only after
their results are recorded and the run's state is saved, so an owner killed mid-batch loses nothing: the messages
come back after the visibility timeout and recording them again is a no-op.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from contextlib import suppress
from pathlib import Path

import redis
from hubindex.workers.app import INGEST_QUEUE, app
from hubindex.workers.state import client, load_run, owner_lock, run_ids, running_key, save_run
from hubindex.workers.tasks import TASKS, publish
from redis.exceptions import LockError

from hubindex.catalog import Catalog
from hubindex.errors import HubindexError
from hubindex.indexer.jobs import BasesJob, CrawlJob, CrawlRequest, EmbedJob, FingerprintJob, Job, Result
from hubindex.indexer.run import Failure, Run

BATCH = 64  # results recorded between two saves of the run state
POLL = 0.5  # seconds an idle owner waits for a message before checking its stop flag
log = logging.getLogger(__name__)


def submit(db: Path, paths: list[Path], methods: list[str], embed: bool = True, prune: bool = False) -> Run:
    """Queue an indexing run for the owner of `db` (`hubindex index PATH --queue`)."""
    run = Run.new(uuid.uuid4().hex, Path(db).resolve(), [Path(p).resolve() for p in paths], methods, embed, prune)
    save_run(client(), run)
    publish({"type": "plan", "run": run.id})
    return run


def submit_crawl(db: Path, request: CrawlRequest) -> Run:
    """Queue a hub crawl for the owner of `db` (`hubindex crawl --queue`); the owner lists the hub."""
    run = Run.new_crawl(uuid.uuid4().hex, Path(db).resolve(), request)
    save_run(client(), run)
    publish({"type": "plan", "run": run.id})
    return run


def wait_for(run_id: str, timeout: float | None = None, poll: float = 0.5) -> Run:
    """Poll the run's record until the owner finishes it (`hubindex index --queue --wait`)."""
    r, deadline = client(), None if timeout is None else time.monotonic() + timeout
    while True:
        run = load_run(r, run_id)
        if run is not None and run.finished:
            return run
        if deadline is not None and time.monotonic() > deadline:
            raise HubindexError(f"run {run_id} did not finish in {timeout:.0f} s (phase: {run.phase if run else '?'})")
        time.sleep(poll)


def _stage(job: Job) -> str:
    return {FingerprintJob: "fingerprint", BasesJob: "bases", EmbedJob: "embed", CrawlJob: "crawl"}[type(job)]


def enqueue(run_id: str, jobs: list[Job]) -> None:
    for job in jobs:
        TASKS[_stage(job)].apply_async(args=[run_id, job.model_dump(mode="json")])


def _renew(lock: redis.lock.Lock, done: threading.Event, lost: threading.Event) -> None:
    while not done.wait(lock.timeout / 3):
        try:
            lock.reacquire()
        except LockError:
            lost.set()
            return


def run_owner(catalog: Catalog, stop: threading.Event) -> None:
    """Consume `ingest` for `catalog` until `stop` is set. Call it in a thread of the process that opened the catalog;
    it works on its own cursor. While another process holds the owner lock, it waits."""
    r = client()
    lock = owner_lock(r, catalog.path)
    own = catalog.cursor_view()
    try:
        while not stop.is_set():
            if not lock.acquire(blocking=False):
                stop.wait(min(1.0, lock.timeout / 3))
                continue
            log.info("catalog owner of %s: %s", catalog.path, socket.gethostname())
            done, lost = threading.Event(), threading.Event()
            beat = threading.Thread(target=_renew, args=(lock, done, lost), daemon=True, name="owner-lock")
            beat.start()
            try:
                _consume(own, r, stop, lost)
            finally:
                done.set()
                beat.join()
                with suppress(LockError):
                    lock.release()
    finally:
        own.close()


def _consume(catalog: Catalog, r: redis.Redis, stop: threading.Event, lost: threading.Event) -> None:
    inbox: list = []
    with app.connection_for_read() as conn, conn.Consumer(
            [INGEST_QUEUE], callbacks=[lambda body, message: inbox.append((body, message))], accept=["json"],
            prefetch_count=BATCH):
        for run_id in run_ids(r):  # an owner restarted mid-run: phases whose jobs are all recorded move on
            run = load_run(r, run_id)
            if run is not None and not run.finished and run.phase != "queued":
                _advance(catalog, r, run)
        while not stop.is_set() and not lost.is_set():
            _drain(conn, inbox)
            if inbox:
                _handle(catalog, r, inbox)
                inbox.clear()


def _drain(conn, inbox: list) -> None:
    deadline = time.monotonic() + POLL
    while len(inbox) < BATCH:
        wait = deadline - time.monotonic() if not inbox else 0.05
        if wait <= 0:
            return
        try:
            conn.drain_events(timeout=wait)
        except TimeoutError:
            return


def _handle(catalog: Catalog, r: redis.Redis, inbox: list) -> None:
    runs: dict[str, Run] = {}
    for body, _ in inbox:
        run_id = str(body.get("run"))
        run = runs.get(run_id) or load_run(r, run_id)
        if run is None or run.finished:
            continue  # a late duplicate for a finished run, or an unknown run: nothing to record
        runs[run_id] = run
        if body.get("type") == "plan":
            if run.phase == "queued":
                _start(catalog, run)
        elif body.get("type") == "result":
            _record(catalog, r, run, body.get("result"))
    for run in runs.values():
        _advance(catalog, r, run)
    for _, message in inbox:
        message.ack()


def _fail(run: Run, error: str) -> None:
    run.phase, run.error = "failed", error
    log.error("run %s failed: %s", run.id, error)


def _start(catalog: Catalog, run: Run) -> None:
    if Path(run.db).resolve() != catalog.path.resolve():
        _fail(run, f"queued for {run.db}, but this owner holds {catalog.path} (one catalog per broker)")
        return
    try:
        enqueue(run.id, run.start(catalog))
    except Exception as exc:  # a missing root, a database error: the run says why instead of hanging
        _fail(run, f"{type(exc).__name__}: {exc}")


def _record(catalog: Catalog, r: redis.Redis, run: Run, payload: object) -> None:
    try:
        result = Result.model_validate(payload)
        key = result.job_obj().key
    except ValueError as exc:
        log.error("run %s: dropping a malformed result: %s", run.id, exc)
        return
    try:
        run.record(catalog, result)
    except Exception as exc:  # one result that cannot be written must not stall the run
        log.exception("run %s: recording %s failed", run.id, key)
        run.pending.discard(key)
        run.report.failed.append(Failure(model=result.job.get("model_id", "?"), status="error",
                                         error=f"ingest: {type(exc).__name__}: {exc}"))
    r.hdel(running_key(run.id), key)


def _advance(catalog: Catalog, r: redis.Redis, run: Run) -> None:
    if not run.finished:
        try:
            enqueue(run.id, run.advance(catalog))
        except Exception as exc:
            _fail(run, f"{type(exc).__name__}: {exc}")
    if run.finished:
        run.report.seconds = round(((run.finished_at or run.created_at) - run.created_at).total_seconds(), 3)
        r.delete(running_key(run.id))
    save_run(r, run)
