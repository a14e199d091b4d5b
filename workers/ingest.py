"""The catalog owner's side of the queue: plan runs, record results, enqueue the next phase's jobs.

Exactly one process opens a DuckDB catalog (DuckDB allows one read-write process per file, and no reader beside
it). That process, the owner (`hubindex serve` when it runs, else `hubindex worker --queues ingest`), calls
`run_owner` in a thread; a Redis lock per database file, renewed while it lives, makes sure only one owner consumes
`ingest` at a time. Workers never open the catalog: they publish results here. Messages are acknowledged only after
their results are recorded and the run's state is saved, so an owner killed mid-batch loses nothing: the messages
come back after the visibility timeout and recording them again is a no-op. The owner keeps its runs in memory; a
save writes the run's record and only the changes to its pending set (`state.save_run`).

Nothing that arrives on `ingest` can stop the owner: a message that is not JSON, uses another serializer or has
another shape is a dead letter (recorded for `hubindex jobs`, acknowledged). A broker that goes away is waited for;
once it is back the owner resumes, writing back the runs it lost (see `Ledger`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from typing import Literal

import redis
from hubindex.workers.app import BROKER_ERRORS, INGEST, INGEST_QUEUE, ROUTES, app, declare
from hubindex.workers.dead_letters import record
from hubindex.workers.state import client, load_run, owner_lock, run_ids, run_key, running_key, save_run
from hubindex.workers.tasks import TASKS, publish
from pydantic import BaseModel, Field, ValidationError
from redis.exceptions import LockError

from hubindex.catalog import Catalog
from hubindex.errors import HubindexError
from hubindex.hub.crawl_run import CrawlRequest, CrawlRun
from hubindex.indexer.run import IndexRun
from hubindex.pipeline.run import Failure, Run
from hubindex.pipeline.stage import Job, parse_result

BATCH = 64  # results recorded between two saves of a run's record
POLL = 0.5  # seconds an idle owner waits for a message before checking its stop flag
RECONNECT_MAX = 5.0  # seconds between two tries to reach a broker that went away
GRACE_ENV, LOST_ENV = "HUBINDEX_BROKER_GRACE", "HUBINDEX_LOST_AFTER"
log = logging.getLogger(__name__)


def submit(db: Path, paths: list[Path], methods: list[str], embed: bool = True, prune: bool = False) -> Run:
    """Queue an indexing run for the owner of `db` (`hubindex index PATH --queue`)."""
    run = IndexRun.new(uuid.uuid4().hex, Path(db).resolve(), [Path(p).resolve() for p in paths], methods, embed,
                       prune)
    save_run(client(), run)
    publish({"type": "plan", "run": run.id})
    return run


def submit_crawl(db: Path, request: CrawlRequest) -> Run:
    """Queue a hub crawl for the owner of `db` (`hubindex crawl --queue`); the owner lists the hub."""
    run = CrawlRun.new(uuid.uuid4().hex, Path(db).resolve(), request)
    save_run(client(), run)
    publish({"type": "plan", "run": run.id})
    return run


def wait_for(run_id: str, timeout: float | None = None, poll: float = 0.5,
             broker_grace: float | None = None, lost_after: float | None = None) -> Run:
    """Poll the run's record until the owner finishes it (`hubindex index --queue --wait`).

    Rides out broker restarts: an unreachable broker is retried for `broker_grace` seconds
    (HUBINDEX_BROKER_GRACE, default 300). A record that stays missing for `lost_after` seconds (HUBINDEX_LOST_AFTER,
    default 60; the owner writes back the runs it holds when the broker comes back empty) is a lost run: an error
    says so instead of waiting forever."""
    broker_grace = float(os.environ.get(GRACE_ENV, 300)) if broker_grace is None else broker_grace
    lost_after = float(os.environ.get(LOST_ENV, 60)) if lost_after is None else lost_after
    r, deadline = client(), None if timeout is None else time.monotonic() + timeout
    unreachable_since = missing_since = None
    run = None
    while True:
        try:
            run = load_run(r, run_id, pending=False)
            unreachable_since = None
        except BROKER_ERRORS as exc:
            unreachable_since = unreachable_since or time.monotonic()
            if time.monotonic() - unreachable_since > broker_grace:
                raise HubindexError(f"the broker has been unreachable for {broker_grace:.0f} s ({exc}); run {run_id} "
                                    "may still finish: follow it with `hubindex jobs`") from None
        else:
            if run is not None and run.finished:
                return run
            missing_since = (missing_since or time.monotonic()) if run is None else None
            if missing_since is not None and time.monotonic() - missing_since > lost_after:
                raise HubindexError(f"run {run_id} was lost: the broker holds no record of it (restarted without "
                                    "persistence, or flushed) and no catalog owner restored it; queue it again")
        if deadline is not None and time.monotonic() > deadline:
            raise HubindexError(f"run {run_id} did not finish in {timeout:.0f} s (phase: {run.phase if run else '?'})")
        time.sleep(poll)


class Ledger:
    """The runs this owner works on, kept in memory between batches (loaded from the broker once), and every job it
    enqueued. When the broker comes back without them (a restart without persistence, a flush), the owner writes
    the runs back and enqueues their pending jobs again; a duplicate result is recorded once, so redoing a job
    costs time, never correctness."""

    def __init__(self) -> None:
        self.runs: dict[str, Run] = {}
        self.jobs: dict[str, dict[str, Job]] = {}

    def run(self, r: redis.Redis, run_id: str) -> Run | None:
        if run_id not in self.runs and (run := load_run(r, run_id)) is not None:
            self.runs[run_id] = run
        return self.runs.get(run_id)

    def saved(self, run: Run) -> None:
        self.runs[run.id] = run
        if run.finished:
            self.runs.pop(run.id)
            self.jobs.pop(run.id, None)

    def enqueued(self, run_id: str, job: Job) -> None:
        self.jobs.setdefault(run_id, {})[job.key] = job

    def restore(self, r: redis.Redis) -> None:
        """Write back the runs the broker lost and enqueue their pending jobs (or their plan) again. Runs it still
        holds are read again when next needed (another owner may have moved them on meanwhile)."""
        for run_id, run in list(self.runs.items()):
            if r.exists(run_key(run_id)):
                self.runs.pop(run_id)
                continue
            log.warning("run %s: the broker lost its record; restoring it (%d jobs pending)", run_id,
                        len(run.pending))
            save_run(r, run, planned=run.pending)
            if run.phase == "queued":
                publish({"type": "plan", "run": run.id})
            planned = self.jobs.get(run_id, {})
            enqueue(run_id, [planned[key] for key in run.pending if key in planned])


class IngestMessage(BaseModel):
    """What the owner accepts on `ingest`: a plan request from `submit`, or a worker's result."""

    type: Literal["plan", "result"]
    run: str = Field(max_length=64)
    result: dict | None = None


def enqueue(run_id: str, jobs: list[Job], ledger: Ledger | None = None) -> None:
    if jobs:
        declare({ROUTES[f"hubindex.{job.stage}"] for job in jobs})
    for job in jobs:
        if ledger is not None:
            ledger.enqueued(run_id, job)
        TASKS[job.stage].apply_async(args=[run_id, job.model_dump(mode="json")])


def _renew(lock: redis.lock.Lock, done: threading.Event, lost: threading.Event) -> None:
    while not done.wait(lock.timeout / 3):
        try:
            lock.reacquire()
        except (LockError, *BROKER_ERRORS):
            lost.set()
            return


def run_owner(catalog: Catalog, stop: threading.Event) -> None:
    """Consume `ingest` for `catalog` until `stop` is set. Call it in a thread of the process that opened the catalog;
    it works on its own cursor. While another process holds the owner lock, it waits; while the broker is out of
    reach, it retries (backing off to RECONNECT_MAX seconds) and then resumes its runs."""
    own = catalog.cursor_view()
    ledger = Ledger()
    backoff = 0.5
    try:
        while not stop.is_set():
            try:
                r = client()
                lock = owner_lock(r, catalog.path)
                if not lock.acquire(blocking=False):
                    stop.wait(min(1.0, lock.timeout / 3))
                    continue
                backoff = 0.5
                _own(own, r, lock, ledger, stop)
            except BROKER_ERRORS as exc:
                log.warning("catalog owner: broker out of reach (%s); retrying in %.1f s", exc, backoff)
                stop.wait(backoff)
                backoff = min(RECONNECT_MAX, backoff * 2)
    finally:
        own.close()


def _own(catalog: Catalog, r: redis.Redis, lock: redis.lock.Lock, ledger: Ledger, stop: threading.Event) -> None:
    log.info("catalog owner of %s: %s", catalog.path.name, socket.gethostname())
    done, lost = threading.Event(), threading.Event()
    beat = threading.Thread(target=_renew, args=(lock, done, lost), daemon=True, name="owner-lock")
    beat.start()
    try:
        ledger.restore(r)
        _consume(catalog, r, ledger, stop, lost)
    finally:
        done.set()
        beat.join()
        with suppress(LockError, *BROKER_ERRORS):
            lock.release()


def _dead_letter(message, exc: Exception) -> None:
    """A message kombu could not decode (a foreign serializer such as pickle, a broken body): recorded, acked."""
    record(INGEST, f"undecodable ({getattr(message, 'content_type', '?')}): {type(exc).__name__}: {exc}",
           getattr(message, "body", message))
    with suppress(Exception):
        message.ack()


def _consume(catalog: Catalog, r: redis.Redis, ledger: Ledger, stop: threading.Event, lost: threading.Event) -> None:
    inbox: list = []
    with app.connection_for_read() as conn, conn.Consumer(
            [INGEST_QUEUE], callbacks=[lambda body, message: inbox.append((body, message))], accept=["json"],
            on_decode_error=_dead_letter, prefetch_count=BATCH):
        for run_id in run_ids(r):  # an owner restarted mid-run: phases whose jobs are all recorded move on
            run = ledger.run(r, run_id)
            if run is not None and not run.finished and run.phase != "queued":
                _advance(catalog, r, run, ledger)
        while not stop.is_set() and not lost.is_set():
            _drain(conn, inbox)
            if inbox:
                _handle(catalog, r, inbox, ledger)
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


def _handle(catalog: Catalog, r: redis.Redis, inbox: list, ledger: Ledger) -> None:
    runs: dict[str, Run] = {}
    done: dict[str, list[str]] = {}
    planned: dict[str, list[str]] = {}
    for body, _ in inbox:
        try:
            parsed = IngestMessage.model_validate(body)
        except ValidationError as exc:  # a list, a string, another program's message: never ours to record
            record(INGEST, f"not an ingest message: {exc.error_count()} problem(s): "
                   f"{exc.errors()[0]['msg']}", body)
            continue
        run = runs.get(parsed.run) or ledger.run(r, parsed.run)
        if run is None or run.finished:
            continue  # a late duplicate for a finished run, or an unknown run: nothing to record
        runs[parsed.run] = run
        if parsed.type == "plan":
            if run.phase == "queued":
                planned.setdefault(run.id, []).extend(_start(catalog, run, ledger))
        elif (key := _record(catalog, r, run, parsed.result)) is not None:
            done.setdefault(run.id, []).append(key)
    for run in runs.values():
        _advance(catalog, r, run, ledger, done.get(run.id, ()), planned.get(run.id, ()))
    for _, message in inbox:
        message.ack()


def _fail(run: Run, error: str) -> None:
    run.phase, run.error = "failed", error
    log.error("run %s failed: %s", run.id, error)


def _start(catalog: Catalog, run: Run, ledger: Ledger) -> list[str]:
    """Plan the run's first phase; the keys of the jobs enqueued."""
    if Path(run.db).resolve() != catalog.path.resolve():
        _fail(run, f"queued for {run.db}, but this owner holds {catalog.path} (one catalog per broker)")
        return []
    try:
        jobs = run.start(catalog)
    except Exception as exc:  # a missing root, a database error: the run says why instead of hanging
        _fail(run, f"{type(exc).__name__}: {exc}")
        return []
    enqueue(run.id, jobs, ledger)  # a broker error here is the owner's to ride out, not the run's failure
    return [job.key for job in jobs]


def _record(catalog: Catalog, r: redis.Redis, run: Run, payload: object) -> str | None:
    """Record one result; the key it took off the run's pending set, if any."""
    try:
        result = parse_result(payload)
        key = result.job.key
    except ValueError as exc:
        record(INGEST, f"run {run.id}: malformed result: {exc}", payload)
        return None
    pending = key in run.pending
    try:
        run.record(catalog, result)
    except Exception as exc:  # one result that cannot be written must not stall the run
        log.exception("run %s: recording %s failed", run.id, key)
        run.pending.discard(key)
        run.report.failed.append(Failure(model=getattr(result.job, "model_id", "?"), status="error",
                                         error=f"ingest: {type(exc).__name__}: {exc}"))
    r.hdel(running_key(run.id), key)
    return key if pending else None


def _advance(catalog: Catalog, r: redis.Redis, run: Run, ledger: Ledger, done: Iterable[str] = (),
             planned: Iterable[str] = ()) -> None:
    """Move the run on if its phase is done, then save it: its record and the changes to its pending set."""
    planned = list(planned)
    if not run.finished:
        try:
            jobs = run.advance(catalog)
        except Exception as exc:
            _fail(run, f"{type(exc).__name__}: {exc}")
        else:
            enqueue(run.id, jobs, ledger)
            planned += [job.key for job in jobs]
    if run.finished:
        run.report.seconds = round(((run.finished_at or run.created_at) - run.created_at).total_seconds(), 3)
        r.delete(running_key(run.id))
    save_run(r, run, done=done, planned=planned)
    ledger.saved(run)
