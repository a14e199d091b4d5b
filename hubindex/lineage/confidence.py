"""How sure each lineage answer is: one place, named constants, pure functions of the evidence.

These are raw scores that rank answers; calibration.py maps them to probabilities of being right (fitted on design
catalogs) when lineage is stored, so the levels here need only order answers well within each relation.

A confidence should rank answers: wrong ones low. What makes an answer doubtful:
- a finetune: another candidate about as near (distance margin) or with a step about as clean (tail margin);
  an order that only the weights gave (created times tied or missing) is weaker than one the clock confirms;
  a parent whose own parent is about as near (child or sibling of it? Same-domain runs of one base line up, and
  a smaller run looks like the parent of a larger one).
- a merge: a loose fit (residual); a sparse merge at one level (nothing measured tells a missing source); a source
  that is itself a merge; sources that are parent and child of each other with no clock to order them.
- a re-save: a relative distance near the copy radius.
- a family root: chosen by the weights among members whose times tie (smallest norm), with a small norm gap.
- an adapter: a small gradient-alignment margin; a base that is a finetune (its parent and children are near twins),
  or, where the facts are stored, a gradient base that is not the weights' choice (the two readings split).
- any answer naming a member of a re-save pair that nothing orients (decide.py): either member may be the original.
- a finetune whose parent is not the candidate the distances chose (overruled, read from the evidence): it stands on
  the one test that moved it, and the margins say nothing about that test.
- a finetune whose parent is itself a heavy-tailed run (read from the parent's answer): the test that tells a child
  from a sibling reads every same-optimizer sibling of such a run as its child.
- a dense merge whose second source explains little of what the best single source leaves (a chain can look so).
"""

from __future__ import annotations

import numpy as np

from hubindex.lineage.evidence import UNCAPPED
from hubindex.lineage.merges import DENSE_RESIDUAL
from hubindex.status import BaseSource, Relation

FINETUNE_BASE = 0.6  # a finetune with no margin at all
FINETUNE_DISTANCE = 0.5  # weight of the distance margin (1 - nearest / runner-up)
FINETUNE_TAIL = 2.0  # weight of the tail margin (runner-up's step tail - chosen one's)
# The floor: finetunes whose margins go against them were right 1 time of 48 between 0.3 (the old floor) and 0.4 on
# design seeds 105-107 (all clocks), so the floor sits low enough to say so.
FINETUNE_RANGE = (0.1, 0.98)
FINETUNE_ALONE = 0.95  # no other allowed candidate
UNTIMED_PENALTY = 0.1  # the parent comes first only by distance from the root (times tie or are missing)
# Child of its parent or sibling of it: the distance to the parent over the distance to the parent's own parent.
# Up to ANCESTOR_FREE a step of its own; above, confidence falls by ANCESTOR_WEIGHT per unit of ratio.
ANCESTOR_FREE = 0.5
ANCESTOR_WEIGHT = 1.0
# Child or sibling by inherited noise (evidence.inherited_noise, parents.SIBLING_RESIDUAL): a child whose own step
# is as long as its parent's shows a residual correlation of CHILD_RESIDUAL (1 / sqrt 2), a sibling ~0. A chosen
# parent whose residual falls short of CHILD_RESIDUAL loses SIBLING_WEIGHT per unit short. When the test moved the
# choice to the parent's parent (residual below parents.SIBLING_RESIDUAL), the nearest candidate was overruled on
# purpose, so the distance margin says nothing; how far the residual sits below the cut takes its place. The tail
# margin keeps its sign there: the step from the new parent must still look like one run at least as much as the
# step from the sibling it replaced. A merge of models outside the shortlist, moved to the family root, has the
# longer tail from the root (design seeds 106/107: tail margin -0.29 to -0.36, right moves -0.06 to +0.07).
CHILD_RESIDUAL = 0.71
SIBLING_WEIGHT = 1.0
# A finetune whose delta from its parent is low rank (low_rank.py: a merged LoRA): no other model differs from it
# by a low-rank update, so the parent is pinned whatever the distances said.
LOW_RANK_PARENT = 0.95
MERGE_RANGE = (0.5, 0.99)
# A sparse merge (TIES, DARE): its sources' ratio-mode shares tell how dense the merge was, not whether a source is
# missing (a 3-source TIES found with 2 sources had larger shares, 0.22-0.28, than right ones, 0.10-0.32), and its
# least-squares residual is large even on the right sources (TIES is no linear combination). So one level: that of a
# dense merge at the edge of acceptance (1 - merges.DENSE_RESIDUAL), since a sparse merge found complete passed a test
# of its own (merges.SPARSE_COMPLETE) as the dense one passed its residual. (It was 0.7 when sparse merges were right
# 14 times of 21 on design seeds 105-107; with today's decisions they are right 108 of 108 on 105-116, all clocks,
# and 0.7 ranked them, through the map's interpolation, below adapters at their cap that were wrong.)
SPARSE_MERGE = 1 - DENSE_RESIDUAL
# A source that is itself a merge found earlier shares the task vectors of its own sources: the fit cannot tell a
# merge of that merge from a merge of its sources (both such answers on design seeds 105-107 were wrong).
MERGE_OF_MERGE = 0.6
ROOT_BY_TIME = 1.0
ROOT_BY_WEIGHTS = 0.9  # the smallest norm among members whose times tie
RESAVE_FLOOR = 0.5
RESAVE_UNORDERED = 0.5  # same weights, same precision, tied or missing times: either could be the original
# A quantized re-save is named by the grid its values sit on (evidence.grid_share), and a quantizer moves weights by
# up to half a grid step, so its distance near the copy radius is expected, no doubt (36 of 36 right on design
# seeds 105-107 at 0.66-0.74 by distance alone).
RESAVE_QUANTIZED = 0.9
ADAPTER = {"declared": 0.95, "declared-checked": 0.9, "weights": 0.9, "probe-loss": 0.7}
ADAPTER_UNKNOWN = 0.5
# A base chosen by gradient alignment (indexer/adapter_base.py): ADAPTER_TIED when the runner-up aligns as well, rising
# by ADAPTER_MARGIN_WEIGHT per unit of relative margin (best - runner-up) / best up to ADAPTER_RANGE[1]. A margin of
# 0.15 (the best aligns 15 % better than any other candidate) reaches 0.8, the median right finetune's neighbourhood.
ADAPTER_TIED = 0.5
ADAPTER_MARGIN_WEIGHT = 2.0
ADAPTER_RANGE = (0.5, 0.95)
# A base that is a finetune (not a family root) has near twins for the gradient: its own parent and its chain
# children lie within one run of it, and the one the adapter was trained on need not be among the aligned
# candidates (the wrong ones chose the true base's parent). On design seeds 105-107 (all clocks) such answers were
# right 15 times of 39 (bases at a root: 75 of 78), so the same margin counts from a lower level and reaches at
# most ADAPTER_ON_FINETUNE[1]. Bases chosen by the weights alone (index --no-embed) on a finetune: right 3 of 6 on
# seeds 103/104, at 0.9.
ADAPTER_ON_FINETUNE_TIED = 0.35
ADAPTER_ON_FINETUNE = (0.3, 0.6)
# The margin counts in full only when the chosen base's own alignment (`models.base_alignment`) shows that the first
# LoRA step predicts the trained B at all: where every candidate aligns weakly, the gradient said little and its
# margin is noise. Design seeds 108-111 (real clock, wt-adapt4's replay): every wrong gradient base aligned < 0.12,
# right ones 0.09-0.45 (median ~0.2); below ADAPTER_ALIGNED the margin is scaled by alignment / ADAPTER_ALIGNED.
ADAPTER_ALIGNED = 0.2
# The weights' choice (`adapter_base_facts.preferred`: the candidate whose continuation of the base the adapter's
# weights score best, measured before the gradient and independently of it) is a second reading of the same base. The
# on-finetune scale above stands for "the gradient may have picked a near twin"; where the facts are stored, whether
# the two readings agree says that directly, so it takes on_root's place in choosing the scale: a gradient base that
# is the weights' choice counts from the root scale wherever it sits (two measures picked the same twin), one that
# overruled the weights counts from the finetune scale even on a root (the near twins were there and the readings
# split). Seen on design seeds 114-119 (all clocks, facts stored, gradient-decided): on a finetune and the weights'
# choice right 18 of 18, against the weights 32 of 50; on a root and the weights' choice 157 of 160, against the
# weights 0 of 3. Without stored facts (catalogs indexed before them, bases not measured) on_root decides as before.
NO_FAMILY = 0.3
# A finetune whose parent is not the candidate the distances and tails chose: the sibling test (evidence.sibling_of:
# the nearest candidate carried none of its noise, the choice moved to its parent) or the hold test (evidence.not_held:
# the nearest did not hold its step whole in every tensor) overruled it. The answer is then as good as that one test,
# and the margins that make up the score measure the candidate that lost (a sibling's low residual gives a high
# margin), so it is worth no more than a finetune with no margin at all. Seen: such answers were right 52 of 52 at a
# score >= FINETUNE_BASE on seeds 105-110 but 42 of 53 on 111-113 (children of bf16-saved parents given the root or a
# sibling at scores 0.75-0.98, the top wrong answers of those seeds), so the sure-looking ones are not sure.
# A low-rank delta from the chosen parent (evidence.lora_merged, LOW_RANK_PARENT) is a second test for it: no cap.
# The chain rule (decide.chain_read_as_merge, evidence.merge_read_as_chain) overrules a merge fit the same way: the
# weights fit both readings and only the missing clock chose the chain (right 4 of 8 on design seeds 105-116).
OVERRULED_NEAREST = FINETUNE_BASE
OVERRULED_BY = ("sibling_of", "not_held", "merge_read_as_chain")  # evidence keys naming what a test overruled
# A parent that is itself a heavy-tailed run (its own step's tail, evidence.step_tail of its answer, at least
# evidence.UNCAPPED: momentum SGD, 2.9-8 on design seeds 105-116, where adaptive-optimizer runs, continued pretraining
# and merged LoRAs stay below 2.7): runs of one such optimizer from one base move the same few heavy coordinates, so a
# sibling carries the chosen parent's "noise" as a child would (sibling_residual 0.80-0.86, read as child), lies nearer
# to the model than their common parent (ancestor ratio 0.42-0.49, under ANCESTOR_FREE), and the step from it is cleaner
# than from the true parent (tail 2.0-2.9 against 3.7-5.0, a large tail margin). Every term of the score then reads a
# sibling as a parent, and the answer is no surer than the two readings (child of the parent, or of the parent's own
# parent) with nothing to choose between them: below a finetune with no margin, where two candidates at least tie on
# evidence that measured them. Seen: 11 such answers on design seeds 105-116, all wrong, at raw 0.88-0.98 (the top wrong
# answers of 105, 112-115); the 674 other finetunes of a finetune there had parents whose own tail was at most 1.95.
HEAVY_TAILED_PARENT = 0.45
# A dense merge is accepted when its fit leaves less than merges.DENSE_RESIDUAL and beats the best single source by
# merges.DENSE_GAIN (absolute); near both limits a model that is one source's child plus a step partly along another
# model passes too. How much of the single source's residual the other sources explain says how real they are: a
# true merge's fit leaves a fraction of it (right dense merges on design seeds 105-116: single source / fit >= 4.1),
# a chain read as a SLERP left half of it (1.95). Below MERGE_RELATIVE_GAIN the merge is as doubtful as one whose
# source is itself a merge (MERGE_OF_MERGE: the fit cannot tell which reading made the model).
MERGE_RELATIVE_GAIN = 3.0


def finetune(distance_margin: float, tail_margin: float, alone: bool, timed: bool,
             ancestor_ratio: float = 0.0, sibling_residual: float | None = None, moved: bool = False) -> float:
    """High when every other candidate is farther and its step less like one optimizer run; near 0.5 when another
    is about as near or its step about as clean; lower when the parent's own parent is about as near, or when
    the model carries less of the parent's own noise than a child would (`sibling_residual`). `moved`: the
    nearest candidate was found to be a sibling and the choice moved to its parent."""
    if moved and sibling_residual is not None:
        distance_margin = max(0.0, 1 - sibling_residual / CHILD_RESIDUAL)
    value = FINETUNE_ALONE if alone else float(np.clip(
        FINETUNE_BASE + FINETUNE_DISTANCE * distance_margin + FINETUNE_TAIL * tail_margin, *FINETUNE_RANGE))
    value -= ANCESTOR_WEIGHT * max(0.0, ancestor_ratio - ANCESTOR_FREE)
    if sibling_residual is not None and not moved:
        value -= SIBLING_WEIGHT * max(0.0, CHILD_RESIDUAL - sibling_residual)
    return max(FINETUNE_RANGE[0], value if timed else value - UNTIMED_PENALTY)


def overruled(evidence: dict) -> bool:
    """Did a test move the finetune's parent away from the candidate the distances chose, or read a merge the fit
    found as a chain? (Evidence from parents.py and decide.py; an answer without those keys, from an older catalog or
    another decision, was not moved.)"""
    return any(evidence.get(key) for key in OVERRULED_BY) and evidence.get("lora_merged") is not True


def heavy_tailed(parent_evidence: dict | None) -> bool:
    """Is the parent's own step (its answer's evidence.step_tail; None: no answer, a root, a merge) uncapped?"""
    return bool(parent_evidence) and float(parent_evidence.get("step_tail") or 0.0) >= UNCAPPED


def weak_merge(evidence: dict) -> bool:
    """Did the merge's sources explain less than MERGE_RELATIVE_GAIN times what its best single source leaves?
    (Sparse merges store no single-source residual: they have their own level.)"""
    single, residual = evidence.get("single_source_residual"), evidence.get("residual")
    return single is not None and residual is not None and single < MERGE_RELATIVE_GAIN * residual


def is_weights_choice(base: str | None, preferred: str | None) -> bool | None:
    """Is an adapter's base the candidate its stored facts mark as the weights' choice (`preferred`, from
    `adapter_choice.weights_choices`; None where no facts of its revision are stored: None)?"""
    return None if preferred is None else base == preferred


def from_evidence(relation: str, evidence: dict, score: float, parent_evidence: dict | None = None) -> float:
    """The terms that read facts a decision left in the evidence (and, for a finetune, in its parent's answer:
    `parent_evidence`), applied to its score (idempotent: caps only), so they hold for answers stored by any
    version of the decisions."""
    if relation == Relation.FINETUNE and overruled(evidence):
        score = min(score, OVERRULED_NEAREST)
    if relation == Relation.FINETUNE and evidence.get("lora_merged") is not True and heavy_tailed(parent_evidence):
        score = min(score, HEAVY_TAILED_PARENT)
    if relation == Relation.MERGE and weak_merge(evidence):
        score = min(score, MERGE_OF_MERGE)
    return score


def merge(residual: float, sparse_shares: list[float] | None, merge_source: bool = False) -> float:
    """A dense merge by its residual, a sparse one (`sparse_shares`: its sources' ratio-mode shares) at one level;
    `merge_source`: some source is itself a merge. (A merge of a model and its own finetune that the clock does not
    confirm never reaches here: decide.chain_read_as_merge reads it as their chain.)"""
    sure = SPARSE_MERGE if sparse_shares else float(np.clip(1 - residual, *MERGE_RANGE))
    return min(sure, MERGE_OF_MERGE) if merge_source else sure


def resave(relative_distance: float, copy_max: float, ordered: bool = True, quantized: bool = False) -> float:
    sure = float(np.clip(1 - relative_distance / copy_max, RESAVE_FLOOR, 1.0))
    if quantized:
        sure = max(sure, RESAVE_QUANTIZED)
    return sure if ordered else min(sure, RESAVE_UNORDERED)


def adapter(base_source: str | None, margin: float | None = None, on_root: bool = True,
            alignment: float | None = None, weights_choice: bool | None = None) -> float:
    """By who decided the base; for gradient alignment, by the decision's margin (`models.base_margin`), from a
    lower level when the base is a finetune (`on_root` False), the margin scaled down when the base's own alignment
    (`models.base_alignment`, None: not stored) is weak. `weights_choice` (stored facts: is the base the weights'
    choice? None: no facts) replaces `on_root` in choosing the gradient's scale. A base that is a finetune and was
    not declared is at most ADAPTER_ON_FINETUNE[1] whoever decided it."""
    if base_source == BaseSource.GRADIENT:
        if alignment is not None and margin is not None:
            margin *= float(np.clip(alignment / ADAPTER_ALIGNED, 0.0, 1.0))
        if not (on_root if weights_choice is None else weights_choice):
            return float(np.clip(ADAPTER_ON_FINETUNE_TIED + ADAPTER_MARGIN_WEIGHT * (margin or 0.0),
                                 *ADAPTER_ON_FINETUNE))
        return float(np.clip(ADAPTER_TIED + ADAPTER_MARGIN_WEIGHT * (margin or 0.0), *ADAPTER_RANGE))
    sure = ADAPTER.get(base_source or "", ADAPTER_UNKNOWN)
    if on_root or base_source in (BaseSource.DECLARED, BaseSource.DECLARED_CHECKED):
        return sure
    return min(sure, ADAPTER_ON_FINETUNE[1])  # the near twins are there whatever decided (a card names one)
