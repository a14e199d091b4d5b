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

import faiss
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from hubindex.catalog import Catalog
from hubindex.catalog.samples import sample_vectors
from hubindex.indexer import adapter_base
from hubindex.indexer.assignment import Assignment
from hubindex.lineage.direction import ROOT_CANDIDATES, choose_root, tied_earliest
from hubindex.lineage.evidence import PRECISION
from hubindex.lineage.family import shared_samples

SAME_FAMILY = 0.5  # relative distance below which two models share a pretrained ancestor
NEIGHBOURS = 64  # nearest models checked per model: a family is a tight cluster, so its links are among them
# Neighbour pairs whose distances are computed at once: gathering every pair's two vectors at once cost ~16 KB
# a model (bench/index_scale.py: 2.2 GB peak at 100k models, so ~20 GB at 1M); a chunk bounds it.
PAIRS_AT_ONCE = 1 << 20
HNSW_FROM = 50_000  # models of one layout above which neighbours come from an HNSW graph, not exact search
CENTRAL_BLOCK = 1024  # rows per block when ranking many tied members by mean distance


def pairwise_relative(vectors: np.ndarray) -> np.ndarray:
    return relative_between(vectors, vectors)


def relative_between(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Relative distances between every row of `rows` and of `cols`: L2 over the RMS of the two norms."""
    row_sq, col_sq = np.einsum("ij,ij->i", rows, rows), np.einsum("ij,ij->i", cols, cols)
    distance = np.sqrt(np.maximum(row_sq[:, None] + col_sq[None, :] - 2 * (rows @ cols.T), 0.0))
    return distance / (np.sqrt((row_sq[:, None] + col_sq[None, :]) / 2) + 1e-12)


def linked_groups(scaled: np.ndarray) -> list[list[int]]:
    """Connected components of "relative distance < SAME_FAMILY", without an n x n matrix: each model's NEIGHBOURS
    nearest (FAISS, exact up to HNSW_FROM) are tested exactly, and the links found are joined. Groups come in order
    of their first member, members sorted (the order the all-pairs version gave)."""
    n = len(scaled)
    if n == 0:
        return []
    data = np.ascontiguousarray(scaled, dtype=np.float32)
    if n >= HNSW_FROM:
        index = faiss.IndexHNSWFlat(data.shape[1], 32)
        index.hnsw.efSearch = max(128, NEIGHBOURS)
    else:
        index = faiss.IndexFlatL2(data.shape[1])
    index.add(data)
    _, found = index.search(data, min(n, NEIGHBOURS + 1))
    source = np.repeat(np.arange(n), found.shape[1])
    target = found.ravel()
    keep = (target >= 0) & (target != source)
    source, target = source[keep], target[keep]
    squares = np.einsum("ij,ij->i", scaled, scaled)
    linked = np.empty(len(source), dtype=bool)
    for start in range(0, len(source), PAIRS_AT_ONCE):  # the gathered pairs, not n x NEIGHBOURS x dim at once
        s, t = source[start:start + PAIRS_AT_ONCE], target[start:start + PAIRS_AT_ONCE]
        dots = np.einsum("ij,ij->i", scaled[s], scaled[t])
        distance = np.sqrt(np.maximum(squares[s] + squares[t] - 2 * dots, 0.0))
        linked[start:start + PAIRS_AT_ONCE] = distance / (np.sqrt((squares[s] + squares[t]) / 2) + 1e-12) < SAME_FAMILY
    graph = coo_matrix((np.ones(int(linked.sum())), (source[linked], target[linked])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels.tolist()):
        groups.setdefault(label, []).append(i)
    return sorted(groups.values(), key=lambda g: g[0])


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
        scaled = np.stack([s for _, s in samples])
        for group in linked_groups(scaled):
            group_rows = [members[i] for i in group]
            root = _declared_root(group_rows)
            source = "declared"
            if root is None:
                source = "weights"
                root = group_rows[_earliest(group_rows, scaled[group])]["id"]
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


def _earliest(rows: list[dict], scaled: np.ndarray) -> int:
    """Position of the group's root: the earliest created, or by the weights among members whose created times
    tie or are missing (lineage/direction.py), preferring full precision among re-saves. Distances are computed
    only between the tied members (at most ROOT_CANDIDATES of them, the most central, when more tie)."""
    times = np.array([r["created_at"].timestamp() if r["created_at"] else np.nan for r in rows])
    precision = np.array([PRECISION.get(r["dtype"], 0) for r in rows])
    tied = tied_earliest(times)
    if len(tied) == 1:
        return int(tied[0])
    if len(tied) > ROOT_CANDIDATES:  # choose_root's own cut, by mean distance, computed in blocks of rows
        mean = np.concatenate([relative_between(scaled[tied[i:i + CENTRAL_BLOCK]], scaled[tied]).mean(axis=1)
                               for i in range(0, len(tied), CENTRAL_BLOCK)])
        tied = tied[np.argsort(mean)[:ROOT_CANDIDATES]]
    chosen = choose_root(scaled[tied], pairwise_relative(scaled[tied]), times[tied], precision[tied])
    return int(tied[chosen])
