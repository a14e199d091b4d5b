"""Per-caller rate limits for the answers that cost the server real work (search by examples finetunes a model)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque

from fastapi import Request


def caller(request: Request) -> str:
    """Who is asking: the bearer token when one is sent (hashed, never kept), else the client's address."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return "token:" + hashlib.sha256(auth[7:].encode()).hexdigest()[:16]
    return "addr:" + (request.client.host if request.client else "?")


class RateLimit:
    """At most `per_minute` admissions per caller in any 60 s; remembers at most MAX_CALLERS callers."""

    MAX_CALLERS = 10_000

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.calls: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def admit(self, who: str) -> float | None:
        """None when admitted (and counted), else the seconds until the caller may try again."""
        now = time.monotonic()
        with self.lock:
            if len(self.calls) >= self.MAX_CALLERS and who not in self.calls:
                self.calls = {k: v for k, v in self.calls.items() if v and v[-1] > now - 60}
            calls = self.calls.setdefault(who, deque())
            while calls and calls[0] <= now - 60:
                calls.popleft()
            if len(calls) >= self.per_minute:
                return 60 - (now - calls[0])
            calls.append(now)
            return None
