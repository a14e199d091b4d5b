"""Is a model a merge of earlier models, and of which, with what weights, by which method?

Two tests on task vectors (model - family root) at the sampled coordinates:

- sparse merges (TIES, DARE, breadcrumbs): every source shows an exact ratio mode (evidence.ratio_mode) on a
  large share of coordinates: 1 for TIES-style averaging of survivors, 1/density for DARE's rescaling. Finetunes
  never do (measured share <= 0.001 on the reference zoos; sources of sparse merges >= 0.15).
- dense merges (linear, task arithmetic, SLERP): the task vector is a non-negative combination of two or more
  earlier task vectors with almost no residual, far better than any single one explains it.

Non-negative weights are what keeps a merge source from being read as a child of the merge: a source can be
written from the merge only with a negative weight on the other sources. Least squares run on the family's Gram
matrix of task vectors, so trying a subset of sources costs O(k^3), not a pass over the samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hubindex.lineage.evidence import ratio_mode

SPARSE_SHARE = 0.05  # ratio-mode share that marks a sparse-merge source...
SPARSE_RELATIVE = 0.4  # ...and at least this fraction of the strongest source's share
DENSE_RESIDUAL = 0.12  # relative residual under which a combination explains the model
DENSE_GAIN = 0.1  # the combination must beat the best single source by this much
MAX_SOURCES = 4
SHORTLIST = 12  # candidate sources tried: the nearest earlier models


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
    g = gram[np.ix_(sources, sources)]
    b = gram[sources, target]
    try:
        weights = np.linalg.solve(g + 1e-12 * np.trace(g) * np.eye(len(sources)), b)
    except np.linalg.LinAlgError:
        return np.zeros(len(sources)), float("inf")
    if np.any(weights < 0):
        return weights, float("inf")
    squared = max(gram[target, target] - float(weights @ b), 0.0)
    return weights, float(np.sqrt(squared / max(gram[target, target], 1e-30)))


def detect_merge(ids: list[str], gram: np.ndarray, raw_tasks: np.ndarray, target: int,
                 candidates: list[int], known_merges: dict[int, set[int]] | None = None) -> MergeFit | None:
    """`gram`: Gram matrix of scaled task vectors; `raw_tasks`: unscaled task vectors; indices into `ids`.
    `candidates`: the earlier models to try, nearest first. `known_merges`: earlier merges and their sources: a
    merge of the same sources copies their values too, so it shows the same ratio mode without being a source."""
    known_merges = known_merges or {}
    candidates = candidates[:SHORTLIST]
    if len(candidates) < 2 or gram[target, target] <= 0:
        return None
    modes = {c: ratio_mode(raw_tasks[target], raw_tasks[c]) for c in candidates}
    strongest = max(share for share, _ in modes.values())
    sparse = [c for c, (share, _) in modes.items()
              if share >= SPARSE_SHARE and share >= SPARSE_RELATIVE * strongest]
    # An earlier merge sharing two or more of these sources copies their values too: it is a sibling, not a source.
    sparse = [c for c in sparse if len(known_merges.get(c, set()) & (set(sparse) - {c})) < 2]
    if len(sparse) >= 2:
        sparse = sorted(sparse, key=lambda c: -modes[c][0])[:MAX_SOURCES]
        value = float(np.median([modes[c][1] for c in sparse]))
        weights, residual = fit(gram, sparse, target)
        method = "ties" if abs(value - 1.0) < 0.02 else "dare_ties"
        evidence = {"ratio_mode": round(value, 4), "mode_shares": [round(modes[c][0], 4) for c in sparse]}
        if method == "dare_ties" and value > 1:
            evidence["density"] = round(1 / value, 3)
        return MergeFit([ids[c] for c in sparse], [round(float(w), 4) for w in weights], method,
                        residual if np.isfinite(residual) else 1.0, evidence)
    chosen: list[int] = []
    residuals: list[float] = []
    for _ in range(min(MAX_SOURCES, len(candidates))):
        best = min((c for c in candidates if c not in chosen), key=lambda c: fit(gram, [*chosen, c], target)[1])
        residual = fit(gram, [*chosen, best], target)[1]
        if not np.isfinite(residual):
            break
        chosen.append(best)
        residuals.append(residual)
        if residual < 0.01:
            break
    k = next((i for i in range(1, len(residuals)) if residuals[i] <= DENSE_RESIDUAL), None)
    if k is None or residuals[0] - residuals[k] < DENSE_GAIN:
        return None
    sources = chosen[: k + 1]
    weights, residual = fit(gram, sources, target)
    if residual < 0.01:
        method = "linear" if abs(float(weights.sum()) - 1) < 0.02 else "task_arithmetic"
    else:
        method = "slerp" if len(sources) == 2 else "linear"
    return MergeFit([ids[c] for c in sources], [round(float(w), 4) for w in weights], method, residual,
                    {"single_source_residual": round(residuals[0], 4)})
