"""Each family member's nearest members by weight distance, without an all-pairs distance matrix.

A PCA projection of the samples (at most REDUCED_DIMS dimensions; lossless while the family has no more members
than that, since n points span n - 1 dimensions) gives each member WIDE * k candidates, which are re-ranked by exact
distances over every sampled coordinate (FAISS). Cost O(n^2 * REDUCED_DIMS) in BLAS plus O(n * k * d), instead of
O(n^2 * d).

Members created known-later than a model are neither its parent nor its merge sources, so with created times the
shortlist holds the nearest members that may have come first, and only then later ones (to fill it): in a large
family a model's nearest members are mostly its own children and its siblings' later runs, and the parent fell out
of a shortlist of nearest-of-all (bench at 10k models: half of the missed chain parents sat within the 48 nearest
earlier models but ranked ~140th by projected distance among all).
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

REDUCED_DIMS = 256
NEAR = 0.02  # relative distance under which re-ranked distances are recomputed in float64 (copies: < 0.01)
SHORTLIST = 48  # candidates kept per model: parents, merge sources and re-save originals come from these
WIDE = 4  # projected candidates per shortlisted one: the projection misorders near neighbours, the exact rerank not
SEARCH_ROWS = 512  # rows per block of the projected search (a [block, n] float32 distance matrix)


@dataclass
class Neighbours:
    index: np.ndarray  # [n, k] member indices: those not created later first, nearest first within each part
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


def _later(times: np.ndarray | None, rows: slice) -> np.ndarray | bool:
    """[rows, n]: was each member created after the row's model? Unknown times (NaN) never say so."""
    if times is None:
        return False
    return times[None, :] > times[rows, None]


def nearest_members(scaled: np.ndarray, k: int = SHORTLIST, times: np.ndarray | None = None) -> Neighbours:
    """k nearest other members of every member (fewer when the family is smaller); with `times` (created, seconds,
    NaN where unknown), members created later come after all others."""
    n = len(scaled)
    k = min(k, n - 1)
    if k <= 0:
        return Neighbours(np.zeros((n, 0), dtype=np.int64), np.zeros((n, 0)), np.zeros((n, 0), dtype=np.float32))
    reduced = np.ascontiguousarray(_project(scaled, REDUCED_DIMS))
    wide = min(n - 1, WIDE * k)
    squares = np.einsum("ij,ij->i", reduced, reduced)
    # Later members sort after every other one: their squared distances are raised past the largest possible one.
    later_offset = np.float32(4 * squares.max() + 1)
    search = _search_by_time if times is not None and not np.isnan(times).any() else _search_all
    found = search(reduced, squares, times, wide, later_offset)
    return Neighbours(*_rerank(scaled, found, k, times), reduced)


def _search_all(reduced: np.ndarray, squares: np.ndarray, times: np.ndarray | None, wide: int,
                later_offset: np.float32, block: int = SEARCH_ROWS) -> np.ndarray:
    """[n, wide] members with the smallest projected keys (squared distance, raised by later_offset where a
    member was created later), each row against every column."""
    n = len(reduced)
    found = np.empty((n, wide), dtype=np.int64)
    for a in range(0, n, block):
        rows = slice(a, min(n, a + block))
        product = reduced[rows] @ reduced.T
        np.multiply(product, 2, out=product)  # (|a|^2 + |b|^2) - 2 a.b in place, one [block, n] array
        key = np.add(squares[rows, None], squares[None, :])
        np.subtract(key, product, out=key)
        if times is not None:  # the offset added where a member is later (adding 0 elsewhere changed nothing)
            np.add(key, later_offset, out=key, where=_later(times, rows))
        key[np.arange(key.shape[0]), np.arange(rows.start, rows.stop)] = np.inf  # never its own neighbour
        found[rows] = np.argpartition(key, wide - 1, axis=1)[:, :wide]
    return found


def _search_by_time(reduced: np.ndarray, squares: np.ndarray, times: np.ndarray, wide: int,
                    later_offset: np.float32, block: int = SEARCH_ROWS) -> np.ndarray:
    """The projected search when every created time is known: rows in time order, each block of rows against the
    members created no later than its last row only (a prefix in time order; about half the products, keys and
    selections of searching every column). Later members rank after all others, so a model with at least `wide`
    members not created after it never selects one beyond the prefix; blocks with a model that has fewer search
    every column, as _search_all does. The products come from other BLAS calls than the untimed search's,
    so projected distances may differ in their last float32 bits (the exact re-rank follows)."""
    n = len(reduced)
    order = np.argsort(times, kind="stable")
    by_time, squares, sorted_times = reduced[order], squares[order], times[order]
    # Members not created after each one (itself included): it may choose among count - 1 of them.
    count = np.searchsorted(sorted_times, sorted_times, side="right")
    found = np.empty((n, wide), dtype=np.int64)
    for a in range(0, n, block):
        b = min(n, a + block)
        columns = n if count[a] - 1 < wide else int(count[b - 1])
        # The untimed search's key, (|a|^2 + |b|^2) - 2 a.b, computed in place (the same float32 operations).
        product = by_time[a:b] @ by_time[:columns].T
        np.multiply(product, 2, out=product)
        key = np.add(squares[a:b, None], squares[None, :columns])
        np.subtract(key, product, out=key)
        # Rows are in time order, so each row's later members are the columns from its count on.
        for row, first in enumerate(count[a:b].tolist()):
            if first < columns:
                key[row, first:] += later_offset
        key[np.arange(b - a), np.arange(a, b)] = np.inf  # never its own neighbour
        found[order[a:b]] = order[np.argpartition(key, wide - 1, axis=1)[:, :wide]]
    return found


def _rerank(scaled: np.ndarray, found: np.ndarray, k: int, times: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest of each row's candidates by exact distance over every sampled coordinate (members created
    later last): FAISS's fvec_L2sqr_by_idx sums squared float32 differences for every (row, candidate) pair in one
    C call (no gathered [n, wide, d] copies in Python). Distances below NEAR of a row's norm (copies), where float32
    is too coarse for the re-save tests, are recomputed from float64 differences."""
    n, wide = found.shape
    found = np.ascontiguousarray(found, dtype=np.int64)
    single = np.ascontiguousarray(scaled, dtype=np.float32)
    # Rows in the order of their smallest candidate index: neighbouring rows then share candidates, whose samples
    # are still in cache (0.8 -> 0.45 s at 10k models). Each pair's sum is the same whatever the order.
    visit = np.argsort(found.min(axis=1), kind="stable")
    queries, candidates = single[visit], np.ascontiguousarray(found[visit])
    squared_visited = np.empty((n, wide), dtype=np.float32)
    faiss.fvec_L2sqr_by_idx(faiss.swig_ptr(squared_visited), faiss.swig_ptr(queries), faiss.swig_ptr(single),
                            faiss.swig_ptr(candidates), single.shape[1], n, wide)
    squared = np.empty_like(squared_visited)
    squared[visit] = squared_visited
    exact = np.sqrt(squared.astype(np.float64))
    later = np.zeros(found.shape, dtype=bool) if times is None else times[found] > times[:, None]
    # Equal distances (a model and its exact copy) in member order: the order the search found them in depends on
    # the search's blocks.
    order = np.lexsort((found, exact, later), axis=1)[:, :k]
    index = np.take_along_axis(found, order, axis=1)
    distance = np.take_along_axis(exact, order, axis=1)
    near = distance < NEAR * np.linalg.norm(scaled, axis=1)[:, None]
    rows, columns = np.nonzero(near)
    distance[rows, columns] = _pair_distances(scaled, rows, index[rows, columns])
    return index, distance


def _pair_distances(vectors: np.ndarray, rows: np.ndarray, others: np.ndarray, block: int = 1024) -> np.ndarray:
    """np.linalg.norm(vectors[others] - vectors[rows], axis=1), to the last bit (the same products, summed along
    each row alike), in blocks of pairs: the gathered [pairs, d] differences of a large family (23,000 near pairs
    at 10k models on the bench, 190 MB) no longer pass through memory three times (0.76 -> 0.17 s)."""
    out = np.empty(len(rows))
    for start in range(0, len(rows), block):
        part = slice(start, start + block)
        step = vectors[others[part]] - vectors[rows[part]]
        np.multiply(step, step, out=step)
        out[part] = np.sqrt(np.add.reduce(step, axis=1))
    return out
