"""An adapter's base among its shortlisted candidates, decided from what the bases stage measured and stored.

The bases stage (hubindex.indexer.stages, `BasesStage`) loads each shortlisted candidate and measures the gradient
alignment of the adapter on it (hubindex.indexer.adapter_base.gradient_alignment); it stores those measurements per
candidate, with the weights' scores that made the shortlist, in `adapter_base_facts` (`store`). The decision
among them needs no model, so it is taken here, from the stored facts: by the bases stage when it records its
result, and again by the lineage update (`redecide`) before families are grouped, so that a change of this rule
shows on a catalog re-run with `update_lineage(force=True)` without re-indexing. An adapter without stored facts
for its current revision (a catalog indexed before these facts were kept) keeps its stored base.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hubindex.catalog import Catalog
from hubindex.catalog.adapter_facts import adapter_fact_rows, keep_base_alignment, replace_adapter_facts
from hubindex.status import BaseSource

# The weights' choice is kept when its alignment is within this share of the best: measured on design seeds 102-104
# (real clock), 0.05 keeps 26 of 27 adapters on roots (0 keeps 24: a root and its finetune align within 1-2 %)
# and 6 of 12 on finetunes; 0.15 keeps 27 and 5. The smallest that resolves near-ties.
WEIGHTS_TIE = 0.05


@dataclass(frozen=True)
class Fact:
    """What was measured of one candidate base of an adapter."""

    candidate: str
    preferred: bool = False  # the weights' choice
    continuation: float | None = None  # weights: adapter_base.continuation_scores
    offset_cosine: float | None = None  # weights: adapter_base.offset_cosines
    alignment: float | None = None  # gradient alignment on all passages; None: not measured (did not load)
    held_out: tuple[float, ...] | None = None  # the same with each passage left out in turn
    simulated: float | None = None  # alignment with B after a few simulated Adam steps
    own: tuple[float, ...] | None = None  # first step on the candidate's own passages: all, then each left out


def decide(facts: list[Fact]) -> tuple[str, float] | None:
    """(base, margin) from the stored facts of one adapter's candidates, None when no alignment was measured.

    The first LoRA step's alignment decides (`by_alignment`) where it separates the decided base from every other
    candidate: beats it with each passage left out, each time by more than the near-tie share WEIGHTS_TIE. The
    candidates it does not separate so from the decided one go to the simulated Adam steps (`Fact.simulated`,
    adapter_base.simulated_b), whose B predicts the trained B better (it has Adam's normalisation, which the raw
    gradient lacks: cosines with the trained B ~0.4-0.6 against ~0.15-0.3) but has no held-out subsets of its own.
    Facts without simulated alignments decide by the first step. Numbers: wt-adapt4's notes (design seeds
    108-113). The alignment on each candidate's own passages (`Fact.own`) is stored but decides nothing: letting it
    overrule the result (round 11, wt-adapt7) fixed one adapter on design seed 122 and lost two on 123-125 (see
    lineage.md, round 11)."""
    aligned = {f.candidate: f.alignment for f in facts if f.alignment is not None}
    held_out = {f.candidate: list(f.held_out) for f in facts if f.alignment is not None and f.held_out}
    preferred = next((f.candidate for f in facts if f.preferred), None)
    decided = by_alignment(aligned, preferred, held_out or None)
    simulated = {f.candidate: f.simulated for f in facts if f.alignment is not None and f.simulated is not None}
    if decided is None or len(simulated) != len(aligned):
        return decided
    first = decided[0]
    tied = [first, *(c for c in sorted(aligned)
                     if c != first and not wins_every_subset(first, c, held_out, WEIGHTS_TIE))]
    if len(tied) == 1:
        return decided
    ranked = sorted(tied, key=lambda c: (-simulated[c], c))
    return ranked[0], relative_margin(simulated[ranked[0]], simulated[ranked[1]])


def by_alignment(alignments: dict[str, float], preferred: str | None = None,
                 held_out: dict[str, list[float]] | None = None) -> tuple[str, float] | None:
    """(base, margin) from gradient alignments: the best aligned, unless `preferred` (the weights' choice)
    aligns within WEIGHTS_TIE of it (then the gradient does not separate them and the weights decide), or
    `held_out` (each candidate's alignment with one passage left out, `gradient_alignment`) shows a passage
    without which the preferred one aligns as well: a win that one passage makes is no evidence against the
    weights (the yardstick is the spread across the adapter's own passages, not a fixed share). The margin over
    the runner-up, relative to the chosen one's alignment (0 when tied or not positive, 1 when alone or the
    runner-up is opposed), is stored with the base (`models.base_margin`) for the confidence."""
    if not alignments:
        return None
    ranked = sorted(alignments, key=lambda m: (-alignments[m], m))
    best = alignments[ranked[0]]
    if preferred in alignments and preferred != ranked[0] and (
            (best > 0 and alignments[preferred] >= (1 - WEIGHTS_TIE) * best)
            or not wins_every_subset(ranked[0], preferred, held_out)):
        ranked.remove(preferred)
        ranked.insert(0, preferred)
    second = alignments[ranked[1]] if len(ranked) > 1 else -1.0
    return ranked[0], relative_margin(alignments[ranked[0]], second)


def relative_margin(chosen: float, second: float) -> float:
    """The chosen alignment's lead over the runner-up, relative to itself: 0 when tied or not positive, 1 when the
    runner-up is opposed (or absent, passed as -1)."""
    return float(np.clip((chosen - second) / chosen, 0.0, 1.0)) if chosen > 0 else 0.0


def wins_every_subset(challenger: str, holder: str, held_out: dict[str, list[float]] | None,
                      share: float = 0.0) -> bool:
    """Whether `challenger` aligns better than `holder` (by more than `share` of its own alignment) with each
    passage left out in turn (True when the subsets are not known for both: nothing to hold the win against)."""
    mine, theirs = (held_out or {}).get(challenger), (held_out or {}).get(holder)
    if not mine or not theirs or len(mine) != len(theirs):
        return True
    return all((1 - share) * a > b for a, b in zip(mine, theirs, strict=True))


def store(catalog: Catalog, adapter: str, revision: str, facts: list[Fact]) -> None:
    """Replace the stored facts of `adapter` with those measured on `revision`."""
    replace_adapter_facts(catalog, adapter, revision, [
        (f.candidate, f.preferred, f.continuation, f.offset_cosine, f.alignment,
         None if f.held_out is None else list(f.held_out), f.simulated, None if f.own is None else list(f.own))
        for f in facts])


def stored(catalog: Catalog) -> dict[tuple[str, str], list[Fact]]:
    """Stored facts per (adapter, revision measured), candidates in name order."""
    out: dict[tuple[str, str], list[Fact]] = {}
    for adapter, revision, candidate, preferred, continuation, offset, alignment, held_out, simulated, own in \
            adapter_fact_rows(catalog):
        out.setdefault((adapter, revision), []).append(Fact(
            candidate, preferred, continuation, offset, alignment, None if held_out is None else tuple(held_out),
            simulated, None if own is None else tuple(own)))
    return out


def weights_choices(catalog: Catalog) -> dict[str, str]:
    """Per adapter with stored facts of its current revision: the candidate the weights chose (`Fact.preferred`).
    Whether an adapter's base is this one separates right from wrong gradient-decided bases (every wrong one of
    design seeds 114-116 was a base the weights did not choose: AUROC 0.91), a fact for the confidence."""
    revisions = {r["id"]: r["revision"] for r in catalog.models() if r["kind"] == "adapter"}
    return {adapter: f.candidate for (adapter, revision), facts in stored(catalog).items()
            if revisions.get(adapter) == revision for f in facts if f.preferred}


def redecide(catalog: Catalog) -> dict[str, tuple[str, float]]:
    """Take every gradient-decided adapter's base again from its stored facts (this revision's, among candidates
    still in the catalog) and store it where the rule now decides differently. Returns the changed adapters'
    (base, margin)."""
    facts = stored(catalog)
    if not facts:
        return {}
    present = {r["id"]: r for r in catalog.models(ok_only=True)}
    changed = {}
    for row in present.values():
        if row["kind"] != "adapter" or row["base_source"] != BaseSource.GRADIENT:
            continue
        mine = [f for f in facts.get((row["id"], row["revision"]), []) if f.candidate in present]
        if (decided := decide(mine)) is None:
            continue
        base, margin = decided
        if base == row["base"] and row["base_margin"] is not None and abs(margin - row["base_margin"]) < 1e-12:
            continue
        catalog.set_base(row["id"], present[base]["family"] or base, base, BaseSource.GRADIENT, margin)
        keep_base_alignment(catalog, row["id"])
        changed[row["id"]] = decided
    return changed
