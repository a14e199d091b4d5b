"""Evidence on whole runs, tensor by tensor (pure numpy): does a model hold a candidate parent's step everywhere?

A child C of P holds P's whole step from P's own parent Q in every tensor: (C - Q)_t = (P - Q)_t + (C - P)_t, and
its own step (C - P) adds to each tensor's coefficient on P's step about alike (nearly orthogonal to it in a new
domain, a similar share of it everywhere when the run continues P's domain). So the coefficient of (C - Q)_t on
(P - Q)_t is about the same in every tensor. A sibling S of P (both trained from Q) shares only a direction with
P, and how much of P's step it shares differs from tensor to tensor: embeddings, attention and MLP layers adapt
differently to two domains, two learning rates or two run lengths. Distance and angle cannot see this: three
points fit a chain and a fan alike, and a long run from Q often lies beyond a shorter run of Q by both (it goes far
enough that the shorter run seems to be on its way).

Measured on the design catalogs 105-110 (real clock, every true child of a finetune, 102 pairs): relative spread
0.013-0.24 (median 0.06); a long run beside a continued pretraining run of its root 0.43. Same-domain siblings of
one sweep are often as uniform as a child (median 0.16, 5 % under 0.04): this test can only reject a parent, never
prove one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hubindex.lineage.context import Context

# Relative spread (weighted standard deviation over the mean) of per-tensor coefficients above which a candidate's
# step is not held whole: above every true child of a finetune on the design catalogs (max 0.24) with room for
# tensors sampled more thinly than there, and far under the spread of a different-domain sibling (0.4 and more).
SPREAD_MAX = 0.3


def held_spread(child_step: np.ndarray, parent_step: np.ndarray, bounds: np.ndarray) -> float:
    """Relative spread over tensors of the coefficient of `child_step` on `parent_step` (both steps from the
    candidate parent's own parent, scaled samples; `bounds` as Family.bounds). Each tensor weighs by its share of
    the parent's step (a tensor the parent barely moved has a noisy coefficient). 0 when the parent's step is empty.
    """
    starts = bounds[:-1][np.diff(bounds) > 0]
    if not len(starts):
        return 0.0
    both = np.add.reduceat(child_step * parent_step, starts)
    own = np.add.reduceat(parent_step * parent_step, starts)
    moved = own > 0
    if not moved.any():
        return 0.0
    coefficient, weight = both[moved] / own[moved], own[moved] / own[moved].sum()
    mean = float(weight @ coefficient)
    spread = float(np.sqrt(weight @ (coefficient - mean) ** 2))
    return spread / abs(mean) if mean else float("inf")


def holds_whole(child_step: np.ndarray, parent_step: np.ndarray, bounds: np.ndarray | None) -> bool:
    """Does a model hold a candidate parent's whole step, tensor by tensor (held_spread within SPREAD_MAX)? True
    when the samples have no tensor structure (nothing to test). Used for merges as parents: a merge lies inside
    its sources' hull, near the root, so where created times tie or are missing distance from the root puts it
    before most of the family, and held_share (one coefficient per source over all tensors) passes a run of the
    root that shares every source's direction unevenly (s113 floor and reset: the root's continued pretraining
    beside a linear merge of three domain runs: held spread 0.76). A child of the merge holds the merge's step from
    the root in every tensor alike (runs.py's argument, with the root as the merge's own parent)."""
    return bounds is None or held_spread(child_step, parent_step, bounds) <= SPREAD_MAX


LINE_DEPTH = 16  # decided ancestors walked at most to find a line's first member (a bound on the cost per decision)


def run_of_root(ctx: Context, index: int, chosen: int) -> tuple[int, float] | None:
    """(A, its held spread): A is the first member of `chosen`'s decided line (the root's child it descends from),
    returned when model `index` does not hold A's step from the root whole (held_spread above SPREAD_MAX) and the
    clock does not put `chosen` before the model; else None. Then the model is a run of the root beside the line, not
    a descendant of it: a descendant holds every ancestor's step in every tensor, the first one's included. Where
    times tie, distance from the root orders the decisions (direction.py), so a long run from the root comes after
    every member of a same-domain line and can choose a deep one: its step beyond the line's last member is held
    evenly (0.20-0.29 on the design catalogs' reset clock), the line's first step is not (0.30-0.35; true children of
    a finetune of a finetune: at most 0.27 at any level, 45 on the real clocks of 105-113). Only the first step is
    read, and only the root is the answer: testing every level moved true children of a wrongly decided member
    (s106-reset: children of a bf16 finetune given a short run's child) off their right parent."""
    if chosen == ctx.root or ctx.clock_orders([chosen], index):
        return None
    first = chosen
    for _ in range(LINE_DEPTH):
        above = int(ctx.parent[first])
        if above < 0:
            return None  # a merge or re-save on the way: no line of finetunes to read
        if above == ctx.root:
            break
        first = above
    else:
        return None
    if first == chosen:
        return None  # the held walk in choose_parent already tested this step
    scaled = ctx.fam.scaled
    spread = held_spread(scaled[index] - scaled[ctx.root], scaled[first] - scaled[ctx.root], ctx.fam.bounds)
    return (first, spread) if spread > SPREAD_MAX else None
