"""Is a model a merge of earlier models, and of which, with what weights, by which method?

Two tests on task vectors (model - family root) at the sampled coordinates:

- sparse merges (TIES, DARE, breadcrumbs): every source shows an exact ratio mode (evidence.ratio_modes) on a
  large share of coordinates: 1 for TIES-style averaging of survivors, 1/density for DARE's rescaling. Finetunes
  never do (measured share <= 0.001 on the reference zoos; sources of sparse merges >= 0.15).
- dense merges (linear, task arithmetic, SLERP): the task vector is a non-negative combination of two or more
  earlier task vectors with almost no residual, far better than any single one explains it.

Non-negative weights are what keeps a merge source from being read as a child of the merge: a source can be
written from the merge only with a negative weight on the other sources. Least squares run on the Gram matrix of
the target and its shortlisted candidates, so trying a subset of sources costs O(k^3), not a pass over the samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hubindex.lineage.evidence import ratio_modes

SPARSE_SHARE = 0.05  # ratio-mode share that marks a sparse-merge source...
SPARSE_RELATIVE = 0.4  # ...and at least this fraction of the strongest source's share
DENSE_RESIDUAL = 0.12  # relative residual under which a combination explains the model
EXACT_RESIDUAL = 0.01  # ...and under which it is exact (linear, task arithmetic; SLERP's curve leaves ~0.05)
DENSE_GAIN = 0.1  # the combination must beat the best single source by this much
MERGE_GAIN = 0.05  # ...and an earlier merge as the single source by this much
NEAR_EXACT = 0.03  # a residual this small (bf16 rounding of an exact merge) needs no DENSE_GAIN margin...
NEAR_EXACT_FACTOR = 4.0  # ...when the best single source leaves this many times more
MAX_SOURCES = 4
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
        weights = np.linalg.solve(g + ridge, b)
    except np.linalg.LinAlgError:
        return 0.0
    return float(np.sqrt(max(gram[0, 0] - weights @ b, 0.0) / max(gram[0, 0], 1e-30)))


def detect_merge(ids: list[str], tasks: np.ndarray, raw_tasks: np.ndarray,
                 known_merges: dict[str, set[str]] | None = None) -> MergeFit | None:
    """Is the model whose task vector is row 0 a merge of the candidates in rows 1.. (`ids`)?
    `tasks`: scaled task vectors (model - family root); `raw_tasks`: unscaled ones, same rows. `known_merges`:
    earlier merges and their sources: a merge of the same sources copies their values too, so it shows the same
    ratio mode without being a source."""
    known_merges = known_merges or {}
    gram = tasks @ tasks.T
    candidates = list(range(1, len(ids) + 1))
    if len(candidates) < 2 or gram[0, 0] <= 0:
        return None
    sparse = _sparse(ids, gram, raw_tasks, candidates, known_merges) \
        if float(np.mean(raw_tasks[0] == 0)) >= SPARSE_UNMOVED else None
    if sparse is not None:
        return sparse
    if free_residual(gram) > DENSE_RESIDUAL:  # a finetune's own step lies outside every earlier model's span
        return None
    return _dense(ids, gram, candidates, known_merges)


def _sparse(ids: list[str], gram: np.ndarray, raw_tasks: np.ndarray, candidates: list[int],
            known_merges: dict[str, set[str]]) -> MergeFit | None:
    shares, values = ratio_modes(raw_tasks[0], raw_tasks[1:])
    modes = {c: (float(shares[c - 1]), float(values[c - 1])) for c in candidates}
    strongest = max(share for share, _ in modes.values())
    sparse = [c for c, (share, _) in modes.items()
              if share >= SPARSE_SHARE and share >= SPARSE_RELATIVE * strongest]
    # An earlier merge sharing two or more of these sources copies their values too: it is a sibling, not a source.
    sparse_ids = {ids[c - 1] for c in sparse}
    sparse = [c for c in sparse if len(known_merges.get(ids[c - 1], set()) & (sparse_ids - {ids[c - 1]})) < 2]
    if len(sparse) >= 2:
        sparse = sorted(sparse, key=lambda c: -modes[c][0])[:MAX_SOURCES]
        value = float(np.median([modes[c][1] for c in sparse]))
        weights, residual = fit(gram, sparse, 0)
        method = "ties" if abs(value - 1.0) < 0.02 else "dare_ties"
        evidence = {"ratio_mode": round(value, 4), "mode_shares": [round(modes[c][0], 4) for c in sparse]}
        if method == "dare_ties" and value > 1:
            evidence["density"] = round(1 / value, 3)
        return MergeFit([ids[c - 1] for c in sparse], [round(float(w), 4) for w in weights], method,
                        residual if np.isfinite(residual) else 1.0, evidence)
    return None


def _dense(ids: list[str], gram: np.ndarray, candidates: list[int],
           known_merges: dict[str, set[str]]) -> MergeFit | None:
    # Dense: the best pair (all pairs, so a close single model such as an earlier merge of the same domains cannot
    # lead a greedy search astray), grown greedily. The baseline to beat is the best single plausible source;
    # an earlier merge as the single source (this could be its finetune) is only beaten by a smaller margin.
    _, singles = fit_many(gram, [], candidates, 0)
    is_merge = np.array([ids[c - 1] in known_merges for c in candidates])
    baseline = float(np.min(singles[~is_merge], initial=np.inf))
    merge_baseline = float(np.min(singles[is_merge], initial=np.inf))
    pairs = [(a, b) for i, a in enumerate(candidates) for b in candidates[i + 1:]]
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
    # The fewest sources that explain the model; an exact fit with more wins over a loose one with fewer (a small
    # third source leaves a pair's residual under DENSE_RESIDUAL, which is loose for SLERP's sake).
    k = next((i for i, r in enumerate(residuals) if r < EXACT_RESIDUAL), None)
    if k is None:
        k = next((i for i, r in enumerate(residuals) if r <= DENSE_RESIDUAL), None)
    if k is None:
        return None
    # A near-exact fit (bf16 rounding leaves ~0.015) far below the best single source is a merge even when one
    # source dominates it (task arithmetic 0.95 / 0.36: single 0.10, pair 0.014 on the realistic design zoo).
    near_exact = residuals[k] < NEAR_EXACT and min(baseline, merge_baseline) > NEAR_EXACT_FACTOR * residuals[k]
    if not near_exact and (baseline - residuals[k] < DENSE_GAIN or merge_baseline - residuals[k] < MERGE_GAIN):
        return None
    sources = chosen[: k + 2]  # residuals[0] is the pair's
    weights, residual = fit(gram, sources, 0)
    if residual < EXACT_RESIDUAL:
        method = "linear" if abs(float(weights.sum()) - 1) < 0.02 else "task_arithmetic"
    else:
        method = "slerp" if len(sources) == 2 else "linear"
    return MergeFit([ids[c - 1] for c in sources], [round(float(w), 4) for w in weights], method, residual,
                    {"single_source_residual": round(min(baseline, merge_baseline), 4)})
