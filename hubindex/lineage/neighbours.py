"""Each family member's nearest members by weight distance, without an all-pairs distance matrix.

FAISS searches a PCA projection of the samples (at most REDUCED_DIMS dimensions; lossless while the family has no
more members than that, since n points span n - 1 dimensions), then the shortlist is re-ranked by exact distances
over every sampled coordinate. Cost O(n * k * d) plus one PCA, instead of O(n^2 * d).
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

REDUCED_DIMS = 128
SHORTLIST = 48  # candidates kept per model: parents, merge sources and re-save originals come from these


@dataclass
class Neighbours:
    index: np.ndarray  # [n, k] member indices, nearest first
    distance: np.ndarray  # [n, k] exact L2 distances of the scaled samples

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
        return Neighbours(np.zeros((n, 0), dtype=np.int64), np.zeros((n, 0)))
    reduced = np.ascontiguousarray(_project(scaled, REDUCED_DIMS))
    search = faiss.IndexFlatL2(reduced.shape[1])
    search.add(reduced)
    # Twice the shortlist from the projection, so projection error rarely drops a true neighbour before re-ranking.
    wide = min(n, 2 * k + 1)
    _, found = search.search(reduced, wide)
    index = np.empty((n, k), dtype=np.int64)
    distance = np.empty((n, k))
    for i in range(n):
        others = found[i][(found[i] != i) & (found[i] >= 0)]
        exact = np.linalg.norm(scaled[others] - scaled[i], axis=1)
        order = np.argsort(exact, kind="stable")[:k]
        index[i], distance[i] = others[order], exact[order]
    return Neighbours(index, distance)
