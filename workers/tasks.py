"""Celery tasks: one per declared stage (`hubindex.pipeline.stage`), each a thin shell over `execute`; a stage's
module is imported when the first job of that stage runs.

A task never opens the catalog. It runs its job and publishes the Result to the `ingest` queue, where the catalog
owner records it. Transient errors (OSError, connection trouble) are retried with exponential backoff; after
MAX_RETRIES, or at once for permanent errors (bad checkpoint, unsupported format, hostile id), the failure itself is
published, so the owner records it on the model's row and nothing retries forever.
"""

from __future__ import annotations

import logging
from pathlib import Path

from celery import Task
from hubindex.workers.app import BROKER_ERRORS, INGEST, INGEST_QUEUE, ROUTES, app
from hubindex.workers.dead_letters import record
from hubindex.workers.state import client, running_key, worker_name

from hubindex.pipeline.stage import TRANSIENT, Result, StageRef, declared, execute, failure, stage

MAX_RETRIES = 5
BACKOFF_MAX = 600  # seconds
# Forever, once a second at most: a worker holding a finished result waits for the broker rather than lose it.
PUBLISH_RETRY = {"max_retries": None, "interval_start": 0.2, "interval_step": 0.4, "interval_max": 1.0}
log = logging.getLogger(__name__)


def publish(message: dict) -> None:
    """Hand a message to the catalog owner (persistent; while the broker is away, retried until it is back, so a
    result computed during a broker restart still arrives)."""
    with app.producer_or_acquire() as producer:
        # A broker restarted without persistence (or flushed) forgets its queue bindings while kombu remembers, per
        # connection, having declared them: declare again each time, or the message is routed nowhere and lost.
        producer.connection.declared_entities.discard(hash(INGEST_QUEUE))
        producer.publish(message, exchange=INGEST_QUEUE.exchange, routing_key=INGEST, declare=[INGEST_QUEUE],
                         serializer="json", delivery_mode=2, retry=True, retry_policy=PUBLISH_RETRY)


def _note_running(run_id: str, key: str, running: bool) -> None:
    """What `hubindex jobs` shows as running: bookkeeping only, so a broker blip must not fail the job."""
    try:
        r = client()
        if running:
            r.hset(running_key(run_id), key, worker_name())
        else:
            r.hdel(running_key(run_id), key)
    except BROKER_ERRORS as exc:
        log.warning("could not note %s as %s: %s", key, "running" if running else "done", exc)


def publish_result(run_id: str, result: Result) -> None:
    publish({"type": "result", "run": run_id, "result": result.model_dump(mode="json")})


def _run(task: Task, name: str, run_id: object, payload: object) -> None:
    try:
        if not isinstance(run_id, str):
            raise ValueError(f"run id must be a string, not {type(run_id).__name__}")
        job = stage(name).job_type.model_validate(payload)
    except ValueError as exc:  # not from our owner: nothing to record it on but the dead letters
        record(ROUTES[f"hubindex.{name}"], f"malformed {name} job: {exc}", {"run": run_id, "job": payload})
        return
    _note_running(run_id, job.key, True)
    try:
        result = execute(job)
    except TRANSIENT as exc:
        if task.request.retries < MAX_RETRIES:
            _note_running(run_id, job.key, False)
            raise task.retry(exc=exc, countdown=min(BACKOFF_MAX, 2 ** (task.request.retries + 1))) from None
        result = failure(job, exc)
    except Exception as exc:  # an unforeseen error is recorded on the row too, instead of redelivered forever
        log.exception("%s failed", job.key)
        result = failure(job, RuntimeError(f"{type(exc).__name__}: {exc}"))
    publish_result(run_id, result)
    _note_running(run_id, job.key, False)


def _task(ref: StageRef) -> Task:
    def run(self: Task, run_id: str, job: dict) -> None:
        _run(self, ref.name, run_id, job)

    run.__doc__ = f"Run one {ref.name} job and publish its result to `ingest`."
    return app.task(name=f"hubindex.{ref.name}", bind=True, max_retries=MAX_RETRIES)(run)


TASKS: dict[str, Task] = {ref.name: _task(ref) for ref in declared()}


@app.task(name="hubindex.examples", ignore_result=False, acks_late=False)
def examples(base_folder: str, base_id: str, examples: list[dict], method: str) -> dict:
    """Search by examples, queued by the API server: the task's Delta Activations against the base (a short
    finetune, the reason it runs on a gpu worker rather than in the web process). Returns the packed vector."""
    from hubindex.pipeline.payload import Packed  # fingerprint/ (torch): loaded by the first task, not at start
    from hubindex.search_by_examples import TaskExample, embed_examples_at

    vector = embed_examples_at(Path(base_folder), base_id, [TaskExample.model_validate(e) for e in examples], method)
    return Packed.of(vector).model_dump(mode="json")
