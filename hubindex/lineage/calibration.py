"""From a raw confidence score to a probability of being right: a monotone map per kind of answer, fitted on
design catalogs.

The confidence model (confidence.py) ranks answers by named terms with reasons, but its levels are guesses: right
answers sat between 0.6 and 0.9 while 95 % of them were right (under-confident), sparse merges at 0.7 were right two
times of three. The map keeps the ranking inside each kind of answer (non-decreasing in the raw score) and turns the
level into the share of right answers seen at that score on design catalogs of the realistic zoo.

Fit (`fit_map`): isotonic regression (pool-adjacent-violators, scipy) of rightness on the raw score, first over all
answers (the pooled map), then per group of relations. A group's blocks are shrunk toward the pooled map by
PRIOR_WEIGHT pseudo-answers before a second isotonic pass, so a group with few answers, or a block with a handful,
falls back to what all answers say instead of to 0 or 1 (a block of 3 right answers is no certainty); the pooled
blocks get one pseudo-answer at the overall share (219 right of 219 is 0.995, not 1), and each group block one
pseudo-answer at 0.5 (DOUBT_WEIGHT: a group seen right 130 times is less sure than one seen right 1,100 times). The
map is piecewise linear between the blocks' mean raw scores (np.interp), flat from there to the lowest and highest raw
score fitted on: strictly increasing between blocks of different level, so the raw ranking survives inside a group
except within a block. Beyond the raw scores a group was fitted on, the pooled curve speaks.

The fitted map is data (calibration.json beside this module), made by `python -m hubindex.evaluate.calibrate`; a
missing or empty file leaves raw scores as they are. `update_lineage` applies it when it stores answers and keeps the
raw score in the evidence (`raw_confidence`), so a refit reads raw scores from any catalog. Before the map, the
confidence terms that read facts from the evidence (confidence.from_evidence: a finetune whose nearest candidate a
test overruled, a finetune of a heavy-tailed run, a merge whose sources explain little) cap the raw score, so the
map sees them and they hold for catalogs stored by older decisions.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from itertools import pairwise
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field
from scipy.optimize import isotonic_regression

from hubindex.lineage import confidence
from hubindex.lineage.answers import LineageEntry
from hubindex.status import Relation

MAP_PATH = Path(__file__).with_name("calibration.json")
RAW_KEY = "raw_confidence"  # evidence key holding the confidence model's score before the map
# How many answers of the pooled map a group's block counts as beside its own: a block of 10 answers is half its
# own share and half the pooled one; groups with hundreds of answers keep their own.
PRIOR_WEIGHT = 10.0
POOLED_PRIOR_WEIGHT = 1.0
# And one pseudo-answer at 0.5 (the Jeffreys prior, Beta(1/2, 1/2)) in every group block: a group whose top block was
# right 130 times of 130 is not as sure as one right 1,100 times of 1,100 (0.996 against 0.9995), though the pooled
# curve it shrinks toward is the same. Without it every group's top sat at the pooled top (~0.999, set by the
# finetunes), and the order among the groups' tops, where a new seed's unseen failure shows (adapters given the
# root on seeds 111/112, all right on 105-110), was left to rounding. Fitted on 105-110, scored on 111-113: worst
# seed's AUROC 0.73 -> 0.89; leave-one-seed-out over 105-113: 0.90 -> 0.88 (seed 105, an SGD finetune at 0.98).
DOUBT_WEIGHT = 1.0
# Re-saves (dtype copies, quantized re-saves) are decided by one test and share their terms (confidence.resave).
GROUPS: dict[str, str] = {Relation.ROOT: "root", Relation.FINETUNE: "finetune", Relation.MERGE: "merge",
                          Relation.ADAPTER: "adapter", Relation.COPY: "resave", Relation.QUANTIZED: "resave"}


class Curve(BaseModel):
    """A non-decreasing piecewise-linear map: `probability[i]` at `raw[i]`, flat beyond the ends."""

    raw: list[float]
    probability: list[float]
    answers: int = Field(description="answers the curve was fitted on")
    right: int

    def __call__(self, score: float) -> float:
        return float(np.clip(np.interp(score, self.raw, self.probability), 0.0, 1.0))


class CalibrationMap(BaseModel):
    pooled: Curve
    groups: dict[str, Curve] = Field(default_factory=dict)
    fitted_on: list[str] = Field(default_factory=list, description="catalogs (and truth files) fitted on")

    def probability(self, relation: str, raw: float) -> float:
        curve = self.groups.get(GROUPS.get(relation, ""))
        if curve is None:
            return self.pooled(raw)
        # Beyond the raw scores a group was fitted on, its curve is flat and says nothing: the pooled curve speaks
        # where it is lower below the range (a root with no family, raw 0.3, when every fitted root was at 0.9-1.0)
        # or higher above it. min/max with a non-decreasing curve keep the map non-decreasing.
        if raw < curve.raw[0]:
            return min(curve(raw), self.pooled(raw))
        if raw > curve.raw[-1]:
            return max(curve(raw), self.pooled(raw))
        return curve(raw)


def _isotonic_blocks(values: np.ndarray, share: np.ndarray, counts: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pool-adjacent-violators over points sorted by raw score: each block's weighted mean raw score, level and
    count."""
    fitted = isotonic_regression(share, weights=counts.astype(float), increasing=True).x
    edges = np.flatnonzero(np.diff(fitted) > 1e-12) + 1
    bounds = np.concatenate([[0], edges, [len(values)]])
    knots = np.array([np.average(values[a:b], weights=counts[a:b]) for a, b in pairwise(bounds)])
    return knots, fitted[bounds[:-1]], np.add.reduceat(counts, bounds[:-1])


def _blocks(raw: np.ndarray, right: np.ndarray, prior: Callable[[np.ndarray], np.ndarray], weight: float,
            doubt: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Isotonic fit of `right` on `raw`: one point per block (its mean raw score, its share of right answers), each
    block then shrunk toward `prior` at its raw score by `weight` pseudo-answers and toward 0.5 by `doubt`, and a
    second isotonic pass over the shrunk blocks (a small block shrinks more and may fall below a larger one before
    it)."""
    order = np.argsort(raw, kind="stable")
    raw, right = raw[order], right[order].astype(float)
    # Equal raw scores are one point (the fit cannot order them): weight = how many answers share it.
    values, start, counts = np.unique(raw, return_index=True, return_counts=True)
    knots, levels, sizes = _isotonic_blocks(values, np.add.reduceat(right, start) / counts, counts)
    shrunk = (levels * sizes + weight * prior(knots) + doubt * 0.5) / (sizes + weight + doubt)
    knots, levels, _ = _isotonic_blocks(knots, shrunk, sizes + weight + doubt)
    return knots, np.clip(levels, 0.0, 1.0)


def fit_curve(raw: np.ndarray, right: np.ndarray, prior: Curve | None = None) -> Curve:
    raw, right = np.asarray(raw, dtype=float), np.asarray(right, dtype=bool)
    if prior is None:  # the pooled curve: one pseudo-answer at the overall share, so no block claims 0 or 1 outright
        knots, levels = _blocks(raw, right, lambda x: np.full(len(x), right.mean()), POOLED_PRIOR_WEIGHT)
    else:
        knots, levels = _blocks(raw, right, np.vectorize(prior.__call__), PRIOR_WEIGHT, DOUBT_WEIGHT)
    # The curve spans the raw scores it was fitted on, not only its blocks' mean scores: flat from the lowest score
    # to the first block's mean and from the last block's mean to the highest. Else a score at the top of a group's
    # data (a capped 0.95 adapter, the mean of its block a little lower) fell "beyond" the group, and the pooled
    # curve, fitted mostly on other relations, overruled what the group's own answers say at that very score.
    if raw.min() < knots[0]:
        knots, levels = np.r_[raw.min(), knots], np.r_[levels[0], levels]
    if raw.max() > knots[-1]:
        knots, levels = np.r_[knots, raw.max()], np.r_[levels, levels[-1]]
    return Curve(raw=[round(x, 6) for x in knots], probability=[round(y, 6) for y in levels],
                 answers=len(raw), right=int(np.sum(right)))


def fit_map(relations: list[str], raw: list[float], right: list[bool], fitted_on: list[str] | None = None
            ) -> CalibrationMap:
    """The pooled curve over every answer, and one curve per group of relations shrunk toward it."""
    if not raw:
        raise ValueError("no answers to fit a calibration map on")
    scores, ok = np.asarray(raw, dtype=float), np.asarray(right, dtype=bool)
    pooled = fit_curve(scores, ok)
    group_of = np.asarray([GROUPS.get(r, "") for r in relations])
    groups = {g: fit_curve(scores[group_of == g], ok[group_of == g], prior=pooled)
              for g in sorted(set(GROUPS.values())) if (group_of == g).any()}
    return CalibrationMap(pooled=pooled, groups=groups, fitted_on=fitted_on or [])


@cache
def load_map(path: Path = MAP_PATH) -> CalibrationMap | None:
    """The committed map, or None (raw scores stay) when there is none."""
    if not path.exists():
        return None
    return CalibrationMap.model_validate(json.loads(path.read_text()))


def parent_evidence(entry: LineageEntry, answers: dict[str, LineageEntry]) -> dict | None:
    """The evidence of a finetune's parent's own answer (None: not a finetune, or no answer for the parent)."""
    if entry.relation != Relation.FINETUNE or len(entry.parents) != 1 or entry.parents[0] not in answers:
        return None
    return answers[entry.parents[0]].evidence


def raw_confidence(entry: LineageEntry, answers: dict[str, LineageEntry] | None = None) -> float:
    """The confidence model's score of a stored answer (catalogs written before the map: the confidence itself),
    with the terms that read the evidence (confidence.from_evidence: caps, so a score stored after them is kept).
    `answers`: the other answers by model, for the terms that read the parent's answer."""
    stored = float(entry.evidence.get(RAW_KEY, entry.confidence))
    return confidence.from_evidence(entry.relation, entry.evidence, stored, parent_evidence(entry, answers or {}))


def apply_map(entries: list[LineageEntry], fitted: CalibrationMap | None = None) -> list[LineageEntry]:
    """The terms that read the evidence (confidence.from_evidence; a finetune's parent is answered in the same
    family, so in `entries`) first; then each answer's confidence becomes the map's probability and the raw score
    moves to the evidence."""
    answers = {entry.model: entry for entry in entries}
    for entry in entries:
        entry.confidence = confidence.from_evidence(entry.relation, entry.evidence, entry.confidence,
                                                    parent_evidence(entry, answers))
    fitted = fitted if fitted is not None else load_map()
    if fitted is None:
        return entries
    for entry in entries:
        raw = entry.confidence
        entry.evidence[RAW_KEY] = round(raw, 6)  # what a refit reads: as the map saw it
        entry.confidence = round(fitted.probability(entry.relation, raw), 4)
    return entries
