"""Families and the base each model's Delta Activations are taken against, found from the weights.

Full models with the same tensor layout are linked when their estimated weight distance is small relative to their
norms: finetunes, merges and re-saves of one pretrained model stay within a few percent of it, while models
pretrained from different initialisations sit about sqrt(2) apart. Each linked group is a family. Its root is the
model the group's cards declare as the common ancestor when the weights agree (it is in the group), else the
earliest-created member (Model Atlas: an earlier upload sits higher in the tree in 99.7 % of documented hub cases);
when several tie at the earliest time (the Hub's createdAt floor, a copied folder's one mtime) or a time is
missing, the tied member with the smallest weight norm (lineage/direction.py), full precision among re-saves.
Models of one architecture whose layouts differ only in some tensors' shapes (vocabulary-extended children) are
compared on the tensors they share. The lineage engine refines this with directed evidence
from the weights; a weight-only "centre of the fan" rule was measured and rejected: finetunes share a common drift
(weight decay, the same data format), so merges of finetunes look more central than the base itself.
Adapters get their base in `indexer/adapter_base.py`.
"""

from __future__ import annotations

import numpy as np

from hubindex.catalog import Catalog
from hubindex.catalog.samples import pairwise_distances, sample_vectors
from hubindex.indexer import adapter_base
from hubindex.indexer.assignment import Assignment
from hubindex.lineage.direction import choose_root
from hubindex.lineage.evidence import PRECISION
from hubindex.lineage.family import shared_samples

SAME_FAMILY = 0.5  # relative distance below which two models share a pretrained ancestor


def pairwise_relative(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1)
    scale = np.sqrt((norms[:, None] ** 2 + norms[None, :] ** 2) / 2) + 1e-12
    return pairwise_distances(vectors) / scale


def _components(linked: np.ndarray) -> list[list[int]]:
    seen, groups = set(), []
    for start in range(len(linked)):
        if start in seen:
            continue
        stack, group = [start], []
        seen.add(start)
        while stack:
            i = stack.pop()
            group.append(i)
            for j in np.flatnonzero(linked[i]):
                if int(j) not in seen:
                    seen.add(int(j))
                    stack.append(int(j))
        groups.append(sorted(group))
    return groups


def _declared_root(members: list[dict]) -> str | None:
    ids = {m["id"] for m in members}
    parent = {m["id"]: (m["declared_base"] or [None])[0] for m in members}
    roots = set()
    for model_id in ids:
        seen = {model_id}
        while parent.get(model_id) in ids and parent[model_id] not in seen:
            model_id = parent[model_id]
            seen.add(model_id)
        if parent.get(model_id) is None:
            roots.add(model_id)
    declared_children = any(parent[i] in ids for i in ids)
    return roots.pop() if len(roots) == 1 and declared_children else None


def assign(catalog: Catalog) -> dict[str, Assignment]:
    rows = catalog.models(ok_only=True)
    out: dict[str, Assignment] = {}
    roots: list[dict] = []
    for members, samples in _comparable(catalog, [r for r in rows if r["kind"] == "model"]):
        distance = pairwise_relative(np.stack([scaled for _, scaled in samples]))
        for group in _components(distance < SAME_FAMILY):
            group_rows = [members[i] for i in group]
            root = _declared_root(group_rows)
            source = "declared"
            if root is None:
                source = "weights"
                root = group_rows[_earliest(group_rows, np.stack([samples[i][1] for i in group]),
                                            distance[np.ix_(group, group)])]["id"]
            for m in group_rows:
                out[m["id"]] = Assignment(root, root if m["id"] != root else None, source if m["id"] != root else None)
            roots.append(next(m for m in group_rows if m["id"] == root))
    out.update(adapter_base.assign_all(catalog, [r for r in rows if r["kind"] == "adapter"], roots, dict(out)))
    return out


def _comparable(catalog: Catalog, rows: list[dict]) -> list[tuple[list[dict], list[tuple[np.ndarray, np.ndarray]]]]:
    """Full models in groups whose samples line up, with their (raw, scaled) samples: one group per set of tensor
    names, compared on the tensors whose shapes all members share (a vocabulary-extended child differs from its
    parent only in the embeddings' rows), else one group per layout."""
    by_names: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        by_names.setdefault(tuple(t["name"] for t in catalog.tensor_stats(row["id"])), []).append(row)
    out = []
    for members in by_names.values():
        shared = shared_samples(catalog, [m["id"] for m in members]) \
            if len({m["layout"] for m in members}) > 1 else None
        if shared is not None:
            out.append((members, list(zip(*shared, strict=True))))
            continue
        by_layout: dict[str, list[dict]] = {}
        for row in members:
            by_layout.setdefault(row["layout"], []).append(row)
        out += [(group, [sample_vectors(catalog, m["id"]) for m in group]) for group in by_layout.values()]
    return out


def _earliest(rows: list[dict], scaled: np.ndarray, distance: np.ndarray) -> int:
    """Position of the group's root: the earliest created, or by the weights among members whose created times
    tie or are missing (lineage/direction.py), preferring full precision among re-saves."""
    times = np.array([r["created_at"].timestamp() if r["created_at"] else np.nan for r in rows])
    precision = np.array([PRECISION.get(r["dtype"], 0) for r in rows])
    return choose_root(scaled, distance, times, precision)
