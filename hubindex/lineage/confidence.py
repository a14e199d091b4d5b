"""How sure each lineage answer is: one place, named constants, pure functions of the evidence.

A confidence should rank answers: wrong ones low. What makes an answer doubtful:
- a finetune: another candidate about as near (distance margin) or with a step about as clean (tail margin);
  an order that only the weights gave (created times tied or missing) is weaker than one the clock confirms.
- a merge: a loose fit (residual) or a small ratio-mode share (sparse merges).
- a re-save: a relative distance near the copy radius.
- a family root: chosen by the weights among members whose times tie (smallest norm), with a small norm gap.
"""

from __future__ import annotations

import numpy as np

FINETUNE_BASE = 0.6  # a finetune with no margin at all
FINETUNE_DISTANCE = 0.5  # weight of the distance margin (1 - nearest / runner-up)
FINETUNE_TAIL = 2.0  # weight of the tail margin (runner-up's step tail - chosen one's)
FINETUNE_RANGE = (0.3, 0.98)
FINETUNE_ALONE = 0.95  # no other allowed candidate
UNTIMED_PENALTY = 0.1  # the parent comes first only by distance from the root (times tie or are missing)
MERGE_RANGE = (0.5, 0.99)
SPARSE_MERGE_BASE = 0.7  # a sparse merge: this plus its weakest source's mode share
ROOT_BY_TIME = 1.0
ROOT_BY_WEIGHTS = 0.9  # the smallest norm among members whose times tie
RESAVE_FLOOR = 0.5
ADAPTER = {"declared": 0.95, "declared-checked": 0.9, "weights": 0.9, "probe-loss": 0.7}
ADAPTER_UNKNOWN = 0.5
NO_FAMILY = 0.3


def finetune(distance_margin: float, tail_margin: float, alone: bool, timed: bool) -> float:
    """High when every other candidate is farther and its step less like one optimizer run; near 0.5 when another
    is about as near or its step about as clean."""
    value = FINETUNE_ALONE if alone else float(np.clip(
        FINETUNE_BASE + FINETUNE_DISTANCE * distance_margin + FINETUNE_TAIL * tail_margin, *FINETUNE_RANGE))
    return value if timed else max(FINETUNE_RANGE[0], value - UNTIMED_PENALTY)


def merge(residual: float, sparse_shares: list[float] | None) -> float:
    if sparse_shares:
        return float(min(MERGE_RANGE[1], SPARSE_MERGE_BASE + min(sparse_shares)))
    return float(np.clip(1 - residual, *MERGE_RANGE))


def resave(relative_distance: float, copy_max: float) -> float:
    return float(np.clip(1 - relative_distance / copy_max, RESAVE_FLOOR, 1.0))


def adapter(base_source: str | None) -> float:
    return ADAPTER.get(base_source or "", ADAPTER_UNKNOWN)
