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

BROKER_ENV = "HUBINDEX_BROKER_URL"
VISIBILITY_ENV = "HUBINDEX_VISIBILITY_TIMEOUT"
CPU, GPU, INGEST = "cpu", "gpu", "ingest"
INGEST_QUEUE = Queue(INGEST, Exchange(INGEST, type="direct"), routing_key=INGEST)
# What a broker that went away raises (redis-py's own errors, kombu's wrapper of them, the socket's).
BROKER_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OperationalError, ConnectionError)
ROUTES = {"hubindex.fingerprint": CPU, "hubindex.crawl": CPU, "hubindex.bases": GPU, "hubindex.embed": GPU,
          "hubindex.examples": GPU}


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
        task_queues=[Queue(CPU, Exchange(CPU, type="direct"), routing_key=CPU),
                     Queue(GPU, Exchange(GPU, type="direct"), routing_key=GPU)],
        task_routes={name: {"queue": queue, "routing_key": queue} for name, queue in ROUTES.items()},
        broker_transport_options={"visibility_timeout": timeout,
                                  # look for messages of dead workers at least twice per timeout
                                  "unacked_restore_interval": max(1, min(10, timeout // 2)),
                                  "unacked_restore_throttle": 1},
        broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
        # Items that are not messages, foreign serializers and unknown tasks become dead letters, never fatal.
        broker_transport="hubindex.workers.transport:Transport", worker_consumer="hubindex.workers.consumer:Consumer",
    )


app = Celery("hubindex", include=["hubindex.workers.tasks"])
configure(app)
