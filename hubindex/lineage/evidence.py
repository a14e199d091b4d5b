"""Pairwise weight evidence on sampled coordinates.

- copies and re-saves: a dtype conversion rounds each weight relative to its own size (bf16: within 2^-8 of it);
  a round-to-nearest quantizer adds errors of one row-wide step size whatever the weight, so small weights move
  by much more than 2^-8 of themselves.
- betweenness: P can be C's parent (rather than its sibling) only if C lies beyond P as seen from the root: the
  angle at P between (root - P) and (C - P) is at least about 90 degrees. A sibling sits beside P (acute angle).
  parents.rank_candidates reads the angle from three distances.
- ratio modes: a sparse merge (TIES, DARE) copies a source's task vector unchanged (TIES) or rescaled by 1/density
  (DARE) wherever that source alone survives trimming or dropping, so (merge - root) / (source - root) takes one
  exact value on a large share of coordinates. For unrelated pairs the ratio is continuous.
- increment tail: Adam moves every coordinate by at most about the learning rate per step, so one fine-tuning run
  caps the displacement of all coordinates alike and many pile up just under the cap: max|C - P| is barely above its
  99th percentile. The difference of two runs from a common base (siblings) has no such cap: its tail stretches.
  Same-domain siblings are otherwise geometrically alike to parent and child (the larger run "continues" the smaller
  one), so this is what tells a fan from a chain. A child stored in bf16 or fp16 adds its own rounding to the step,
  up to half a unit in the last place of each weight, so on the largest weights it stretches the tail of a clean
  run (1.09 -> 1.32 from the root on s106); that much is taken off every displacement first (HALF_ULP).
- merge shares: a model trained from a merge holds the merge's whole task vector, so regressed on the merge's
  sources' task vectors it holds at least each source's share in the merge. A model beside the merge (another child
  of the merge's base, however near it lies) holds its own domain's source at most, and next to nothing of the
  others.
"""

from __future__ import annotations

import numpy as np

from hubindex.lineage.linear import least_squares, solve

# An increment tail (increment_tail) at or above UNCAPPED: a step with no displacement cap. SGD with momentum moves
# each coordinate in proportion to its gradient; adaptive optimizers cap every coordinate near lr x steps. Design
# seeds 105-116: Adam runs 1.00-1.95 (a 300-step run 1.80, continued pretraining 1.95), merged LoRAs up to 2.7,
# SGD runs from the root 2.93-8.3. Read by parents.uncapped_siblings (two such runs of one root are siblings) and by
# confidence.heavy_tailed (a finetune of such a run is doubtful).
UNCAPPED = 2.5

COPY_MAX = 0.01  # relative weight distance under which two models hold the same weights (re-saved)
ROUNDING = 2.0**-7  # bf16 rounds within 2^-8 relative; allow twice that
PRECISION = {"F64": 4, "F32": 3, "BF16": 2, "F16": 2}  # dtype rank: a re-save's original is the more precise
QUANTIZED_SHARE = 0.05  # share of coordinates moved more than ROUNDING relative: a quantizer, not a cast
GRID_WINDOW = 16  # consecutive samples tested for a common grid (the sampler reads windows of 16 elements)
GRID_TOLERANCE = 0.1  # a gap within this of a whole multiple of the smallest gap is on the grid
HALF_ULP = {"BF16": 2.0**-9, "F16": 2.0**-11}  # a stored weight's largest rounding error, relative to itself
GRID_SHARE = 0.45  # median on-grid share above which values are quantized (continuous ~0.27, int8 ~0.6, bf16 ~0.33)


def round_bf16(values: np.ndarray) -> np.ndarray:
    """float64 values rounded to bfloat16 (round to nearest even on the float32 bits), as float64."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16).astype(np.uint32)
    return rounded.view(np.float32).astype(np.float64)


def grid_share(values: np.ndarray) -> float:
    """How much `values` look like a quantization grid: in each run of GRID_WINDOW consecutive samples (mostly one
    window of one row, so one scale), the share of gaps between sorted values that are whole multiples (within
    GRID_TOLERANCE) of the smallest gap; the median over runs. Continuous values: ~0.27 (the tolerance and the
    smallest gap itself); int8 per-row round-to-nearest stored in fp16: ~0.6 (fp16 rounding blurs large levels)."""
    n = len(values) // GRID_WINDOW * GRID_WINDOW
    if not n:
        return 0.0
    gaps = np.diff(np.sort(values[:n].astype(np.float64).reshape(-1, GRID_WINDOW), axis=1), axis=1)
    gaps = np.where(gaps > 0, gaps, np.nan)
    usable = np.isfinite(gaps).sum(axis=1) >= 2
    if not usable.any():
        return 1.0  # (almost) constant windows: the coarsest grid there is
    gaps = gaps[usable]
    with np.errstate(invalid="ignore"):
        ratio = gaps / np.nanmin(gaps, axis=1, keepdims=True)
        whole = np.abs(ratio - np.round(ratio)) < GRID_TOLERANCE
    return float(np.median(whole.sum(axis=1) / np.isfinite(ratio).sum(axis=1)))


def resave_of(dtype_a: str | None, dtype_b: str | None, values_a: np.ndarray, values_b: np.ndarray) -> bool | None:
    """Of two models holding the same weights, is a the re-save of b? The less precise dtype is the re-save, else the
    one on a quantization grid; None when neither tells (only the clock can)."""
    pa, pb = PRECISION.get(dtype_a, 0), PRECISION.get(dtype_b, 0)
    if pa != pb:
        return pa < pb
    on_grid_a = grid_share(values_a) >= GRID_SHARE
    if on_grid_a != (grid_share(values_b) >= GRID_SHARE):
        return on_grid_a
    return None


def resave_kind(child: np.ndarray, parent: np.ndarray) -> str | None:
    """'copy' for a dtype conversion (or identical weights), 'quantized' for a grid quantizer, None when the
    child moved off its parent without landing on a grid: a very short run (5-10 optimizer steps), not a re-save."""
    error = np.abs(child.astype(np.float64) - parent.astype(np.float64))
    moved = error > ROUNDING * np.abs(parent) + 1e-12
    if float(np.mean(moved)) <= QUANTIZED_SHARE:
        return "copy"
    return "quantized" if grid_share(child) >= GRID_SHARE else None


def ratio_modes(task: np.ndarray, source_tasks: np.ndarray, decimals: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Per source row: (share of coordinates, value) of the most common ratio task / source_task over the
    coordinates both move. One sort of the [sources, d] ratio matrix, no per-source loop."""
    mask = (task != 0) & (source_tasks != 0)
    counts = mask.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(mask, np.round(task / source_tasks, decimals), np.nan)
    ratios.sort(axis=1)  # NaNs (unmoved coordinates) sort last and never equal a neighbour
    starts = np.ones(ratios.shape, dtype=bool)
    starts[:, 1:] = ratios[:, 1:] != ratios[:, :-1]
    # Length of the run each position ends: its index minus the start of its run, plus one.
    position = np.broadcast_to(np.arange(ratios.shape[1]), ratios.shape)
    run = position - np.maximum.accumulate(np.where(starts, position, 0), axis=1) + 1
    end = np.argmax(run, axis=1)
    rows = np.arange(len(ratios))
    enough = counts >= 50
    shares = np.where(enough, run[rows, end] / np.maximum(counts, 1), 0.0)
    values = np.where(enough, np.nan_to_num(ratios[rows, end]), 0.0)
    return shares, values


def increment_tails(child: np.ndarray, parents: np.ndarray, rounding: float = 0.0) -> np.ndarray:
    """increment_tail of `child` from each row of `parents`, in one partition of the [rows, d] displacements.
    `rounding`: the child's stored precision (HALF_ULP), taken off each displacement in proportion to the weight."""
    # float32 samples: plenty for a ratio of two order statistics. In place: one [rows, d] array, no temporaries.
    delta = np.subtract(child, np.atleast_2d(parents))
    np.abs(delta, out=delta)
    if rounding:
        np.subtract(delta, rounding * np.abs(child), out=delta)
        np.maximum(delta, 0.0, out=delta)
    d = delta.shape[1]
    if d < 100:
        return np.ones(len(delta))
    q = int(0.99 * d)
    # One selection and a max: the same two order statistics as partitioning at [q, d - 1] at once, which numpy
    # does about three times slower on several rows.
    peak = delta.max(axis=1)
    delta.partition(q, axis=1)  # in place: the q-th smallest value is the same whichever copy is partitioned
    p99 = delta[:, q]
    return np.where(p99 > 0, peak / np.where(p99 > 0, p99, 1.0), 1.0)


def increment_tail(child: np.ndarray, parent: np.ndarray, rounding: float = 0.0) -> float:
    """max / 99th percentile of |child - parent| over the raw samples: ~1.1-1.3 for one optimizer run, higher for
    the difference of two runs."""
    return float(increment_tails(child, parent[None], rounding)[0])


def inherited_noise(child: np.ndarray, parent: np.ndarray, others: np.ndarray) -> float:
    """Does `child` carry `parent`'s own idiosyncratic displacement? All three are steps from one model Q (the
    parent's parent); `others` [k, d] are Q's other children of the same domain. Model each step from Q as
    a common part (the domain's direction, and how far and how curved a run of it goes) plus a run's own noise
    (its minibatches): X - Q = common + e_X. The others span the common part, so after projecting it out the
    parent's residual is its own e_P. A child trained from P holds P's whole step, e_P included: its residual is
    e_P + (its own step's residual), correlation 1 / sqrt(1 + |own|^2 / |e_P|^2) with the parent's (0.71 when its
    own step is as large as the parent's). A sibling trained from Q shares only the common part: correlation ~0
    (independent noise). Returns the correlation of the two residuals."""
    rows = np.asarray(others, dtype=np.float64)
    both = np.stack([child, parent]).astype(np.float64)
    # Both residuals off the others' span from one k x k solve of the normal equations (the others are separate
    # runs, independent): the projection through a QR basis up to the last bits, at about half the cost.
    try:
        rc, rp = both - solve(rows @ rows.T, rows @ both.T).T @ rows
    except np.linalg.LinAlgError:
        basis, _ = np.linalg.qr(rows.T)
        rc, rp = both - (both @ basis) @ basis.T
    norm = float(np.linalg.norm(rc) * np.linalg.norm(rp))
    return float(rc @ rp) / norm if norm > 0 else 0.0


def held_share(child_task: np.ndarray, merge_task: np.ndarray, source_tasks: np.ndarray) -> float:
    """How much of a merge `child_task` holds (all steps from the merge's base; `source_tasks` [k, d] are its
    sources'): the smallest ratio, over the sources, of the child's least-squares coefficient on that source to the
    merge's own. ~1 or more for a model trained from the merge (its own step adds to the merge's, rarely against
    it), ~0 for one that lacks some source's share. Method-independent: TIES or SLERP weights are read the same
    way, as the merge's effective coefficients."""
    rows = np.asarray(source_tasks, dtype=np.float64)
    both = np.stack([child_task, merge_task]).astype(np.float64)
    held, share = least_squares(rows, both)  # both fits from one k x k solve (a merge's sources are independent)
    usable = np.abs(share) > 1e-12
    if not usable.any():
        return 1.0
    return float(np.min(held[usable] / share[usable]))
