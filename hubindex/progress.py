"""How long-running library calls report progress: a `(stage, done, total)` callback. The library draws nothing;
the CLI (`cli/output.py`) turns the calls into bars on a terminal or plain lines in a log. Its own module, so that
indexing, crawling, zoo building and training report the same way without importing each other."""

from __future__ import annotations

from typing import Protocol


class ProgressCallback(Protocol):
    """Called as work finishes: `(stage, done, total)`; `total` 0 when not known in advance (a hub listing)."""

    def __call__(self, stage: str, done: int, total: int) -> None: ...
