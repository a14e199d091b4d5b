"""A family of sampled weight vectors run through the lineage engine, with one created time each or all tied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from hubindex.lineage.answers import LineageEntry
from hubindex.lineage.engine import infer_family
from hubindex.lineage.family import Family

FLOOR = datetime(2022, 3, 2, 23, 29, 4, tzinfo=UTC)


def toy_family(ids: list[str], weights: np.ndarray, bounds: np.ndarray | None = None,
               start: datetime = FLOOR, step: timedelta = timedelta(hours=1)) -> Family:
    """Model ids[i] has weights[i] and is created at start + i x step (a zero step: every time tied); ids[0] is the
    family root; `bounds`: tensor boundaries of the samples, if the test needs per-tensor evidence."""
    rows = {m: {"id": m, "created_at": start + i * step, "dtype": "F32", "declared_base": None, "adapter_base": None,
                "base_source": None, "kind": "model", "base": None, "family": ids[0]} for i, m in enumerate(ids)}
    return Family(root=ids[0], ids=ids, raw=weights.astype(np.float32), scaled=weights, rows=rows, adapters=[],
                  kurtosis=np.zeros(len(ids)), bounds=bounds)


def infer_toy_family(weights: np.ndarray, tied: bool) -> tuple[list[str], dict[str, LineageEntry]]:
    """Model i is `t/m{i}`, created at the Hub's floor (tied) or i hours after it; row 0 is the family root."""
    ids = [f"t/m{i}" for i in range(len(weights))]
    family = toy_family(ids, weights, step=timedelta(0) if tied else timedelta(hours=1))
    return ids, {e.model: e for e in infer_family(family)}
