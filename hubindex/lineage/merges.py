"""Is a model a merge of earlier models, and of which, with what weights, by which method?

Two tests on task vectors (model - family root) at the sampled coordinates:

- sparse merges (TIES, DARE, breadcrumbs): every source shows an exact ratio mode (evidence.ratio_modes) on a
  large share of coordinates: 1 for TIES-style averaging of survivors, 1/density for DARE's rescaling. Finetunes
  never do (measured share <= 0.001 on the reference zoos; sources of sparse merges >= 0.15). The sources are the
  fewest such candidates that account for every coordinate the model moved (unexplained()); when none do, a
  source is missing from the candidates and the answer is Incomplete, never a merge of the rest.
- dense merges (linear, task arithmetic, SLERP): the task vector is a non-negative combination of two or more
  earlier task vectors with almost no residual, far better than any single one explains it.

Non-negative weights are what keeps a merge source from being read as a child of the merge: a source can be
written from the merge only with a negative weight on the other sources. Least squares run on the Gram matrix of
the target and its shortlisted candidates, so trying a subset of sources costs O(k^3), not a pass over the samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from hubindex.lineage.evidence import ratio_modes
from hubindex.lineage.linear import solve

SPARSE_SHARE = 0.05  # ratio-mode share that marks a possible sparse-merge source
# Share of the moved coordinates a sparse merge's sources may leave unexplained (merges.unexplained): 0 with every
# source, >= 0.03 with one missing; the margin is for rounding.
SPARSE_COMPLETE = 0.01
DENSE_RESIDUAL = 0.12  # relative residual under which a combination explains the model
EXACT_RESIDUAL = 0.01  # ...and under which it is exact (linear, task arithmetic; SLERP's curve leaves ~0.05)
DENSE_GAIN = 0.1  # the combination must beat the best single source by this much
MERGE_GAIN = 0.05  # ...and an earlier merge as the single source by this much
NEAR_EXACT = 0.03  # a residual this small (bf16 rounding of an exact merge) needs no DENSE_GAIN margin...
NEAR_EXACT_FACTOR = 4.0  # ...when the best single source leaves this many times more
MAX_SOURCES = 4
# A source whose removal leaves at most this much more of the model unexplained (relative residual) is dropped from
# a dense fit: far below bf16 rounding (~0.015), so no evidence that the model holds it (see _without_idle).
IDLE_SOURCE = 0.001
# Share of coordinates a sparse merge leaves exactly at the root's value (every source trimmed or dropped there):
# TIES at density 0.5 over 3 sources ~12 %, DARE at 0.7 over 2 ~9 %. A finetune moves almost every coordinate, so
# below this share the ratio-mode test (a sort per candidate) is skipped.
SPARSE_UNMOVED = 0.002


@dataclass
class MergeFit:
    sources: list[str]
    weights: list[float]
    method: str
    residual: float
    evidence: dict = field(default_factory=dict)


@dataclass
class Incomplete:
    """Two or more candidates carry a sparse merge's exact values, but together they leave `unexplained` of the
    coordinates the model moved: a source is missing from the candidates (the caller may search wider)."""
    sources: list[str]
    unexplained: float


def fit(gram: np.ndarray, sources: list[int], target: int) -> tuple[np.ndarray, float]:
    """Least-squares weights of `target`'s task vector on `sources`' and the relative residual; inf if a weight
    is negative (not a merge of these)."""
    weights, residual = fit_many(gram, sources, [], target)
    return weights[0], float(residual[0])


def fit_many(gram: np.ndarray, chosen: list[int], extra: list[int], target: int,
             sets: list[tuple[int, ...]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """fit() of chosen + [e] for every e in extra (or of each of `sets`), as one batched solve: source selection
    tries every pair, then every remaining candidate per round."""
    sets = np.array(sets if sets is not None else [[*chosen, e] for e in extra] if extra else [chosen])
    g = gram[sets[:, :, None], sets[:, None, :]]
    b = gram[sets, target]
    ridge = 1e-12 * np.trace(g, axis1=1, axis2=2)[:, None, None] * np.eye(sets.shape[1])
    try:
        weights = np.linalg.solve(g + ridge, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return np.zeros(sets.shape), np.full(len(sets), np.inf)
    squared = np.maximum(gram[target, target] - np.einsum("ij,ij->i", weights, b), 0.0)
    residual = np.sqrt(squared / max(gram[target, target], 1e-30))
    residual[np.any(weights < 0, axis=1)] = np.inf
    return weights, residual


def free_residual(gram: np.ndarray) -> float:
    """Relative residual of row 0 on all other rows, weights of any sign: no subset of them, and no non-negative
    combination, explains row 0 better."""
    g, b = gram[1:, 1:], gram[1:, 0]
    ridge = 1e-12 * np.trace(g) * np.eye(len(g))
    try:
        weights = solve(g + ridge, b)
    except np.linalg.LinAlgError:
        return 0.0
    return float(np.sqrt(max(gram[0, 0] - weights @ b, 0.0) / max(gram[0, 0], 1e-30)))


def detect_merge(ids: list[str], tasks: np.ndarray, raw_tasks: np.ndarray,
                 known_merges: dict[str, set[str]] | None = None,
                 slack: np.ndarray | float = 0.0) -> MergeFit | Incomplete | None:
    """Is the model whose task vector is row 0 a merge of the candidates in rows 1.. (`ids`)?
    `tasks`: scaled task vectors (model - family root); `raw_tasks`: unscaled ones, same rows (rows 1.. are read
    only by the sparse test, which runs where sparse_possible(raw_tasks[0]): a caller may pass row 0 alone else).
    `known_merges`: earlier merges and their sources: a merge of the same sources copies their values too, so it
    shows the same ratio mode without being a source. `slack`: per-coordinate rounding allowance of row 0's raw
    values (one unit in the last place of its saved dtype). Incomplete: a sparse merge some of whose sources are
    not among the candidates (never a partial answer)."""
    known_merges = known_merges or {}
    gram = tasks @ tasks.T
    candidates = list(range(1, len(ids) + 1))
    if len(candidates) < 2 or gram[0, 0] <= 0:
        return None
    sparse = _sparse(ids, gram, raw_tasks, candidates, known_merges, slack) if sparse_possible(raw_tasks[0]) else None
    if isinstance(sparse, MergeFit):
        return sparse
    if free_residual(gram) > DENSE_RESIDUAL:  # a finetune's own step lies outside every earlier model's span
        return sparse
    return _dense(ids, gram, candidates, known_merges) or sparse


def sparse_possible(raw_task: np.ndarray) -> bool:
    """Did the model leave SPARSE_UNMOVED of its coordinates at the root's value (else the sparse test is skipped)?
    The count over the length is np.mean of the boolean mask to the last bit, without its overhead."""
    return np.count_nonzero(raw_task == 0) / raw_task.size >= SPARSE_UNMOVED


def unexplained(task: np.ndarray, source_tasks: np.ndarray, slack: np.ndarray | float = 0.0) -> float:
    """Share of the coordinates the model moved that its sources cannot have produced: outside the range from the
    sum of their negative values to the sum of their positive ones (each source scaled by its ratio mode). A TIES
    coordinate is a weighted mean of the surviving sources, a DARE one a (rescaled) sum: both lie inside. With every
    source present this is 0 (realistic design zoo, TIES in bf16); without one, the coordinates only it kept lie
    outside (>= 0.03 of them). `slack`: per-coordinate rounding allowance."""
    moved = task != 0
    if not moved.any():
        return 0.0
    low = np.minimum(source_tasks, 0).sum(axis=0) - slack
    high = np.maximum(source_tasks, 0).sum(axis=0) + slack
    return float(np.mean(((task < low) | (task > high))[moved]))


def _sparse(ids: list[str], gram: np.ndarray, raw_tasks: np.ndarray, candidates: list[int],
            known_merges: dict[str, set[str]], slack: np.ndarray | float = 0.0) -> MergeFit | Incomplete | None:
    # A coordinate moved by a step or two of the saved dtype equals any source moved as little: a dense bf16 merge
    # shows ratio 1 there on a few % of coordinates. Only larger moves say that a source's value was copied.
    informative = np.where(np.abs(raw_tasks[0]) > 2 * slack, raw_tasks[0], 0.0)
    shares, values = ratio_modes(informative, raw_tasks[1:])
    modes = {c: (float(shares[c - 1]), float(values[c - 1])) for c in candidates}
    sparse = [c for c, (share, _) in modes.items() if share >= SPARSE_SHARE]
    # An earlier merge sharing two or more of these sources copies their values too: it is a sibling, not a source.
    sparse_ids = {ids[c - 1] for c in sparse}
    sparse = [c for c in sparse if len(known_merges.get(ids[c - 1], set()) & (sparse_ids - {ids[c - 1]})) < 2]
    if len(sparse) < 2:
        return None
    # The fewest of them whose (mode-scaled) values account for every coordinate the model moved: greedily the one
    # that leaves the fewest unexplained. A bf16 finetune of another run matches it by one rounding step on many
    # coordinates (a ratio-mode share of a few %), but adds no coverage, so it is never needed.
    scaled = {c: modes[c][1] * raw_tasks[c] for c in sparse}
    chosen: list[int] = []
    left = 1.0
    while len(chosen) < MAX_SOURCES and left > SPARSE_COMPLETE:
        tried = {c: unexplained(raw_tasks[0], np.stack([scaled[s] for s in [*chosen, c]]), slack)
                 for c in sparse if c not in chosen}
        if not tried:
            break
        best = min(tried, key=lambda c: (tried[c], -modes[c][0]))
        if tried[best] >= left:
            break
        chosen.append(best)
        left = tried[best]
    if len(chosen) < 2 or left > SPARSE_COMPLETE:
        return Incomplete([ids[c - 1] for c in chosen], left)
    value = float(np.median([modes[c][1] for c in chosen]))
    weights, residual = fit(gram, chosen, 0)
    method = "ties" if abs(value - 1.0) < 0.02 else "dare_ties"
    evidence = {"ratio_mode": round(value, 4), "mode_shares": [round(modes[c][0], 4) for c in chosen],
                "unexplained": round(left, 4)}
    if method == "dare_ties" and value > 1:
        evidence["density"] = round(1 / value, 3)
    return MergeFit([ids[c - 1] for c in chosen], [round(float(w), 4) for w in weights], method,
                    residual if np.isfinite(residual) else 1.0, evidence)


def _dense(ids: list[str], gram: np.ndarray, candidates: list[int],
           known_merges: dict[str, set[str]]) -> MergeFit | None:
    # Dense: the best pair (all pairs, so a close single model such as an earlier merge of the same domains cannot
    # lead a greedy search astray), grown greedily. The baseline to beat is the best single plausible source;
    # an earlier merge as the single source (this could be its finetune) is only beaten by a smaller margin.
    _, singles = fit_many(gram, [], candidates, 0)
    is_merge = np.array([ids[c - 1] in known_merges for c in candidates])
    baseline = float(np.min(singles[~is_merge], initial=np.inf))
    merge_baseline = float(np.min(singles[is_merge], initial=np.inf))
    grown = _grown(gram, candidates)
    if grown is None and is_merge.any():
        # An earlier merge sharing a source with this one (a sibling merge) explains part of each source, so the
        # best pair can hold it, and with it the greedy path never reaches the true sources (s121-real
        # northwind/model-6c8d1a22: its sibling merge and one source pair 0.385, grown to 0.248 with three; its
        # own three sources fit 0.041). Where no fit is found, the path is grown again without earlier merges;
        # a merge of merges is found by the first path.
        grown = _grown(gram, [c for c, merge in zip(candidates, is_merge.tolist(), strict=True) if not merge])
    if grown is None:
        return None
    chosen, residuals, k = grown
    # A near-exact fit (bf16 rounding leaves ~0.015) far below the best single source is a merge even when one
    # source dominates it (task arithmetic 0.95 / 0.36: single 0.10, pair 0.014 on the realistic design zoo).
    near_exact = residuals[k] < NEAR_EXACT and min(baseline, merge_baseline) > NEAR_EXACT_FACTOR * residuals[k]
    if not near_exact and (baseline - residuals[k] < DENSE_GAIN or merge_baseline - residuals[k] < MERGE_GAIN):
        return None
    sources = chosen[: k + 2]  # residuals[0] is the pair's
    weights, residual = fit(gram, sources, 0)
    sources, weights, residual = _without_idle(gram, sources, weights, residual)
    sources, weights, residual = _unfold_merges(ids, gram, sources, weights, residual, known_merges)
    if residual < EXACT_RESIDUAL:
        method = "linear" if abs(float(weights.sum()) - 1) < 0.02 else "task_arithmetic"
    else:
        method = "slerp" if len(sources) == 2 else "linear"
    return MergeFit([ids[c - 1] for c in sources], [round(float(w), 4) for w in weights], method, residual,
                    {"single_source_residual": round(min(baseline, merge_baseline), 4)})


def _grown(gram: np.ndarray, candidates: list[int]) -> tuple[list[int], list[float], int] | None:
    """The best pair of `candidates` grown greedily (up to MAX_SOURCES): the sources in the order added, the
    residual after each (residuals[0]: the pair's), and k, the position of the fewest that explain the model: an
    exact fit with more wins over a loose one with fewer (a small third source leaves a pair's residual under
    DENSE_RESIDUAL, which is loose for SLERP's sake). None when no prefix explains the model."""
    pairs = [(a, b) for i, a in enumerate(candidates) for b in candidates[i + 1:]]
    if not pairs:
        return None
    _, paired = fit_many(gram, [], [], 0, sets=pairs)
    if not np.isfinite(paired).any():
        return None
    chosen = list(pairs[int(np.argmin(paired))])
    residuals = [float(np.min(paired))]
    while len(chosen) < MAX_SOURCES and residuals[-1] >= EXACT_RESIDUAL and len(chosen) < len(candidates):
        remaining = [c for c in candidates if c not in chosen]
        _, tried = fit_many(gram, chosen, remaining, 0)
        if not np.isfinite(tried).any():
            break
        chosen.append(remaining[int(np.argmin(tried))])
        residuals.append(float(np.min(tried)))
    k = next((i for i, r in enumerate(residuals) if r < EXACT_RESIDUAL), None)
    if k is None:
        k = next((i for i, r in enumerate(residuals) if r <= DENSE_RESIDUAL), None)
    return None if k is None else (chosen, residuals, k)


def _without_idle(gram: np.ndarray, sources: list[int], weights: np.ndarray,
                  residual: float) -> tuple[list[int], np.ndarray, float]:
    """The fewest of `sources` that fit as well: drop, one at a time, the source whose removal costs least while
    that is at most IDLE_SOURCE of residual. The greedy search starts from the best pair, which can hold a near
    relative of the true sources; the sources added after it then explain the model exactly and leave it a weight
    of ~0 (bench seed 10: three exact three-source merges answered with a fourth source at weight 0.0000)."""
    while len(sources) > 2:
        drops = [tuple(s for s in sources if s != dropped) for dropped in sources]
        fewer, tried = fit_many(gram, [], [], 0, sets=drops)
        best = int(np.argmin(tried))
        if not tried[best] <= residual + IDLE_SOURCE:
            break
        sources, weights, residual = list(drops[best]), fewer[best], float(tried[best])
    return sources, weights, residual


def _unfold_merges(ids: list[str], gram: np.ndarray, sources: list[int], weights: np.ndarray, residual: float,
                   known_merges: dict[str, set[str]]) -> tuple[list[int], np.ndarray, float]:
    """An earlier merge M among the sources lies in (for SLERP: near) the span of its own sources, so a merge of
    some of them and the others explains the model as well as M does. Then the model was made from them, not from M
    (it is M's sibling): replace M by the smallest subset of its sources, among the candidates, that fits at least
    as well."""
    position = {m: i + 1 for i, m in enumerate(ids)}
    for merge in [s for s in sources if ids[s - 1] in known_merges]:
        own = [position[m] for m in sorted(known_merges[ids[merge - 1]]) if m in position]
        rest = [s for s in sources if s != merge]
        sets = [sorted(set(rest) | set(c)) for k in range(1, len(own) + 1) for c in combinations(own, k)]
        fits = [(len(c), r, c, w) for c in sets if 2 <= len(c) <= MAX_SOURCES
                for w, r in [fit(gram, c, 0)] if r <= max(residual, NEAR_EXACT)]  # NEAR_EXACT: exact up to bf16
        if fits:  # the fewest sources, then the closest fit
            _, residual, sources, weights = min(fits, key=lambda f: f[:2])
    return sources, weights, residual
