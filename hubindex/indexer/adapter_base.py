"""The base model an adapter was trained on, from the weights.

Any full model whose targeted tensors have the adapter's shapes can be the base: a family root, a finetune, a
vocabulary-extended model, a look-alike family's root. Which one is decided by where the adapter's delta points:
an adapter trained on model C continues C's training, so its delta B·A runs along the way C's own continuations
moved from C (its finetunes for a root, its children for a finetune). A candidate's score is the best cosine
between the delta and (K - C) over the members K of C's family that lie further from the root than C and beyond
it (a weight-only stand-in for C's descendants: the lineage is computed after bases). The catalog's weight
samples give every term, so no probe runs for this.

Measured on realistic design seed 101 (small, stripped): the true base scores highest for 11 of 13 adapters (all 9
on roots, including 4 whose look-alike root shares their layout: the wrong family scores < 0.1 against > 0.26; 2 of
4 on finetunes, against 0 of 4 for the earlier roots-only rule). A base with no member further along cannot be
told from the root, and neither can one whose delta aligns with nothing (best score < MIN_SCORE): then the fitting
roots go to the caller, which breaks ties by probe loss as before.

A declared base that fits is kept unless the weights clearly point elsewhere (a wrong card): its score within
DECLARED_SLACK of the best.
"""

from __future__ import annotations

import numpy as np

from hubindex.catalog import Catalog
from hubindex.fingerprint.sampling import tensor_sample
from hubindex.fingerprint.signature import split_samples
from hubindex.indexer.assignment import Assignment

MIN_SCORE = 0.15  # best cosine below this: the delta points along no member's continuation (wrong family ~0.02-0.1)
DECLARED_SLACK = 0.1  # a declared base scoring this much below the best is overruled by the weights


def continuation_scores(delta: np.ndarray, members: np.ndarray, root: int) -> np.ndarray:
    """For each member C of one family (rows of `members`, `root` its root's row): the best cosine between the
    adapter's delta and K - C over members K further from the root than C and beyond C (K - C not pointing back
    towards the root). -1 where C has no such K. From the Gram matrix: memory grows with members squared, not
    times the sample count."""
    offsets = members - members[root]  # Y: positions relative to the root
    gram = offsets @ offsets.T
    reach2 = np.diag(gram)
    lengths = np.sqrt(np.maximum(reach2[None, :] + reach2[:, None] - 2 * gram, 0.0))  # [C, K]: |K - C|
    along = offsets @ delta
    beyond = (reach2[None, :] > reach2[:, None]) & (gram - reach2[:, None] >= 0) & (lengths > 0)
    cosine = (along[None, :] - along[:, None]) / (lengths * np.linalg.norm(delta) + 1e-12)
    return np.where(beyond, cosine, -1.0).max(axis=1, initial=-1.0)


class _Weights:
    """Per-indexing-run cache of full models' layouts and target-tensor samples (each read once)."""

    def __init__(self, catalog: Catalog, found: dict[str, Assignment]):
        self.catalog, self.found = catalog, found
        self.shapes = {m: _shapes(catalog, m) for m in found}
        self._vectors: dict[tuple[str, tuple[str, ...]], np.ndarray | None] = {}

    def fitting(self, adapter_shapes: dict) -> list[str]:
        return [m for m, shapes in self.shapes.items()
                if all(shapes.get(name) == shape for name, shape in adapter_shapes.items())]

    def scaled(self, model_id: str, names: tuple[str, ...]) -> np.ndarray | None:
        key = (model_id, names)
        if key not in self._vectors:
            self._vectors[key] = _scaled(self.catalog, model_id, names)
        return self._vectors[key]

    def scores(self, delta: np.ndarray, names: tuple[str, ...], fitting: list[str]) -> dict[str, float]:
        """Continuation scores of the fitting models, family by family (a family whose root does not fit is
        left out: its members are no continuations of anything here)."""
        families: dict[str, list[str]] = {}
        for model_id in fitting:
            families.setdefault(self.found[model_id].family or model_id, []).append(model_id)
        out: dict[str, float] = {}
        for root, members in families.items():
            if root not in members:
                continue
            members = [root, *(m for m in members if m != root)]
            kept = [(m, v) for m in members if (v := self.scaled(m, names)) is not None]
            if not kept or kept[0][0] != root:
                continue
            scores = continuation_scores(delta, np.stack([v for _, v in kept]), 0)
            out.update({m: float(s) for (m, _), s in zip(kept, scores, strict=True)})
        return out


def _shapes(catalog: Catalog, model_id: str) -> dict[str, tuple]:
    return {r["name"]: tuple(r["shape"]) for r in catalog.tensor_stats(model_id)}


def _scaled(catalog: Catalog, model_id: str, names: tuple[str, ...]) -> np.ndarray | None:
    """A model's scaled samples of the named tensors (those an adapter targets), in name order."""
    sig = catalog.signature(model_id)
    if sig is None:
        return None
    shapes = {n: tuple(s) for n, s in sig["shapes"].items()}
    segments = split_samples(np.asarray(sig["samples"]), shapes)
    return np.concatenate([segments[n].astype(np.float64) * tensor_sample(n, shapes[n]).scale for n in names])


def assign_all(catalog: Catalog, adapters: list[dict], roots: list[dict],
               found: dict[str, Assignment]) -> dict[str, Assignment]:
    """Bases of `adapters` among the full models of `found` (their families as assigned)."""
    weights = _Weights(catalog, found)
    return {row["id"]: _assign(catalog, weights, row, roots) for row in adapters}


def _assign(catalog: Catalog, weights: _Weights, row: dict, roots: list[dict]) -> Assignment:
    shapes = _shapes(catalog, row["id"])
    names = tuple(sorted(shapes))
    fitting = weights.fitting(shapes)
    delta = _scaled(catalog, row["id"], names)
    scores = weights.scores(delta, names, fitting) if delta is not None and names else {}
    best = max(scores, key=lambda m: (scores[m], m), default=None)
    found = weights.found
    weak = best is None or scores[best] < MIN_SCORE
    for declared in (row["adapter_base"], *(row["declared_base"] or [])):
        if declared in fitting and (weak or scores.get(declared, -1.0) >= scores[best] - DECLARED_SLACK):
            return Assignment(found[declared].family or declared, declared, "declared")
    if not weak:
        return Assignment(found[best].family or best, best, "weights")
    fitting_roots = tuple(r["id"] for r in roots if r["id"] in fitting)
    if len(fitting_roots) == 1:
        return Assignment(fitting_roots[0], fitting_roots[0], "weights")
    return Assignment(None, None, None, fitting_roots)
