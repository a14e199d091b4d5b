"""Rank merge partners for a model among the models that share its base.

Expected benefit of merging A and B (task vectors tA, tB against their common base):
- complementary domains: Delta Activations that point apart mean the two were tuned for different things, so a
  merge can do both (Model Kinship, arXiv 2410.12613: similarity of task vectors correlates negatively with merge
  gain; too-similar models gain little);
- low redundancy: the part of tB already along tA adds nothing (task-vector cosine);
- low interference: after TIES trimming (top TRIM_DENSITY magnitudes of each), the coordinates both keep with
  opposite signs cancel in a merge; independent task vectors disagree on ~half, so only the excess over half counts;
- same layout: merges are only defined tensor by tensor on identical names and shapes.
score = complementarity * (1 - max(task cosine, 0)) * (1 - max(0, 2 * conflict - 1)). Everything is read from the
stored signatures (sampled coordinates) and embeddings: no weights are loaded.
"""

from __future__ import annotations

import numpy as np

from hubindex.catalog import Catalog
from hubindex.catalog.samples import sample_vectors
from hubindex.catalog.spaces import NULL_DELTA, delta_vectors
from hubindex.embed.methods import get_method
from hubindex.errors import HubindexError
from hubindex.merge_candidates.answers import MergeCandidate, MergeCandidates
from hubindex.status import OK_STATUSES

TRIM_DENSITY = 0.2  # TIES keeps the top 20 % magnitudes of each task vector (mergekit's common setting)
MAX_K = 1000


def sign_conflict(a: np.ndarray, b: np.ndarray, density: float = TRIM_DENSITY) -> float:
    """Share of the coordinates in both trimmed task vectors whose signs differ (0.5 if none are shared)."""
    keep = max(1, int(len(a) * density))
    top_a = np.zeros(len(a), bool)
    top_b = np.zeros(len(b), bool)
    top_a[np.argpartition(np.abs(a), -keep)[-keep:]] = True
    top_b[np.argpartition(np.abs(b), -keep)[-keep:]] = True
    both = top_a & top_b
    return float(np.mean(np.sign(a[both]) != np.sign(b[both]))) if both.any() else 0.5


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na and nb else 0.0


def _reasons(delta_cos: float | None, task_cos: float, conflict: float) -> list[str]:
    reasons = ["same layout and base: mergeable tensor by tensor"]
    if delta_cos is None:
        reasons.append("no Delta Activations to compare: domain complementarity unknown (taken as neutral)")
    elif delta_cos < 0.5:
        reasons.append(f"complementary domains: Delta Activations cosine {delta_cos:.2f}")
    else:
        reasons.append(f"similar domain (Delta Activations cosine {delta_cos:.2f}): little for a merge to add")
    if task_cos > 0.5:
        reasons.append(f"redundant: {task_cos:.0%} task-vector cosine, much of it is already in the model")
    elif task_cos < -0.2:
        reasons.append(f"opposed task vectors (cosine {task_cos:.2f}): they cancel in a merge")
    else:
        reasons.append(f"nearly orthogonal task vectors (cosine {task_cos:.2f}): little redundancy")
    if conflict > 0.55:
        reasons.append(f"interference: {conflict:.0%} sign conflicts after TIES trimming (independent: ~50%)")
    elif conflict < 0.45:
        reasons.append(f"low interference: {conflict:.0%} sign conflicts after TIES trimming (independent: ~50%)")
    return reasons


def rank(catalog: Catalog, model_id: str, k: int = 10, method: str = "hubindex") -> MergeCandidates:
    if not 1 <= k <= MAX_K:
        raise HubindexError(f"k must be between 1 and {MAX_K}, got {k}")
    get_method(method)
    row = catalog.require(model_id)
    if row["status"] not in OK_STATUSES:
        raise HubindexError(f"{model_id} is not indexed ({row['status']}: {row['error']})")
    family = row["family"]
    if row["kind"] != "model":
        raise HubindexError(f"{model_id} is an adapter: merge candidates are ranked for full models "
                            "(merge the adapter into its base first)")
    if not family or family == model_id:
        raise HubindexError(f"{model_id} is its family's root: it has no task vector to merge (rank its children)")
    layout = row["layout"]
    excluded: dict[str, str] = {}
    members = []
    for other in catalog.models(ok_only=True):
        if other["family"] != family or other["id"] in (model_id, family):
            continue
        if other["kind"] != "model":
            excluded[other["id"]] = "adapter: merge it into its base first"
        elif other["layout"] != layout:
            excluded[other["id"]] = "different tensor layout"
        else:
            members.append(other["id"])
    root = sample_vectors(catalog, family)[1]
    mine = sample_vectors(catalog, model_id)[1] - root
    tasks = {m: sample_vectors(catalog, m)[1] - root for m in members}
    norms = {m: float(np.linalg.norm(t)) for m, t in tasks.items()}
    median = float(np.median([*norms.values(), np.linalg.norm(mine)]))
    deltas = delta_vectors(catalog, method).get(family, {})
    candidates = []
    for other, task in tasks.items():
        if norms[other] < NULL_DELTA * median:
            excluded[other] = "task vector under 2% of the family's median: a copy of the base, nothing to add"
            continue
        delta_cos = float(deltas[model_id] @ deltas[other]) if model_id in deltas and other in deltas else None
        complementarity = 0.5 if delta_cos is None else (1 - delta_cos) / 2
        task_cos = _cosine(mine, task)
        conflict = sign_conflict(mine, task)
        score = complementarity * (1 - max(task_cos, 0.0)) * (1 - max(0.0, 2 * conflict - 1))
        candidates.append(MergeCandidate(model=other, score=round(score, 6), complementarity=round(complementarity, 6),
                                         delta_cosine=None if delta_cos is None else round(delta_cos, 6),
                                         task_cosine=round(task_cos, 6), sign_conflict=round(conflict, 6),
                                         reasons=_reasons(delta_cos, task_cos, conflict)))
    candidates.sort(key=lambda c: (-c.score, c.model))
    return MergeCandidates(model=model_id, base=family, method=method, candidates=candidates[:k], excluded=excluded)
