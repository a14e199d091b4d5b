"""Where queued runs live in Redis: run records (written by the catalog owner) with each run's pending job keys in a
set of their own, what workers are running now, and the owner lock (one ingest consumer per catalog file)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from pathlib import Path

import redis
from hubindex.workers.app import CPU, GPU, INGEST, require_broker

from hubindex.indexer.progress import JobsAnswer, progress_of
from hubindex.pipeline.run import Run, parse_run

RUNS = "hubindex:runs"  # sorted set: run id -> creation time
CHUNK = 10_000  # keys per SADD/SREM/SSCAN call
OWNER_TTL_ENV = "HUBINDEX_OWNER_TTL"


def client() -> redis.Redis:
    return redis.Redis.from_url(require_broker(), decode_responses=True)


def run_key(run_id: str) -> str:
    return f"hubindex:run:{run_id}"


def running_key(run_id: str) -> str:
    return f"hubindex:running:{run_id}"


def owner_lock(r: redis.Redis, db: Path) -> redis.lock.Lock:
    """The catalog owner's lock, one per database file; its TTL is renewed while the owner lives."""
    ttl = float(os.environ.get(OWNER_TTL_ENV, 30))
    return r.lock(f"hubindex:owner:{Path(db).resolve()}", timeout=ttl, thread_local=False)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def pending_key(run_id: str) -> str:
    return f"hubindex:pending:{run_id}"


def save_run(r: redis.Redis, run: Run, done: Iterable[str] = (), planned: Iterable[str] = ()) -> None:
    """Write the run's record. Its pending set lives beside it, in a Redis set changed by what was recorded
    (`done`) and planned since the last save, so a save costs what changed, not the whole set. One transaction:
    the record and its pending set never disagree."""
    with r.pipeline() as pipe:
        pipe.set(run_key(run.id), run.model_dump_json(exclude={"pending"}))
        pipe.zadd(RUNS, {run.id: run.created_at.timestamp()})
        for keys, change in ((list(planned), pipe.sadd), (list(done), pipe.srem)):
            for at in range(0, len(keys), CHUNK):
                change(pending_key(run.id), *keys[at:at + CHUNK])
        if run.finished:
            pipe.delete(pending_key(run.id))
        pipe.execute()


def load_run(r: redis.Redis, run_id: str, pending: bool = True) -> Run | None:
    """The run's record, with its pending set unless `pending` is False (a caller that only wants its phase)."""
    text = r.get(run_key(run_id))
    if not text:
        return None
    run = parse_run(text)
    if pending:
        run.pending |= set(r.sscan_iter(pending_key(run_id), count=CHUNK))
    return run


def run_ids(r: redis.Redis, newest_first: bool = True) -> list[str]:
    return list(r.zrange(RUNS, 0, -1, desc=newest_first))


def jobs(r: redis.Redis, limit: int = 20) -> JobsAnswer:
    from hubindex.workers.dead_letters import recent  # it records through this module's client

    runs = [run for run in (load_run(r, i) for i in run_ids(r)[:limit]) if run is not None]
    progress = [progress_of(run, set(r.hkeys(running_key(run.id)))) for run in runs]
    letters, total = recent(r, limit)
    return JobsAnswer(runs=progress, queues={q: int(r.llen(q)) for q in (CPU, GPU, INGEST)}, dead_letters=letters,
                      dead_letter_total=total)
