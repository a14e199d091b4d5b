"""The Celery app: Redis broker and result backend from HUBINDEX_BROKER_URL, queues cpu, gpu and ingest.

Tasks are acknowledged late (after they finish), so a worker killed mid-task leaves its message to be redelivered
once the visibility timeout passes; the timeout is sized for long tasks (HUBINDEX_VISIBILITY_TIMEOUT, default 4 h;
a redelivered duplicate is harmless: the owner records each (model id, revision) once).
"""

from __future__ import annotations

import os

import redis
from celery import Celery
from kombu import Exchange, Queue
from kombu.exceptions import OperationalError

from hubindex.errors import HubindexError
from hubindex.hub.crawl_run import CrawlRun
from hubindex.indexer.run import IndexRun
from hubindex.pipeline.stage import declared

BROKER_ENV = "HUBINDEX_BROKER_URL"
VISIBILITY_ENV = "HUBINDEX_VISIBILITY_TIMEOUT"
CPU, GPU, INGEST = "cpu", "gpu", "ingest"
QUEUES = {name: Queue(name, Exchange(name, type="direct"), routing_key=name) for name in (CPU, GPU, INGEST)}
INGEST_QUEUE = QUEUES[INGEST]
# What a broker that went away raises (redis-py's own errors, kombu's wrapper of them, the socket's).
BROKER_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OperationalError, ConnectionError)
# The run kinds this deployment serves; importing them declared their stages (one task per stage), whose modules
# (torch, transformers) load only when a job of theirs runs: `hubindex jobs` and a starting worker stay light.
RUN_KINDS = (IndexRun, CrawlRun)
ROUTES = {**{f"hubindex.{ref.name}": ref.queue for ref in declared()}, "hubindex.examples": GPU}


def broker_url() -> str | None:
    return os.environ.get(BROKER_ENV) or None


def require_broker() -> str:
    url = broker_url()
    if not url:
        raise HubindexError(f"no broker: set {BROKER_ENV}=redis://HOST:PORT/0 (without it, `hubindex index` runs "
                            "everything in-process)")
    return url


def visibility_timeout() -> int:
    return int(os.environ.get(VISIBILITY_ENV, 4 * 3600))


def configure(celery: Celery) -> None:
    url, timeout = broker_url(), visibility_timeout()
    celery.conf.update(
        broker_url=url, result_backend=url, task_ignore_result=True,  # results travel to the owner on `ingest`
        task_serializer="json", accept_content=["json"], result_serializer="json",
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_queues=[QUEUES[CPU], QUEUES[GPU]],
        task_routes={name: {"queue": queue, "routing_key": queue} for name, queue in ROUTES.items()},
        broker_transport_options={"visibility_timeout": timeout,
                                  # look for messages of dead workers at least twice per timeout
                                  "unacked_restore_interval": max(1, min(10, timeout // 2)),
                                  "unacked_restore_throttle": 1},
        broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
        # No remote control (`celery inspect`/`control`): `hubindex jobs` reads Redis itself, and the control
        # queue's binding is refreshed by a Lua script that, on a broker restarted empty, failed with NoScriptError
        # and stopped the worker ("Unrecoverable error") in the broker-restart test.
        worker_enable_remote_control=False,
        # Items that are not messages, foreign serializers and unknown tasks become dead letters, never fatal.
        broker_transport="hubindex.workers.transport:Transport", worker_consumer="hubindex.workers.consumer:Consumer",
    )


def declare(names: set[str]) -> None:
    """Bind these queues on the broker now. A broker restarted empty (or flushed) forgets its bindings, while
    kombu's pooled connections remember having declared them and do not declare again: a task sent there would be
    routed nowhere until a worker binds the queue again (kombu's Redis transport looks bindings up in Redis on every
    publish, so binding once through any connection is enough)."""
    with app.producer_or_acquire() as producer:
        for name in sorted(names):
            QUEUES[name].bind(producer.channel).declare()


app = Celery("hubindex", include=["hubindex.workers.tasks"])
configure(app)
