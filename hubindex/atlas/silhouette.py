"""Silhouette of a clustering under cosine distance, in numpy only: the atlas map scores its k-means with it, and
the embedding evaluation its families (imported from here so a map does not load the evaluation's training code)."""

from __future__ import annotations

import numpy as np


def silhouette(vectors: np.ndarray, labels: list) -> float:
    """Mean silhouette under cosine distance; a point alone in its cluster scores 0. Vectorised: the mean distance
    of every point to every cluster is one matrix product (the atlas scores thousands of points this way)."""
    return silhouette_of_distances(cosine_distances(vectors), labels)


def cosine_distances(vectors: np.ndarray) -> np.ndarray:
    unit = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float64)
    distance = 1 - unit @ unit.T
    np.fill_diagonal(distance, 0.0)
    return distance


def silhouette_of_distances(distance: np.ndarray, labels: list) -> float:
    """Silhouette from a precomputed distance matrix (to score several labelings of the same points)."""
    names, index = np.unique(np.asarray(labels), return_inverse=True)
    onehot = np.zeros((len(labels), len(names)))
    onehot[np.arange(len(labels)), index] = 1.0
    counts = onehot.sum(axis=0)
    sums = distance @ onehot  # [point, cluster]: summed distance to the cluster's members
    rows = np.arange(len(labels))
    own = counts[index] - 1
    a = np.divide(sums[rows, index], own, out=np.zeros(len(labels)), where=own > 0)
    other = sums / counts
    other[rows, index] = np.inf
    b = other.min(axis=1)
    scores = np.where(own > 0, (b - a) / np.maximum(np.maximum(a, b), 1e-300), 0.0)
    return float(np.mean(scores))
