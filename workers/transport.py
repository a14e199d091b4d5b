"""kombu's Redis transport, except that an item it cannot turn into a message is a dead letter instead of an
exception that stops the consumer (a Celery worker or the catalog owner).

Redis queues are plain lists: anything can LPUSH onto `cpu` or `ingest`. kombu pops an item, parses it as JSON and
builds a message from it; stock kombu raises on a non-JSON item or on JSON without a message's envelope, and the
process consuming the queue dies. The item is already popped, so recording it is all that is left to do.
`configure` in app.py selects this transport for every connection of the app.
"""

from __future__ import annotations

from hubindex.workers.dead_letters import record
from kombu.transport import redis as kombu_redis
from kombu.transport.virtual import Message


class Channel(kombu_redis.Channel):
    def _brpop_read(self, **options):
        try:
            return super()._brpop_read(**options)
        except ValueError as exc:  # not JSON, or not UTF-8: the raw item is gone, its error says what it was
            record(self._queue_cycle.items[-1] if self._queue_cycle.items else "?",  # rotated to the end when popped
                   f"undecodable item: {type(exc).__name__}: {exc}", getattr(exc, "doc", ""))
            return True


class Transport(kombu_redis.Transport):
    Channel = Channel

    def _deliver(self, message, queue):
        try:  # the envelope a kombu message needs (properties, delivery tag, a body its encoding decodes)
            Message(message, channel=self.channels[0] if self.channels else None)
        except Exception as exc:
            record(queue or "?", f"not a message envelope: {type(exc).__name__}: {exc}", message)
            return
        super()._deliver(message, queue)
