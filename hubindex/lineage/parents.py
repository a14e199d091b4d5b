"""A finetune's parent among its candidates (pure numpy): the nearest allowed one unless the step from it does not
look like one optimizer run (evidence.increment_tail), a checked card, then the confidence of the choice."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hubindex.lineage import confidence
from hubindex.lineage.answers import LineageEntry, ParentCandidate
from hubindex.lineage.context import Context, card_check, declared_bases
from hubindex.lineage.evidence import UNCAPPED, held_share, inherited_noise
from hubindex.lineage.fans import capped_from_parent, runs_from_parent
from hubindex.lineage.runs import SPREAD_MAX, held_spread, holds_whole, run_of_root

BETWEEN = 0.1  # cosine at P above which C is beside P (a sibling), not beyond it (a child)
DECLARED_SLACK = 1.5
# A farther candidate replaces the nearest when the step from the nearest has a tail longer than the step from
# the candidate and further above 1 than TAIL_EXCESS times a one-run reference, plus TAIL_FLOOR: the nearest's own
# step's tail (one run's tail, measured on the same samples) or, when smaller, the step from the candidate itself.
# Excess over 1, not a ratio: how clean one run's cap looks depends on the run length and the samples, and a
# sibling's difference has about twice the excess or more (see evidence.py). The second reference keeps one wrong
# decision from spreading through a fan: a sibling taken for a parent has a sibling's difference as its own step,
# which would excuse every later sibling's difference from it.
TAIL_EXCESS = 2.0
TAIL_FLOOR = 0.01
TAIL_CANDIDATES = 8  # allowed candidates, nearest first, whose step tail is examined (with their parents)
# Child of P or sibling of P (both trained from P's parent Q)? See evidence.inherited_noise. Members beside both
# (cosine of their steps from Q above SAME_DOMAIN) are Q's other children of the same domain.
SAME_DOMAIN = 0.5
SIBLING_OTHERS = 16  # at most this many of them, the most aligned with the model first
# Under the sibling hypothesis the residual correlation is ~0; a child whose own step is as long as its parent's
# shows 0.71, one four times as long 0.24. Below SIBLING_RESIDUAL the model is taken for the parent's sibling. The
# cut sits low because a few siblings span the common part only roughly (a sweep's learning rates bend it): the
# residual of siblings reached 0.6 on the design zoos, and 0.35 moved true children of a fan to the fan's
# grandparent on the bench (bench 2000 models, seed 0: 0.35 -> 0.932, 0.25 -> 0.947, none 0.933).
SIBLING_RESIDUAL = 0.25
# A model's step from a candidate continues the candidate's own step (same domain) above this cosine: sweep runs
# read as a smaller run's child 0.42-0.79 on s120 and s122 floor, a child in a new direction (a fan of the
# candidate's children) near 0. Where it does, sweep_sibling reads the sibling test with the runs decided later.
CONTINUES = 0.25
# A merge is a possible parent only of a model that holds at least this share of every source's part in it
# (evidence.held_share): a model built on the merge holds all of it (~1; its own step rarely points against a
# source), one beside it only what every run on the base shares (up to 0.54 seen, a 300-step run on s106). A merge
# lies inside its sources' hull, near their base, so by distance and angle it passes for the parent of many of the
# base's other children.
MERGE_SHARE = 0.8
HOLD_CHECKS = 3  # chosen parents whose step is tested for being held whole (runs.held_spread), walking up


@dataclass
class Ranked:
    """Candidates of one model, allowed ones first, nearest first (arrays: no per-candidate objects)."""

    members: np.ndarray
    distance: np.ndarray
    cosine: np.ndarray
    before: np.ndarray
    allowed: np.ndarray
    beside: np.ndarray  # possible parents but for the angle (cosine at them above BETWEEN)


def with_lineage(ctx: Context, index: int, candidates: np.ndarray, distance: np.ndarray) -> tuple[np.ndarray,
                                                                                                  np.ndarray]:
    """The shortlist plus the inferred parents and grandparents of its earlier members: in a fan, siblings crowd
    the shortlist and can push the common parent out of it, but a sibling decided earlier names that parent."""
    parents = ctx.parent[candidates[ctx.before(candidates, index)]]
    # Sorted, without duplicates, candidates or the model itself: as np.unique and ctx.marked gave it, through
    # Python sets (a few dozen indices: np.unique's overhead cost more than the rest of this function).
    above = {*parents.tolist(), *ctx.parent[parents[parents >= 0]].tolist()}
    above.discard(-1)
    above.difference_update(candidates.tolist())
    above.discard(index)
    if not above:
        return candidates, distance
    extra = np.array(sorted(above), dtype=np.int64)
    steps = ctx.fam.scaled[extra] - ctx.fam.scaled[index]
    extra_distance = np.sqrt(np.add.reduce(steps * steps, axis=1))  # np.linalg.norm's own sum, without its checks
    return np.concatenate([candidates, extra]), np.concatenate([distance, extra_distance])


def rank_candidates(ctx: Context, index: int, candidates: np.ndarray, distance: np.ndarray) -> Ranked:
    """`candidates` with their distances to model `index`, the root added; the angle at each candidate comes from
    the three distances (law of cosines), so ranking reads no weights."""
    root = ctx.root
    keep = candidates != index
    candidates, distance = candidates[keep], distance[keep]
    if not np.any(candidates == root):
        candidates, distance = np.append(candidates, root), np.append(distance, ctx.root_distance[index])
    back = ctx.root_distance[candidates]
    denominator = 2 * back * distance
    cosine = np.where(denominator > 0, (back**2 + distance**2 - ctx.root_distance[index] ** 2)
                      / np.maximum(denominator, 1e-300), -1.0)
    cosine[candidates == root] = -1.0
    before = ctx.before(candidates, index)
    possible = before.copy()
    if index in ctx.merged_into:  # a merge that contains this model is no parent of it
        possible &= ~ctx.marked(np.fromiter(ctx.merged_into[index], dtype=np.int64), candidates)
    if ctx.merge_sources:
        listed = candidates.tolist()  # dict look-ups on Python ints: no numpy scalar per candidate
        for position in np.flatnonzero(possible).tolist():
            if (merge := listed[position]) in ctx.merge_sources:
                possible[position] = holds_merge(ctx, index, merge)
    # The root is always possible: a finetune "older" than its family root only shows unreliable times.
    allowed = (candidates == root) | (possible & (cosine <= BETWEEN))
    # Beside by angle, yet farther from the root than the candidate (along a chain the distance from the root grows,
    # direction.py): a merge, nearer the root than its sources, never takes a source for its parent this way.
    beside = possible & ~allowed & (ctx.root_distance[candidates] < ctx.root_distance[index])
    order = np.lexsort((distance, ~allowed))
    return Ranked(candidates[order], distance[order], cosine[order], before[order], allowed[order], beside[order])


def holds_merge(ctx: Context, index: int, merge: int) -> bool:
    """May model `index` be a child of `merge`: does it hold MERGE_SHARE of every source's part (steps from the
    root: the merge's base when its sources are the root's own finetunes, and a common offset otherwise), and the
    merge's whole step in every tensor alike (runs.holds_whole)?"""
    scaled, root = ctx.fam.scaled, ctx.root
    sources = scaled[ctx.merge_sources[merge]] - scaled[root]
    return held_share(scaled[index] - scaled[root], scaled[merge] - scaled[root], sources) >= MERGE_SHARE \
        and holds_whole(scaled[index] - scaled[root], scaled[merge] - scaled[root], ctx.fam.bounds)


def sibling_residual(ctx: Context, index: int, parent: int, members: np.ndarray) -> tuple[int, float | None]:
    """(Q, evidence.inherited_noise of model `index` and `parent`, a finetune decided from Q), the others being
    Q's decided children among `members` (the model's candidates: O(k), never all of Q's children) that lie
    beside both (cosine of the steps from Q above SAME_DOMAIN). None when there is no such other (nothing to tell
    the common part from the parent's own) or `parent` was not decided as a finetune."""
    above = int(ctx.parent[parent])
    if above < 0:
        return -1, None
    scaled = ctx.fam.scaled
    others = members[(ctx.parent[members] == above) & (members != parent) & (members != index)]
    if not len(others):
        return above, None
    steps = scaled[others] - scaled[above]
    child, own = scaled[index] - scaled[above], scaled[parent] - scaled[above]
    lengths, along, to_child, same = _beside(steps, child, own)
    # Others the parent could have parented (created after it, beyond it: cosine at it of Q and the other at most
    # BETWEEN) may be its own children decided as Q's, holding its noise (see fans.py). They are left out when the
    # steps from the parent to them and to the model look like runs from the parent (fans.runs_from_parent). Only
    # known, strictly later times count: a tied or missing clock says nothing of which came first.
    if math.isfinite(float(ctx.times[parent])):
        own_length = math.sqrt(own.dot(own)) + 1e-30
        beyond = (own_length**2 - along) / own_length <= BETWEEN * np.sqrt(
            np.maximum(lengths**2 - 2 * along + own_length**2, 0.0))
        after = ctx.times[others] > ctx.times[parent]  # NaN compares False
        suspects = np.flatnonzero(same & beyond & after)
        if len(suspects) and runs_from_parent(own, np.vstack([scaled[index] - scaled[parent],
                                                                steps[suspects] - own])):
            same[suspects] = False
    return above, _residual(child, own, steps, to_child, same)


def _beside(steps: np.ndarray, child: np.ndarray, own: np.ndarray) -> tuple[np.ndarray, ...]:
    """(lengths, along, to_child, same) of the others' `steps` from Q: their norms, their dot products with the
    candidate's step `own`, their cosines with the model's step `child`, and whether they share both steps' domain
    (cosine with each above SAME_DOMAIN)."""
    # np.linalg.norm's own sums (x.dot(x) for a vector), without its checks: called for every finetune
    lengths = np.sqrt(np.add.reduce(steps * steps, axis=1)) + 1e-30
    along = steps @ own
    to_child = steps @ child / lengths / (math.sqrt(child.dot(child)) + 1e-30)
    to_parent = along / lengths / (math.sqrt(own.dot(own)) + 1e-30)
    return lengths, along, to_child, (to_child > SAME_DOMAIN) & (to_parent > SAME_DOMAIN)


def _residual(child: np.ndarray, own: np.ndarray, steps: np.ndarray, to_child: np.ndarray,
              same: np.ndarray) -> float | None:
    """evidence.inherited_noise of the model's and the candidate's steps with the `same`-domain others (the
    SIBLING_OTHERS most aligned with the model) as the common part; None without any."""
    keep = np.flatnonzero(same)
    if not len(keep):
        return None
    keep = keep[np.argsort(-to_child[keep])[:SIBLING_OTHERS]]
    return inherited_noise(child, own, steps[keep])


def later_runs_beside(ctx: Context, chosen: int, later: np.ndarray, step: np.ndarray, from_chosen: np.ndarray) -> bool:
    """May the runs created after the model (`later`, same domain; `from_chosen`: their steps from `chosen`, `step`:
    the model's) witness the common part in sweep_sibling on a known clock? Not when there are none, nor when both
    readings take them for `chosen`'s own runs: the share of its step outside their span (fans.runs_from_parent)
    and their tails (fans.capped_from_parent, shorter from `chosen` than from its parent). A parent's own children
    created after the model hold its noise and would pass the model for its sibling (bench seed 0: four fan
    children, each reading alone keeps them; seeds 0, 4, 10 with no reading: 37-70 answers lost, net)."""
    if not len(later):
        return False
    own = ctx.fam.scaled[chosen] - ctx.fam.scaled[int(ctx.parent[chosen])]
    if not runs_from_parent(own, np.vstack([step, from_chosen])):
        return True
    pair = np.array([chosen, int(ctx.parent[chosen])])
    return not capped_from_parent(np.array([ctx.step_tails(m, pair) for m in later.tolist()]))


def sweep_sibling(ctx: Context, index: int, chosen: int, members: np.ndarray) -> tuple[int, float] | None:
    """(Q, residual) when model `index` is a sibling of `chosen` (a finetune decided from Q) by the sibling test
    (evidence.inherited_noise under SIBLING_RESIDUAL) read with the runs the weights decide after the model among the
    others; None otherwise. With the clock silent, the weight
    order decides a same-domain sweep from its smallest step up: a larger run finds a smaller one beyond Q by
    distance, angle, tail and held spread, and sibling_residual has no other decided child of Q to read the common
    part from, or only the smallest runs, which do not span how a larger learning rate bends it (residuals 0.31-0.50
    on s120 and s122 floor), so the sweep cascades onto one run. Its larger runs, not decided yet, are there all along
    and span that part. Only for a step that continues the candidate's own (cosine above CONTINUES): a later member
    beside a step in a new direction is more likely the candidate's own child (a fan of them spans the candidate's
    noise, which a true child holds, and hides it), and a continuation is the question this test answers. A later
    member that continues the line may be the candidate's or the model's descendant: it holds the candidate's noise
    and lowers a true child's residual, 0.71 -> ~0.5 for one such member when all steps are alike. Measured (tied
    clocks of s120 and s122, tiny seed 7): siblings moved at 0.03-0.16, true same-domain children 0.30 and more.
    Where the clock puts `chosen` before the model, the runs after the model are those created after it, read only
    as later_runs_beside allows. A sweep created smallest run first cascades the same way on a known clock (s107,
    s110, s120 real: a sweep run given a shorter run of the sweep, residuals with the later runs 0.16, 0.018, 0.060;
    s109 real: a 300-step run given a same-domain chain head of its root, 0.005).
    `members`: the model's candidates (O(k), as sibling_residual); members decided already count only as Q's
    children (a re-save, or a member decided under another parent, is no separate run from Q)."""
    above = int(ctx.parent[chosen])
    if above < 0:
        return None
    scaled = ctx.fam.scaled
    child, own = scaled[index] - scaled[above], scaled[chosen] - scaled[above]
    step = scaled[index] - scaled[chosen]
    if step.dot(own) <= CONTINUES * math.sqrt(step.dot(step) * own.dot(own)):
        return None
    ids, decided = ctx.fam.ids, ctx.entries
    later = np.fromiter((ctx.rank[m] > ctx.rank[index] and ids[m] not in decided for m in members.tolist()),
                        dtype=bool, count=len(members))
    pick = ((ctx.parent[members] == above) | later) & (members != chosen) & (members != index) & (members != above)
    others, later = members[pick], later[pick]
    if not len(others):
        return None
    steps = scaled[others] - scaled[above]
    _, _, to_child, same = _beside(steps, child, own)
    fresh = np.flatnonzero(same & later)  # the runs after the model, of its and the candidate's domain
    if ctx.clock_orders([chosen], index) and not later_runs_beside(ctx, chosen, others[fresh], step,
                                                                  steps[fresh] - own):
        return None
    residual = _residual(child, own, steps, to_child, same)
    return (above, residual) if residual is not None and residual < SIBLING_RESIDUAL else None


def held_whole(ctx: Context, index: int, candidate: int, candidate_tail: float) -> tuple[bool, float | None]:
    """(May model `index` hold `candidate`'s whole step from the candidate's parent, runs.held_spread), the spread.
    A spread above SPREAD_MAX rejects the candidate only when its parent is the better single run: the tail test
    (TAIL_EXCESS) must not find the step from that parent clearly no single run beside the step from the
    candidate. A child that partly undoes its parent's step (another domain) keeps a share of it that differs
    from tensor to tensor, as a sibling does; but its step from the candidate is one capped run while its step
    from the candidate's parent is the sum of two runs, with no cap (evidence.increment_tail). s113's fp32 child
    of a bf16 finetune: spread 0.34, tails 1.21 from the parent and 1.48 from the root."""
    above = int(ctx.parent[candidate])
    if above < 0 or ctx.fam.bounds is None:
        return True, None
    scaled = ctx.fam.scaled
    spread = held_spread(scaled[index] - scaled[above], scaled[candidate] - scaled[above], ctx.fam.bounds)
    if spread <= SPREAD_MAX:
        return True, spread
    above_tail = float(ctx.step_tails(index, np.array([above]))[0])
    return bool(above_tail - 1 > TAIL_EXCESS * (candidate_tail - 1) + TAIL_FLOOR), spread


def uncapped_siblings(ctx: Context, index: int, chosen: int) -> bool:
    """Are model `index` and `chosen`, a run decided from the root, two runs with no displacement cap (UNCAPPED)?
    Then nothing in the weights says the model was trained from `chosen` rather than beside it, and the root is
    its parent. SGD's step follows the gradient, and the base's largest gradients (the same tokens, norms and
    heads, whatever the domain) dominate every SGD run from it: two such runs share that direction, so the
    longer lies beyond the shorter by distance and angle, holds its step evenly (held_spread 0.07-0.13) and keeps
    its residual (inherited_noise 0.80-0.84: the Adam runs that span the common part do not span this one). The
    step between them is the difference of the two, with a shorter tail than either (the shared largest
    coordinates cancel), so the tail test passes it as one run. Seen on s105, s113, s114 (every clock), s112 and
    s115 (reset): each time the root's other SGD run was chosen."""
    if ctx.parent[chosen] != ctx.root or ctx.own_tail(chosen) < UNCAPPED:
        return False
    return float(ctx.step_tails(index, np.array([ctx.root]))[0]) >= UNCAPPED


def choose_parent(ctx: Context, index: int, candidates: np.ndarray, distance: np.ndarray) -> LineageEntry:
    fam = ctx.fam
    model_id = fam.ids[index]
    ranked = rank_candidates(ctx, index, *with_lineage(ctx, index, candidates, distance))
    allowed = np.flatnonzero(ranked.allowed)  # positions in `ranked`
    # The nearest allowed candidates and the inferred parents and grandparents of those: a fan's parent can sit
    # behind dozens of its children, whose steps from one another are no single run.
    above = ctx.parent[ranked.members[allowed[:TAIL_CANDIDATES]]]
    above = np.concatenate([above, ctx.parent[above[above >= 0]]])
    # np.union1d (sorted, no duplicates) through a Python set: a few dozen positions, np.union1d's overhead cost more.
    lineage = allowed[ctx.marked(above[above >= 0], ranked.members[allowed])]
    examined = np.array(sorted({*allowed[:TAIL_CANDIDATES].tolist(), *lineage.tolist()}), dtype=np.int64)
    tail = dict(zip(examined.tolist(), ctx.step_tails(index, ranked.members[examined]).tolist(),
                    strict=True))
    best = int(allowed[0])
    own = ctx.own_tail(int(ranked.members[best]))
    for position in examined[1:].tolist():
        if ranked.members[best] == ctx.root:
            # Nothing farther than the root replaces it: a candidate C lies beyond (angle at it <= BETWEEN) is
            # nearer C than the root is unless it sits next to the root, and the root has no step of its own whose
            # tail would tell how clean one run looks (a long run's tail is long from every candidate).
            break
        if tail[best] > tail[position] and tail[best] - 1 > TAIL_EXCESS * (min(own, tail[position]) - 1) + TAIL_FLOOR:
            best, own = position, ctx.own_tail(int(ranked.members[position]))
    # Betweenness is a prior, the displacement cap is evidence: a child trained on another domain can partly undo
    # its parent's step (acute angle at the parent). Seen for every different-domain child of a bf16-saved
    # finetune on 105-113: that parent's run is short or slow (lr 5e-4-1e-3, ~45 steps) and the child's run
    # undoes 20-60 % of it (cosine at the parent +0.12 to +0.26), so the parent lies beside the child, a little
    # farther than a same-domain sibling of the parent or than another finetune of the root. A candidate beside
    # the model, nearer than the root, replaces the chosen one when the step from it is one run by the same test
    # as above (reference: the chosen one's own tail, or the step from the candidate when smaller; the root has no
    # own step) and it holds its step whole (held_whole): being beside is no evidence for it, so a candidate whose
    # step the model does not hold, and which only its tail recommends, is passed over.
    reach, passed_over = ranked.distance[ranked.members == ctx.root][0], None
    beside = np.flatnonzero(ranked.beside & (ranked.distance < reach))[:TAIL_CANDIDATES]
    if len(beside):
        beside_tails = ctx.step_tails(index, ranked.members[beside])
        reference = 0.0 if ranked.members[best] == ctx.root else own
        for position, value in zip(beside.tolist(), beside_tails.tolist(), strict=True):
            floor = min(reference, value) if reference else value
            if tail[best] > value and tail[best] - 1 > TAIL_EXCESS * (floor - 1) + TAIL_FLOOR \
                    and held_whole(ctx, index, int(ranked.members[position]), value)[0]:
                passed_over = best
                tail[position], best = value, position
                break
    # Child of the chosen one or its sibling? A same-domain sibling run lies beyond a smaller one by distance,
    # angle and tail alike; only the parent's own noise, which a child inherits and a sibling does not, tells them.
    above, residual = sibling_residual(ctx, index, int(ranked.members[best]), ranked.members)
    sibling_of = None  # the candidate found to be the model's sibling, when the choice moved to their parent
    sweep_residual = None  # sweep_sibling's residual, when that test moved the choice
    if residual is not None and residual < SIBLING_RESIDUAL:
        match = np.flatnonzero(ranked.members == above)
        if len(match) and ranked.allowed[match[0]]:
            sibling_of, best = int(ranked.members[best]), int(match[0])
    if sibling_of is None and (ahead := sweep_sibling(ctx, index, int(ranked.members[best]), ranked.members)):
        match = np.flatnonzero(ranked.members == ahead[0])
        if len(match) and ranked.allowed[match[0]]:
            sibling_of, best, sweep_residual = int(ranked.members[best]), int(match[0]), ahead[1]
    # A child holds its parent's whole step in every tensor; a run beside the candidate (same parent, any domain,
    # any length) shares a direction whose weight differs from tensor to tensor (runs.py). Not held whole: the
    # choice moves to the candidate's own parent, and that one is tested in turn.
    not_held, spread = None, None
    for _ in range(HOLD_CHECKS if fam.bounds is not None else 0):
        chosen = int(ranked.members[best])
        above = int(ctx.parent[chosen])
        if above < 0:
            break
        chosen_tail = tail[best] if best in tail else float(ctx.step_tails(index, ranked.members[[best]])[0])
        held, spread = held_whole(ctx, index, chosen, chosen_tail)
        match = np.flatnonzero(ranked.members == above)
        if held or not len(match) or not ranked.allowed[match[0]]:
            break
        not_held, best = chosen, int(match[0])
    uncapped_of = None  # the uncapped run found beside the model (uncapped_siblings): the choice moved to the root
    if ranked.members[best] != ctx.root and uncapped_siblings(ctx, index, int(ranked.members[best])):
        uncapped_of, best = int(ranked.members[best]), int(np.flatnonzero(ranked.members == ctx.root)[0])
    if fam.bounds is not None and (first := run_of_root(ctx, index, int(ranked.members[best]))) is not None:
        (not_held, spread), best = first, int(np.flatnonzero(ranked.members == ctx.root)[0])
    declared = declared_bases(fam.rows[model_id])
    if declared and declared[0] != fam.ids[ranked.members[best]]:
        match = next((int(p) for p in allowed if fam.ids[ranked.members[p]] == declared[0]), None)
        if match is not None and ranked.distance[match] <= DECLARED_SLACK * ranked.distance[best]:
            best = match
    second = next((int(p) for p in allowed if p != best), None)
    if best not in tail:
        tail[best] = float(ctx.step_tails(index, ranked.members[[best]])[0])
    others = [t for p, t in tail.items() if p != best]
    distance_margin = 1.0 if second is None or ranked.distance[second] <= 0 else \
        max(0.0, 1 - ranked.distance[best] / ranked.distance[second])
    tail_margin = min(others) - tail[best] if others else 0.0
    parent = int(ranked.members[best])
    timed = ctx.clock_orders([parent], index)
    # Child of the parent, or its sibling? The parent's own parent (the root for models decided otherwise) is the
    # alternative that distance and tail tell apart least well: about as near as the parent is no evidence either way.
    ancestor = -1 if parent == ctx.root else (int(ctx.parent[parent]) if ctx.parent[parent] >= 0 else ctx.root)
    ancestor_ratio = 0.0 if ancestor < 0 else float(ranked.distance[best]) / max(
        float(np.linalg.norm(fam.scaled[index] - fam.scaled[ancestor])), 1e-30)
    sure = confidence.finetune(distance_margin, tail_margin, second is None, timed or parent == ctx.root,
                               ancestor_ratio, residual, sibling_of is not None)
    ctx.parent[index], ctx.tails[index] = parent, tail[best]
    evidence = {"cos_at_parent": round(float(ranked.cosine[best]), 4), "created_before": bool(ranked.before[best]),
                "distance": round(float(ranked.distance[best]), 6), "step_tail": round(tail[best], 4),
                "runner_up": fam.ids[ranked.members[second]] if second is not None else None}
    if second is not None and second in tail:
        evidence["runner_up_step_tail"] = round(tail[second], 4)
    if residual is not None:
        evidence["sibling_residual"] = round(residual, 4)
    if sibling_of is not None:
        evidence["sibling_of"] = fam.ids[sibling_of]
    if sweep_residual is not None:
        evidence["sweep_residual"] = round(sweep_residual, 4)
    if uncapped_of is not None:  # a sibling found by another test: the same key, so the confidence reads it alike
        evidence["sibling_of"], evidence["uncapped_runs"] = fam.ids[uncapped_of], True
    if spread is not None:
        evidence["held_spread"] = round(spread, 4)
    if not_held is not None:
        evidence["not_held"] = fam.ids[not_held]
    if passed_over is not None:  # read by unlike_one_run
        evidence["beside_over"] = fam.ids[ranked.members[passed_over]]
        evidence["beside_over_step_tail"] = round(tail[passed_over], 4)
    if ancestor >= 0:
        evidence["ancestor"], evidence["ancestor_distance_ratio"] = fam.ids[ancestor], round(ancestor_ratio, 4)
    return LineageEntry(model=model_id, parents=[fam.ids[parent]], relation="finetune", family=fam.root,
                        confidence=sure, evidence={**evidence, **card_check(fam.rows[model_id],
                                                                                   [fam.ids[parent]])})


def unlike_one_run(ctx: Context, index: int) -> bool:
    """Is the step from the chosen parent still no single optimizer run (a tail TAIL_EXCESS times the parent's
    own, or the family's typical one-run tail when that is smaller)? Then the model may be a merge of sources
    outside its shortlist. The typical tail catches merges whose chosen parent has a long tail itself.
    A parent taken beside the model (choose_parent's `beside_over`) is judged by the candidate it replaced: a
    linear merge lies beside each of its sources, and its step from one source (a scaled difference of the two
    runs) can have as clean a tail as one run (bench seed 10: 1.08), so the merge search still runs wherever it ran
    before that rule."""
    parent, step_tail = int(ctx.parent[index]), ctx.tails[index]
    entry = ctx.entries.get(ctx.fam.ids[index])
    if entry is not None and "beside_over" in entry.evidence:
        parent, step_tail = ctx.fam.index(entry.evidence["beside_over"]), entry.evidence["beside_over_step_tail"]
    reference = min(ctx.own_tail(parent), ctx.typical_tail())
    return step_tail - 1 > TAIL_EXCESS * (reference - 1) + TAIL_FLOOR


def rank_parents(ctx: Context, index: int, candidates: tuple[np.ndarray, np.ndarray]) -> list[ParentCandidate]:
    """Possible parents of model `index` among `candidates` (plus the root), allowed ones first, nearest first."""
    fam = ctx.fam
    ranked = rank_candidates(ctx, index, *with_lineage(ctx, index, *candidates))
    declared = set(declared_bases(fam.rows[fam.ids[index]]))
    nearest = float(ranked.distance[0]) if len(ranked.members) else 1.0
    return [ParentCandidate(
        model=fam.ids[c], distance=float(d), allowed=bool(a),
        score=(round(nearest / float(d), 4) if d > 0 else 1.0) if a else 0.0,
        evidence={"cos_at_parent": round(float(cos), 4), "created_before": bool(b), "declared": fam.ids[c] in declared})
        for c, d, cos, b, a in zip(ranked.members, ranked.distance, ranked.cosine, ranked.before, ranked.allowed,
                                   strict=True)]
