"""A write stamp per catalog file: a number that changes after every statement that may write it, so answers
cached from the catalog (the atlas, `/similar`) know they are stale without scanning a table.

DuckDB lets one process hold a file read-write and refuses every other process (readers included) while it does,
so while a catalog is open every write to it goes through a connection of this process, and counting them here
sees them all: index jobs, the workers' ingest loop, hub crawls. A file may change between two openings, so opening
a catalog moves the stamp too. Stamps are fresh numbers from one counter (never a count that two threads could
both raise to the same value): an answer cached under a stamp is served only while no write came after it.
"""

from __future__ import annotations

import itertools
from typing import Any

import duckdb

_TICKS = itertools.count(1)
_STAMPS: dict[str, int] = {}


def touch(key: str) -> None:
    """The catalog at `key` (its resolved path) changed, or may have."""
    _STAMPS[key] = next(_TICKS)


def stamp(key: str) -> int:
    return _STAMPS.get(key, 0)


def _reads_only(sql: str) -> bool:
    return sql.lstrip()[:6].upper() == "SELECT"


class TrackedConnection:
    """A DuckDB connection (or cursor) that moves its file's stamp after each statement other than a SELECT, once
    the statement has returned (committed, outside a transaction; a transaction's COMMIT moves it again)."""

    __slots__ = ("_con", "_key")

    def __init__(self, con: duckdb.DuckDBPyConnection, key: str) -> None:
        self._con, self._key = con, key

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> duckdb.DuckDBPyConnection:
        result = self._con.execute(sql, *args, **kwargs)
        if not _reads_only(sql):
            touch(self._key)
        return result

    def executemany(self, sql: str, *args: Any, **kwargs: Any) -> duckdb.DuckDBPyConnection:
        result = self._con.executemany(sql, *args, **kwargs)
        touch(self._key)
        return result

    def cursor(self) -> TrackedConnection:
        return TrackedConnection(self._con.cursor(), self._key)

    def close(self) -> None:
        self._con.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)
