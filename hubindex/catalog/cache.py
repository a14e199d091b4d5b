"""Answers serialized once per catalog state: `/atlas/forest` reads every model, `/atlas/map` runs a PCA and
k-means, and `/similar` is asked again and again about popular models, so a server keeps their JSON bytes until
the catalog changes.

The key is the catalog's write stamp (catalog/stamp.py: moved by every write of the one process that may write the
file, whichever code path wrote it: index jobs, the workers' ingest loop, hub crawls), which costs a dict lookup;
a digest of the tables (`Catalog.state_digest`) cost one scan of each per call (29 ms at 10k models). Answers that
also depend on files beside the catalog (the FAISS spaces) put those files' stamp in their key.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from hubindex.catalog.store import Catalog

MAX_ANSWERS = 64  # atlas: maps of distinct families kept per catalog state


class AnswerCache:
    """Least recently used answers of one catalog state, at most `max_answers` of them and `max_bytes` in all."""

    def __init__(self, max_answers: int = MAX_ANSWERS, max_bytes: int | None = None) -> None:
        self.max_answers, self.max_bytes = max_answers, max_bytes
        self._stamp: int | None = None
        self._answers: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def peek(self, catalog: Catalog, key: Hashable) -> bytes | None:
        """The cached answer for the catalog as it is now, or None."""
        with self._lock:
            cached = self._answers.get(key) if self._stamp == catalog.write_stamp else None
            if cached is not None:
                self._answers.move_to_end(key)
            return cached

    def json(self, catalog: Catalog, key: Hashable, compute: Callable[[], bytes]) -> bytes:
        """The answer's JSON for the catalog as it is now: cached, or computed (errors propagate, uncached)."""
        stamp = catalog.write_stamp  # read before computing: a write during the computation makes this one stale
        with self._lock:
            if stamp != self._stamp:
                self._stamp, self._answers, self._bytes = stamp, OrderedDict(), 0
            cached = self._answers.get(key)
            if cached is not None:
                self._answers.move_to_end(key)
                return cached
        body = compute()
        with self._lock:
            if self._stamp == stamp and key not in self._answers:
                self._answers[key] = body
                self._bytes += len(body)
                while len(self._answers) > self.max_answers or (self.max_bytes and self._bytes > self.max_bytes):
                    self._bytes -= len(self._answers.popitem(last=False)[1])
        return body
