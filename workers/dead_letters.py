"""Dead letters: messages that no worker or owner can use (not JSON, a foreign serializer, a body of the wrong
shape, an unknown task). Each is acknowledged so it never comes back, and recorded here so `hubindex jobs` shows
it; none may stop the process that received it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import redis
from hubindex.workers.state import client, worker_name

from hubindex.indexer.progress import DeadLetter

KEY = "hubindex:dead_letters"  # list, newest first, capped at KEEP
TOTAL = "hubindex:dead_letters:total"
KEEP = 1000
SAMPLE = 200
log = logging.getLogger(__name__)


def _sample(raw: object) -> str:
    if isinstance(raw, bytes):
        raw = raw[: SAMPLE * 4].decode("utf-8", "replace")
    text = raw if isinstance(raw, str) else repr(raw)
    return text[:SAMPLE]


def record(queue: str, reason: str, raw: object) -> None:
    """Keep a dead letter; if the broker cannot take it now, the log line is all that is left."""
    letter = DeadLetter(at=datetime.now(UTC).replace(tzinfo=None), queue=queue, receiver=worker_name(),
                        reason=reason[:500], sample=_sample(raw))
    log.error("dead letter on %s: %s (%r)", queue, letter.reason, letter.sample[:80])
    try:
        with client().pipeline() as pipe:
            pipe.lpush(KEY, letter.model_dump_json())
            pipe.ltrim(KEY, 0, KEEP - 1)
            pipe.incr(TOTAL)
            pipe.execute()
    except redis.RedisError as exc:
        log.error("could not record the dead letter: %s", exc)


def recent(r: redis.Redis, limit: int = 20) -> tuple[list[DeadLetter], int]:
    letters = [DeadLetter.model_validate_json(text) for text in r.lrange(KEY, 0, limit - 1)]
    return letters, int(r.get(TOTAL) or 0)
