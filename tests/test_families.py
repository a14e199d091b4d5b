"""Family linking without an all-pairs matrix gives the all-pairs answer (pure numpy, no zoo)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from scipy.sparse.csgraph import connected_components

from hubindex.indexer import families
from hubindex.lineage.direction import choose_root


def _fans(rng: np.random.Generator, sizes: list[int], dim: int = 48) -> np.ndarray:
    """Families as pretrained roots (independent, norms 1..3) with finetunes a few percent away."""
    out = []
    for size in sizes:
        root = rng.normal(size=dim) * rng.uniform(1, 3) / np.sqrt(dim)
        steps = rng.normal(size=(size, dim)) * rng.uniform(0.01, 0.2, size=(size, 1)) * np.linalg.norm(root) \
            / np.sqrt(dim)
        out.append(root + steps)
    return rng.permutation(np.concatenate(out))


def test_neighbour_links_find_the_all_pairs_components(monkeypatch):
    rng = np.random.default_rng(5)
    scaled = _fans(rng, [150, 60, 7, 1, 1])
    _, labels = connected_components(families.pairwise_relative(scaled) < families.SAME_FAMILY, directed=False)
    expected = sorted((sorted(np.flatnonzero(labels == c).tolist()) for c in set(labels.tolist())),
                      key=lambda g: g[0])
    monkeypatch.setattr(families, "NEIGHBOURS", 4)  # far fewer than a family's members
    assert families.linked_groups(scaled) == expected
    monkeypatch.setattr(families, "PAIRS_AT_ONCE", 97)  # the pairs' distances over many chunks: the same links
    assert families.linked_groups(scaled) == expected
    assert len(expected) == 5


def test_root_among_many_tied_members_matches_the_full_matrix_choice(monkeypatch):
    rng = np.random.default_rng(6)
    scaled = _fans(rng, [300])
    rows = [{"created_at": datetime(2022, 3, 2), "dtype": "F32"} for _ in scaled]  # every time at the Hub's floor
    precision = np.zeros(len(scaled))
    times = np.full(len(scaled), rows[0]["created_at"].timestamp())
    monkeypatch.setattr(families, "CENTRAL_BLOCK", 64)  # several blocks
    assert families._earliest(rows, scaled) == choose_root(scaled, families.pairwise_relative(scaled), times,
                                                           precision)
