"""Pairwise weight evidence on sampled coordinates.

- copies and re-saves: a dtype conversion rounds each weight relative to its own size (bf16: within 2^-8 of it);
  a round-to-nearest quantizer adds errors of one row-wide step size whatever the weight, so small weights move
  by much more than 2^-8 of themselves.
- betweenness: P can be C's parent (rather than its sibling) only if C lies beyond P as seen from the root: the
  angle at P between (root - P) and (C - P) is at least about 90 degrees. A sibling sits beside P (acute angle).
- ratio modes: a sparse merge (TIES, DARE) copies a source's task vector unchanged (TIES) or rescaled by 1/density
  (DARE) wherever that source alone survives trimming or dropping, so (merge - root) / (source - root) takes one
  exact value on a large share of coordinates. For unrelated pairs the ratio is continuous.
"""

from __future__ import annotations

import numpy as np

COPY_MAX = 0.01  # relative weight distance under which two models hold the same weights (re-saved)
ROUNDING = 2.0**-7  # bf16 rounds within 2^-8 relative; allow twice that
QUANTIZED_SHARE = 0.05  # share of coordinates moved more than ROUNDING relative: a quantizer, not a cast


def resave_kind(child: np.ndarray, parent: np.ndarray) -> str:
    """'copy' for a dtype conversion (or identical weights), 'quantized' for a grid quantizer."""
    error = np.abs(child.astype(np.float64) - parent.astype(np.float64))
    moved = error > ROUNDING * np.abs(parent) + 1e-12
    return "quantized" if float(np.mean(moved)) > QUANTIZED_SHARE else "copy"


def cos_at(scaled: np.ndarray, root: int, parent: int, child: int) -> float:
    """Cosine of the angle at `parent` between the root and the child (<= 0: child lies beyond parent)."""
    back = scaled[root] - scaled[parent]
    forward = scaled[child] - scaled[parent]
    denominator = float(np.linalg.norm(back) * np.linalg.norm(forward))
    return float(back @ forward) / denominator if denominator > 0 else -1.0


def ratio_mode(task: np.ndarray, source_task: np.ndarray, decimals: int = 4) -> tuple[float, float]:
    """(share of coordinates, value) of the most common ratio task / source_task over coordinates both move."""
    mask = (task != 0) & (source_task != 0)
    if mask.sum() < 50:
        return 0.0, 0.0
    values, counts = np.unique(np.round(task[mask] / source_task[mask], decimals), return_counts=True)
    top = int(np.argmax(counts))
    return int(counts[top]) / int(mask.sum()), float(values[top])
