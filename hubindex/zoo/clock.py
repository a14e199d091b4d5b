"""The times a built zoo shows, as a hub or a copy would show them; truth.json always keeps the real ones.

Created times reach the catalog of local folders as the card's `created_at` if any, else the oldest weight file's
mtime (hubindex.indexer.stages). The zoo writes no card time, so file mtimes are what it controls:
- real: each model's files carry its upload time (every child after its parents);
- floor: as the Hub's createdAt: a model uploaded before 2022-03-02T23:29:04Z reports exactly that time;
- reset: every file of every model has one mtime (a day after the last upload), as after a copy or download.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hubindex.errors import HubindexError
from hubindex.ids import model_path
from hubindex.zoo.spec import ModelSpec

CLOCKS = ("real", "floor", "reset")
HUB_CREATED_FLOOR = datetime(2022, 3, 2, 23, 29, 4, tzinfo=UTC)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def real_time(spec: ModelSpec) -> datetime:
    return datetime.strptime(spec.created_at, TIME_FORMAT).replace(tzinfo=UTC)


def shown_times(plan: list[ModelSpec], clock: str) -> dict[str, datetime]:
    """The created time each model shows under `clock`."""
    if clock not in CLOCKS:
        raise HubindexError(f"unknown zoo clock {clock!r}; choose one of {', '.join(CLOCKS)}")
    real = {s.id: real_time(s) for s in plan}
    if clock == "floor":
        return {m: max(t, HUB_CREATED_FLOOR) for m, t in real.items()}
    if clock == "reset":
        copied = max(real.values()) + timedelta(days=1)
        return dict.fromkeys(real, copied)
    return real


def apply_clock(root: Path, plan: list[ModelSpec], clock: str) -> None:
    """Set every file (and folder) mtime of every model to the time it shows under `clock`."""
    for model, shown in shown_times(plan, clock).items():
        stamp = shown.timestamp()
        out = model_path(Path(root), model)
        for path in [*out.rglob("*"), out]:
            os.utime(path, (stamp, stamp))
