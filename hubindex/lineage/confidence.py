"""How sure each lineage answer is: one place, named constants, pure functions of the evidence.

A confidence should rank answers: wrong ones low. What makes an answer doubtful:
- a finetune: another candidate about as near (distance margin) or with a step about as clean (tail margin);
  an order that only the weights gave (created times tied or missing) is weaker than one the clock confirms;
  a parent whose own parent is about as near (child or sibling of it? Same-domain runs of one base line up, and
  a smaller run looks like the parent of a larger one).
- a merge: a loose fit (residual) or a small ratio-mode share (sparse merges).
- a re-save: a relative distance near the copy radius.
- a family root: chosen by the weights among members whose times tie (smallest norm), with a small norm gap.
"""

from __future__ import annotations

import numpy as np

from hubindex.status import BaseSource

FINETUNE_BASE = 0.6  # a finetune with no margin at all
FINETUNE_DISTANCE = 0.5  # weight of the distance margin (1 - nearest / runner-up)
FINETUNE_TAIL = 2.0  # weight of the tail margin (runner-up's step tail - chosen one's)
FINETUNE_RANGE = (0.3, 0.98)
FINETUNE_ALONE = 0.95  # no other allowed candidate
UNTIMED_PENALTY = 0.1  # the parent comes first only by distance from the root (times tie or are missing)
# Child of its parent or sibling of it: the distance to the parent over the distance to the parent's own parent.
# Up to ANCESTOR_FREE a step of its own; above, confidence falls by ANCESTOR_WEIGHT per unit of ratio.
ANCESTOR_FREE = 0.5
ANCESTOR_WEIGHT = 1.0
# Child or sibling by inherited noise (evidence.inherited_noise, parents.SIBLING_RESIDUAL): a child whose own step
# is as long as its parent's shows a residual correlation of CHILD_RESIDUAL (1 / sqrt 2), a sibling ~0. A chosen
# parent whose residual falls short of CHILD_RESIDUAL loses SIBLING_WEIGHT per unit short. When the test moved the
# choice to the parent's parent (residual below parents.SIBLING_RESIDUAL), the nearest candidate was overruled on
# purpose, so the distance margin says nothing; how far the residual sits below the cut takes its place.
CHILD_RESIDUAL = 0.71
SIBLING_WEIGHT = 1.0
# A finetune whose delta from its parent is low rank (low_rank.py: a merged LoRA): no other model differs from it
# by a low-rank update, so the parent is pinned whatever the distances said.
LOW_RANK_PARENT = 0.95
MERGE_RANGE = (0.5, 0.99)
SPARSE_MERGE_BASE = 0.7  # a sparse merge: this plus its weakest source's mode share
ROOT_BY_TIME = 1.0
ROOT_BY_WEIGHTS = 0.9  # the smallest norm among members whose times tie
RESAVE_FLOOR = 0.5
RESAVE_UNORDERED = 0.5  # same weights, same precision, tied or missing times: either could be the original
ADAPTER = {"declared": 0.95, "declared-checked": 0.9, "weights": 0.9, "probe-loss": 0.7}
ADAPTER_UNKNOWN = 0.5
# A base chosen by gradient alignment (indexer/adapter_base.py): ADAPTER_TIED when the runner-up aligns as well, rising
# by ADAPTER_MARGIN_WEIGHT per unit of relative margin (best - runner-up) / best up to ADAPTER_RANGE[1]. A margin of
# 0.15 (the best aligns 15 % better than any other candidate) reaches 0.8, the median right finetune's neighbourhood.
ADAPTER_TIED = 0.5
ADAPTER_MARGIN_WEIGHT = 2.0
ADAPTER_RANGE = (0.5, 0.95)
NO_FAMILY = 0.3


def finetune(distance_margin: float, tail_margin: float, alone: bool, timed: bool,
             ancestor_ratio: float = 0.0, sibling_residual: float | None = None, moved: bool = False) -> float:
    """High when every other candidate is farther and its step less like one optimizer run; near 0.5 when another
    is about as near or its step about as clean; lower when the parent's own parent is about as near, or when
    the model carries less of the parent's own noise than a child would (`sibling_residual`). `moved`: the
    nearest candidate was found to be a sibling and the choice moved to its parent."""
    if moved and sibling_residual is not None:
        distance_margin, tail_margin = max(0.0, 1 - sibling_residual / CHILD_RESIDUAL), max(0.0, tail_margin)
    value = FINETUNE_ALONE if alone else float(np.clip(
        FINETUNE_BASE + FINETUNE_DISTANCE * distance_margin + FINETUNE_TAIL * tail_margin, *FINETUNE_RANGE))
    value -= ANCESTOR_WEIGHT * max(0.0, ancestor_ratio - ANCESTOR_FREE)
    if sibling_residual is not None and not moved:
        value -= SIBLING_WEIGHT * max(0.0, CHILD_RESIDUAL - sibling_residual)
    return max(FINETUNE_RANGE[0], value if timed else value - UNTIMED_PENALTY)


def merge(residual: float, sparse_shares: list[float] | None) -> float:
    if sparse_shares:
        return float(min(MERGE_RANGE[1], SPARSE_MERGE_BASE + min(sparse_shares)))
    return float(np.clip(1 - residual, *MERGE_RANGE))


def resave(relative_distance: float, copy_max: float, ordered: bool = True) -> float:
    sure = float(np.clip(1 - relative_distance / copy_max, RESAVE_FLOOR, 1.0))
    return sure if ordered else min(sure, RESAVE_UNORDERED)


def adapter(base_source: str | None, margin: float | None = None) -> float:
    """By who decided the base; for gradient alignment, by the decision's margin (`models.base_margin`)."""
    if base_source == BaseSource.GRADIENT:
        return float(np.clip(ADAPTER_TIED + ADAPTER_MARGIN_WEIGHT * (margin or 0.0), *ADAPTER_RANGE))
    return ADAPTER.get(base_source or "", ADAPTER_UNKNOWN)
