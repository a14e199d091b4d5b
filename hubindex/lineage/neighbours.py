"""Each family member's nearest members by weight distance, without an all-pairs distance matrix.

FAISS searches a PCA projection of the samples (at most REDUCED_DIMS dimensions; lossless while the family has no
more members than that, since n points span n - 1 dimensions), then the shortlist is re-ranked by exact distances
over every sampled coordinate. Cost O(n * k * d) plus one PCA, instead of O(n^2 * d).
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

REDUCED_DIMS = 256
NEAR = 0.02  # relative distance under which re-ranked distances are recomputed in float64 (copies: < 0.01)
SHORTLIST = 48  # candidates kept per model: parents, merge sources and re-save originals come from these


@dataclass
class Neighbours:
    index: np.ndarray  # [n, k] member indices, nearest first
    distance: np.ndarray  # [n, k] exact L2 distances of the scaled samples
    reduced: np.ndarray  # [n, <= REDUCED_DIMS] float32 coordinates in the top principal directions

    def of(self, member: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index[member], self.distance[member]


def _project(vectors: np.ndarray, dims: int) -> np.ndarray:
    """Coordinates in the top principal directions (rows centred), from the eigenvectors of the smaller of the
    two Gram matrices (n x n or d x d)."""
    centred = vectors - vectors.mean(axis=0)
    n, d = centred.shape
    if n <= d:
        values, vectors_ = np.linalg.eigh(centred @ centred.T)
        top = np.argsort(values)[::-1][:dims]
        return (vectors_[:, top] * np.sqrt(np.maximum(values[top], 0.0))).astype(np.float32)
    values, vectors_ = np.linalg.eigh(centred.T @ centred)
    return (centred @ vectors_[:, np.argsort(values)[::-1][:dims]]).astype(np.float32)


def nearest_members(scaled: np.ndarray, k: int = SHORTLIST) -> Neighbours:
    """k nearest other members of every member (fewer when the family is smaller)."""
    n = len(scaled)
    k = min(k, n - 1)
    if k <= 0:
        return Neighbours(np.zeros((n, 0), dtype=np.int64), np.zeros((n, 0)), np.zeros((n, 0), dtype=np.float32))
    reduced = np.ascontiguousarray(_project(scaled, REDUCED_DIMS))
    search = faiss.IndexFlatL2(reduced.shape[1])
    search.add(reduced)
    # More than the shortlist from the projection, so projection error rarely drops a true neighbour before
    # re-ranking.
    wide = min(n, 2 * k + 1)
    _, found = search.search(reduced, wide)
    return Neighbours(*_rerank(scaled, found, k), reduced)


def _rerank(scaled: np.ndarray, found: np.ndarray, k: int, block: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest of each row's FAISS candidates by exact distance: |a|^2 + |b|^2 - 2 a.b in float32, one
    batched product per small block of rows (the gathered candidates stay in cache; a difference array per block
    would not). Distances below NEAR of a row's norm, where that formula cancels (copies), are recomputed from
    float64 differences."""
    n = len(scaled)
    found = np.where(found < 0, np.arange(n)[:, None], found)  # FAISS pads with -1; treated like the row itself
    single = scaled.astype(np.float32)
    squares = np.einsum("ij,ij->i", scaled, scaled)
    index = np.empty((n, k), dtype=np.int64)
    distance = np.empty((n, k))
    for a in range(0, n, block):
        rows = found[a:a + block]
        dots = np.matmul(single[rows], single[a:a + block, :, None])[..., 0]
        exact = np.sqrt(np.maximum(squares[rows] + squares[a:a + block, None] - 2 * dots, 0.0))
        exact[rows == np.arange(a, a + len(rows))[:, None]] = np.inf  # never its own neighbour
        order = np.argsort(exact, axis=1, kind="stable")[:, :k]
        index[a:a + block] = np.take_along_axis(rows, order, axis=1)
        distance[a:a + block] = np.take_along_axis(exact, order, axis=1)
    near = distance < NEAR * np.sqrt(squares)[:, None]
    rows, columns = np.nonzero(near)
    distance[rows, columns] = np.linalg.norm(scaled[index[rows, columns]] - scaled[rows], axis=1)
    return index, distance
