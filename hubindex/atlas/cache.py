"""Atlas answers serialized once per catalog state: `/atlas/forest` reads every model and `/atlas/map` runs a PCA
and k-means, so a server answers repeated calls from JSON bytes until the catalog changes.

The key is `Catalog.state_digest()` (a hash over the rows these answers read), not a write counter: the catalog
changes through index jobs, the workers' ingest loop and hub crawls alike, and the digest sees them all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

from pydantic import BaseModel

from hubindex.catalog.store import Catalog

MAX_ANSWERS = 64  # maps of distinct families kept per catalog state


class AnswerCache:
    def __init__(self, max_answers: int = MAX_ANSWERS) -> None:
        self.max_answers = max_answers
        self._digest: str | None = None
        self._answers: dict[Hashable, bytes] = {}
        self._lock = threading.Lock()

    def json(self, catalog: Catalog, key: Hashable, compute: Callable[[], BaseModel]) -> bytes:
        """The answer's JSON for the catalog as it is now: cached, or computed and kept."""
        digest = catalog.state_digest()
        with self._lock:
            if digest != self._digest:
                self._digest, self._answers = digest, {}
            cached = self._answers.get(key)
        if cached is not None:
            return cached
        body = compute().model_dump_json().encode()  # errors (unknown family) propagate and are not cached
        with self._lock:
            if self._digest == digest:
                if len(self._answers) >= self.max_answers:
                    self._answers.pop(next(iter(self._answers)))
                self._answers[key] = body
        return body
