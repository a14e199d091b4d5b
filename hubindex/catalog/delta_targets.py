"""What `similar --by delta` reads of the asking model (status, error, family, embedding), held in memory for every
model at once, per catalog write stamp and method, for a long-lived server.

Read from DuckDB each time, that is two point lookups, about 3 ms of CPU at 100k models: more than the FAISS
search that follows (bench/http_similar.py, notes wt-core4). Here one query loads every model's row and embedding
(100k models of dim 64: about 26 MB, the size of the FAISS space itself) in a background thread; a request uses
the snapshot only when it was read at the catalog's current write stamp, else it asks DuckDB as before. So the
answer is the same either way, and a snapshot never outlives a write.

While the catalog keeps changing (an index run recording model after model) a reload would start after every
write; a reload therefore starts only once the time since the last one ended is at least RELOAD_GAP times what it
took, so reloading costs at most 1 / (1 + RELOAD_GAP) of a core however fast the catalog changes.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from hubindex.catalog.records import DeltaTarget
from hubindex.catalog.store import Catalog
from hubindex.status import ModelStatus

RELOAD_GAP = 4
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    stamp: int
    rows: dict[str, tuple[ModelStatus, str | None, str | None, int]]  # id -> status, error, family, row (-1: none)
    offsets: np.ndarray  # vector of row i: values[offsets[i]:offsets[i + 1]]
    values: np.ndarray  # float32, every embedding one after the other
    norms: np.ndarray

    def target(self, model_id: str) -> DeltaTarget | None:
        row = self.rows.get(model_id)
        if row is None:
            return None
        status, error, family, i = row
        if i < 0:
            return DeltaTarget(status=status, error=error, family=family, vector=None, norm=None)
        return DeltaTarget(status=status, error=error, family=family,
                           vector=self.values[self.offsets[i]:self.offsets[i + 1]].copy(), norm=float(self.norms[i]))


def _load(catalog: Catalog, method: str) -> _Snapshot:
    stamp = catalog.write_stamp  # before reading: a write during the read leaves this snapshot stale, never wrong
    columns = catalog.delta_target_columns(method)
    vectors = np.ma.getdata(columns["vector"])
    present = ~np.ma.getmaskarray(columns["vector"])
    sizes = np.array([len(v) if has else 0 for v, has in zip(vectors, present, strict=True)], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    kept = [np.asarray(v, dtype=np.float32) for v, has in zip(vectors, present, strict=True) if has]
    values = np.concatenate(kept) if kept else np.zeros(0, dtype=np.float32)
    norms = np.ma.filled(columns["norm"].astype(np.float64), np.nan)
    statuses = {s: ModelStatus(s) for s in set(columns["status"].tolist())}
    rows = {m: (statuses[s], e, f, i if has else -1) for i, (m, s, e, f, has) in enumerate(zip(
        columns["id"].tolist(), columns["status"].tolist(), columns["error"].tolist(), columns["family"].tolist(),
        present, strict=True))}
    return _Snapshot(stamp, rows, offsets, values, norms)


class DeltaTargets:
    """Snapshots of one catalog (per method), reloaded in a background thread after the catalog changed."""

    def __init__(self) -> None:
        self._snapshots: dict[str, _Snapshot] = {}
        self._lock = threading.Lock()
        self._loader: threading.Thread | None = None
        self._next_load = 0.0  # monotonic time before which no reload starts
        self._closed = False

    def target(self, catalog: Catalog, model_id: str, method: str) -> DeltaTarget | None:
        """As `catalog.delta_target`, from the snapshot when it is current (None: the model is not in the catalog)."""
        snapshot = self._snapshots.get(method)
        if snapshot is not None and snapshot.stamp == catalog.write_stamp:
            return snapshot.target(model_id)
        self._reload(catalog, method)
        return catalog.delta_target(model_id, method)

    def ready(self, catalog: Catalog, method: str = "hubindex") -> bool:
        snapshot = self._snapshots.get(method)
        return snapshot is not None and snapshot.stamp == catalog.write_stamp

    def _reload(self, catalog: Catalog, method: str) -> None:
        with self._lock:
            if self._closed or self._loader is not None or time.monotonic() < self._next_load:
                return
            self._loader = threading.Thread(target=self._run, args=(catalog.cursor_view(), method),
                                            name="hubindex-delta-targets", daemon=True)
            self._loader.start()

    def _run(self, view: Catalog, method: str) -> None:
        started = time.monotonic()
        try:
            self._snapshots[method] = _load(view, method)
        except Exception:  # the catalog closed under us, or a bad row: requests keep reading DuckDB
            log.exception("delta targets of %s not loaded", method)
        finally:
            view.close()
            took = time.monotonic() - started
            with self._lock:
                self._loader, self._next_load = None, time.monotonic() + RELOAD_GAP * took

    def close(self) -> None:
        """Stop reloading and wait for a running load (before the catalog closes)."""
        with self._lock:
            self._closed, loader = True, self._loader
        if loader is not None:
            loader.join(timeout=60)
