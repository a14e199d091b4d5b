"""How the CLI prints: tables that fit a terminal and stay plain, aligned and unwrapped in a pipe or a log, and
progress bars (on a terminal's stderr only) fed by the library's `(stage, done, total)` callbacks."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table as RichTable

from hubindex.progress import ProgressCallback

# Wide enough that no row of a plain table wraps: a pipe has no width, and rich would assume 80 columns.
PLAIN_WIDTH = 100_000


def on_terminal(stream: Any = None) -> bool:
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty()


def make_console(stderr: bool = False) -> Console:
    """A console for the stream as it is now: rich on a terminal, plain text (no colour, no wrapping) otherwise."""
    stream = sys.stderr if stderr else sys.stdout
    if on_terminal(stream):
        return Console(file=stream)
    return Console(file=stream, width=PLAIN_WIDTH, no_color=True, highlight=False, emoji=False, soft_wrap=True)


class _Lazy:
    """`console.print(...)` on whatever sys.stdout (or stderr) is at the time of the call (tests swap them)."""

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr

    def __getattr__(self, name: str) -> Any:
        return getattr(make_console(self._stderr), name)


console = _Lazy()
err_console = _Lazy(stderr=True)


def Table(*columns: Any, **options: Any) -> RichTable:
    """rich's Table on a terminal; in a pipe, borderless with left-aligned title: plain aligned columns."""
    if on_terminal():
        return RichTable(*columns, **options)
    plain = {"box": None, "show_edge": False, "pad_edge": False, "header_style": "", "title_style": "",
             "title_justify": "left"}
    return RichTable(*columns, **{**options, **plain})


PLAIN_EVERY_S = 10.0  # at most one plain progress line per stage this often (a log is not a terminal)


@contextmanager
def progress_bars(enabled: bool = True) -> Iterator[ProgressCallback | None]:
    """A callback for the library's `(stage, done, total)` reports (total 0: not known). On a terminal's stderr it
    draws one bar per stage (count, elapsed, ETA); elsewhere it writes a plain `stage: done/total` line to stderr
    now and then and when a stage completes. Not `enabled` (e.g. with --json): None, nothing is shown."""
    if not enabled:
        yield None
        return
    if not on_terminal(sys.stderr):
        yield _plain_lines()
        return
    columns = (TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bars:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total or None)
            bars.update(tasks[stage], completed=done, total=total or None)

        yield update


def _plain_lines() -> ProgressCallback:
    last: dict[str, float] = {}

    def update(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        finished = total > 0 and done >= total
        if stage in last and not finished and now - last[stage] < PLAIN_EVERY_S:
            return
        if finished and last.get(stage) == math.inf:
            return  # said already
        last[stage] = math.inf if finished else now
        of = f"/{total}" if total else ""
        print(f"{stage}: {done}{of}", file=sys.stderr, flush=True)

    return update


__all__ = ["Table", "box", "console", "err_console", "make_console", "on_terminal", "progress_bars"]
