"""Direction from the weights when created times cannot give it (pure numpy decisions).

Created times are evidence, not an oracle: repos created before 2022-03-02 all report the Hub's createdAt floor,
and a copied or downloaded folder can carry one mtime for every file. Where times tie or are missing:

- the family root is the tied member with the smallest weight norm: pretraining ends at the root, and a finetune's
  step is nearly orthogonal to the weights it starts from, so it adds to the norm (|P + step|^2 ~ |P|^2 +
  |step|^2); merges, re-saves and continued pretraining add too. Measured (design zoos: tiny seed 7, realistic
  tiny seed 1): the root has the smallest norm in 6 of 6 families, the runner-up 1.7-44 squared units above it.
  The median step tail (most single-run neighbours) was tried first: right on the tiny zoo, wrong on all three
  realistic families (sweeps of one domain differ by steps as clean as one run). A finetune with strong weight
  decay can shrink the norm: not seen on the design zoos.
- the order between two models is their distance from the root: a finetune moves away from its parent, so along
  every chain the distance from the root grows. Merges are the exception (they lie inside their sources' hull,
  nearer the root), so merge sources are not bound by this order (`not_after`): non-negative merge weights give
  the direction there.
"""

from __future__ import annotations

import numpy as np

from hubindex.lineage.evidence import COPY_MAX

ROOT_CANDIDATES = 64  # members compared at most (the most central by distance, when more tie)


def tied_earliest(times: np.ndarray) -> np.ndarray:
    """Members that time cannot tell apart as the earliest: every member when any time is missing, else those at
    the earliest time."""
    if np.isnan(times).any():
        return np.arange(len(times))
    return np.flatnonzero(times == times.min())


def choose_root(scaled: np.ndarray, distance: np.ndarray, times: np.ndarray, precision: np.ndarray) -> int:
    """Family root: the earliest member when time names one, else the tied member with the smallest weight norm
    (a finetune's step is nearly orthogonal to the weights it starts from, so every descendant's norm is larger).
    `distance` is relative (re-saves within COPY_MAX); a re-save of the chosen one in higher precision replaces it."""
    tied = tied_earliest(times)
    if len(tied) == 1:
        return int(tied[0])
    if len(tied) > ROOT_CANDIDATES:  # keep the most central ones: a root sits near its family's middle
        tied = tied[np.argsort(distance[np.ix_(tied, tied)].mean(axis=1))[:ROOT_CANDIDATES]]
    best = int(tied[int(np.argmin(np.einsum("ij,ij->i", scaled[tied], scaled[tied])))])
    # Re-saves of the best (same weights, rounded) are about as small; the original is the more precise one.
    same = tied[distance[best, tied] < COPY_MAX]
    return int(same[np.lexsort((same, -precision[same]))][0]) if len(same) else best


def weight_order(times: np.ndarray, root_distance: np.ndarray) -> np.ndarray:
    """Rank of every member in creation order as far as the evidence goes: created time first when every member
    has one, distance from the root between members whose times tie (or for all, when some time is missing)."""
    if np.isnan(times).any():
        order = np.lexsort((np.arange(len(times)), root_distance))
    else:
        order = np.lexsort((np.arange(len(times)), root_distance, times))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank
