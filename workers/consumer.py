"""The Celery worker's consumer, recording the messages it throws away as dead letters (`hubindex jobs` lists
them): a foreign serializer (pickle is never accepted), an unknown task, a body that is not a task."""

from __future__ import annotations

from celery.worker.consumer import Consumer as CeleryConsumer
from hubindex.workers.dead_letters import record


def _queue(message) -> str:
    info = getattr(message, "delivery_info", None) or {}
    return str(info.get("routing_key") or info.get("exchange") or "?")


class Consumer(CeleryConsumer):
    def on_decode_error(self, message, exc) -> None:
        record(_queue(message), f"undecodable ({getattr(message, 'content_type', '?')}): {type(exc).__name__}: "
               f"{exc}", getattr(message, "body", message))
        super().on_decode_error(message, exc)

    def on_unknown_message(self, body, message) -> None:
        record(_queue(message), "not a task message", body)
        super().on_unknown_message(body, message)

    def on_unknown_task(self, body, message, exc) -> None:
        record(_queue(message), f"unknown task: {exc}", message.body if body is None else body)
        super().on_unknown_task(body, message, exc)

    def on_invalid_task(self, body, message, exc) -> None:
        record(_queue(message), f"invalid task: {exc}", message.body if body is None else body)
        super().on_invalid_task(body, message, exc)
