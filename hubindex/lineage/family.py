"""One family's weight samples in memory: the raw and scaled sampled coordinates of every full model.

All full models of a family share a tensor layout, so their samples line up coordinate by coordinate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from hubindex.catalog import Catalog
from hubindex.catalog.samples import sample_vectors


@dataclass
class Family:
    root: str
    ids: list[str]  # full models, root first
    raw: np.ndarray  # [n, d] float32 sampled values as stored
    scaled: np.ndarray  # [n, d] float64, L2 distances estimate full weight distances
    rows: dict[str, dict]  # catalog rows of members and adapters
    adapters: list[str]
    kurtosis: np.ndarray  # [n] mean kurtosis of 2-D tensors (MoTHer's direction signal)
    _positions: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._positions = {m: i for i, m in enumerate(self.ids)}

    def index(self, model_id: str) -> int:
        return self._positions[model_id]

    def created(self, model_id: str) -> datetime | None:
        return self.rows[model_id]["created_at"]


def load_family(catalog: Catalog, root: str, members: list[dict]) -> Family:
    full = sorted((m for m in members if m["kind"] == "model"), key=lambda m: (m["id"] != root, m["id"]))
    raw, scaled, kurt = [], [], []
    for row in full:
        values, scaled_values = sample_vectors(catalog, row["id"])
        raw.append(values)
        scaled.append(scaled_values)
        stats = [t for t in catalog.tensor_stats(row["id"]) if len(t["shape"]) == 2]
        kurt.append(float(np.mean([t["kurtosis"] for t in stats])) if stats else 0.0)
    return Family(root=root, ids=[r["id"] for r in full], raw=np.stack(raw).astype(np.float32),
                  scaled=np.stack(scaled).astype(np.float64), rows={m["id"]: m for m in members},
                  adapters=[m["id"] for m in members if m["kind"] == "adapter"], kurtosis=np.array(kurt))


def families(catalog: Catalog) -> list[Family]:
    groups: dict[str, list[dict]] = {}
    for row in catalog.models(ok_only=True):
        if row["family"]:
            groups.setdefault(row["family"], []).append(row)
    # An adapter with no base found is a group of its own without a full model: nothing to infer from its weights.
    return [load_family(catalog, root, members) for root, members in sorted(groups.items())
            if any(m["kind"] == "model" for m in members)]
