"""Infer every model's parents, relation and confidence, one family at a time.

Every decision looks at a model's shortlist: its nearest family members by weight distance (neighbours.py, FAISS),
widened by what earlier decisions know, so a family of n models costs O(n * k), never all pairs. Models are decided
in creation order where created times differ, by distance from the root where they tie or are missing, merges
after their sources (direction.py); each decision uses the weights first and declared metadata as checked evidence:
1. re-saves: models within COPY_MAX of another are copies (dtype conversions) or quantized re-saves of it; the
   original is the one in higher precision (else created first). Later steps use originals only.
2. adapters: their base as resolved at indexing (declared and shape-checked, the only fitting root, or probe loss).
3. merges (merges.py): sources, weights and method from task vectors, first among the nearest earlier models.
4. finetunes: the shortlist plus the inferred parents and grandparents of its members (a fan's parent hides behind
   its children), those C lies beyond (betweenness), created earlier, plus the root. The nearest wins unless the
   step from it does not look like one optimizer run (evidence.increment_tail): a sibling of the same domain looks
   like a parent by distance and angle, but the difference of two runs has no displacement cap. A card naming
   another plausible parent (allowed, and at most DECLARED_SLACK times farther) wins; a card naming an implausible
   one is reported as a conflict and overruled.
5. a model whose step from its chosen parent still is no single run may be a merge of sources outside the
   shortlist: matching pursuit over the whole family (_pursued_sources) proposes them, step 3's checks decide.
Finally every finetune with local weights gets low-rank delta evidence (low_rank.py): a merged LoRA shows there,
and a delta low rank from the root or the runner-up but not from the chosen parent moves the model there.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

import numpy as np

from hubindex.catalog import Catalog
from hubindex.checkpoint import ModelFolder
from hubindex.lineage import confidence
from hubindex.lineage.answers import LineageEntry, ParentCandidate
from hubindex.lineage.direction import tied_earliest, weight_order
from hubindex.lineage.evidence import (
    COPY_MAX,
    GRID_SHARE,
    PRECISION,
    grid_share,
    increment_tail,
    increment_tails,
    resave_kind,
    round_bf16,
)
from hubindex.lineage.family import Family, families, load_family
from hubindex.lineage.low_rank import low_rank_evidence
from hubindex.lineage.merges import MAX_SOURCES, MergeFit, detect_merge
from hubindex.lineage.neighbours import Neighbours, nearest_members

ROUNDED = {"BF16": round_bf16, "F16": lambda x: x.astype(np.float16).astype(np.float64)}
BETWEEN = 0.1  # cosine at P above which C is beside P (a sibling), not beyond it (a child)
DECLARED_SLACK = 1.5
# A farther candidate replaces the nearest when the step from the nearest has a tail longer than the step from
# the candidate and further above 1 than TAIL_EXCESS times the nearest's own step's (one run's tail, measured on
# the same samples), plus TAIL_FLOOR. Excess over 1, not a ratio: how clean one run's cap looks depends on the run
# length and the samples, and a sibling's difference has about twice the excess or more (see evidence.py).
TAIL_EXCESS = 2.0
TAIL_FLOOR = 0.01
TAIL_CANDIDATES = 8  # allowed candidates, nearest first, whose step tail is examined (with their parents)
NEAREST_SOURCES = 12  # merge sources tried first: the nearest earlier models
PURSUIT_SEEDS = 16  # per pursuit round: best aligned models in the projection...
PURSUIT_NEIGHBOURS = 8  # ...and this many nearest neighbours of each


def _declared(row: dict) -> list[str]:
    return list(row.get("declared_base") or []) or ([row["adapter_base"]] if row.get("adapter_base") else [])


class _Context:
    """What every decision in one family reads: samples, creation times, the shortlist, decisions so far."""

    def __init__(self, fam: Family, neighbours: Neighbours | None = None) -> None:
        self.fam = fam
        self.root = fam.index(fam.root)
        self.neighbours = neighbours or nearest_members(fam.scaled)
        self.norms = np.linalg.norm(fam.scaled, axis=1)
        self.root_distance = np.linalg.norm(fam.scaled - fam.scaled[self.root], axis=1)
        self.times = np.array([c.timestamp() if (c := fam.created(m)) is not None else np.nan for m in fam.ids])
        self.rank = weight_order(self.times, self.root_distance)
        self.merged_into: dict[int, set[int]] = {}  # source index -> merges found to contain it
        self.tied_merges: set[int] = set()  # merges found among models whose times tie (not merge sources)
        self.entries: dict[str, LineageEntry] = {}
        self.parent = np.full(len(fam.ids), -1)  # inferred parent of each finetune decided so far
        self.tails: dict[int, float] = {self.root: 1.0}  # step tail of each decided model from its parent
        self._flags = np.zeros(len(fam.ids), dtype=bool)

    def marked(self, members: np.ndarray, query: np.ndarray) -> np.ndarray:
        """np.isin(query, members) for member indices, through a reused flag array (no sort)."""
        self._flags[members] = True
        found = self._flags[query]
        self._flags[members] = False
        return found

    def before(self, candidates: np.ndarray, member: int) -> np.ndarray:
        """Did each candidate come before `member`? Created times where they differ, else distance from the root
        (direction.weight_order): time is evidence, not an oracle."""
        return self.rank[candidates] < self.rank[member]

    def not_after(self, candidates: np.ndarray, member: int) -> np.ndarray:
        """May each candidate be a merge source of `member`? Only a created time known to be later forbids: a
        merge lies inside its sources' hull, nearer the root than they are, so distance gives no order there."""
        tc, tm = self.times[candidates], self.times[member]
        return np.isnan(tc) | np.isnan(tm) | (tc <= tm)

    def reduced_tasks(self) -> tuple[np.ndarray, np.ndarray]:
        """Task vectors (model - root) in the projection, float64, and as float32 unit rows for alignment."""
        if not hasattr(self, "_reduced_tasks"):
            tasks = self.neighbours.reduced.astype(np.float64) - self.neighbours.reduced[self.root]
            length = np.linalg.norm(tasks, axis=1, keepdims=True)
            self._reduced_tasks = tasks, (tasks / np.maximum(length, 1e-30)).astype(np.float32)
        return self._reduced_tasks

    def own_tail(self, member: int) -> float:
        """Tail of the step that made `member` (from its inferred parent when it is a finetune, else the root)."""
        if member not in self.tails:
            self.tails[member] = increment_tail(self.fam.raw[member], self.fam.raw[self.root])
        return self.tails[member]


def _resaves(ctx: _Context) -> dict[int, tuple[int, str, float]]:
    """child index -> (original index, 'copy' | 'quantized', relative distance)."""
    fam = ctx.fam
    out: dict[int, tuple[int, str, float]] = {}
    near, distance = ctx.neighbours.index, ctx.neighbours.distance
    rows = np.broadcast_to(np.arange(len(near))[:, None], near.shape)
    close = distance < COPY_MAX * np.maximum(np.maximum(ctx.norms[rows], ctx.norms[near]), 1e-30)
    pairs = {(min(int(i), int(j)), max(int(i), int(j))): float(d)
             for i, j, d in zip(rows[close], near[close], distance[close], strict=True)}
    for (i, j), d in sorted(pairs.items()):
        rel = d / max(ctx.norms[i], ctx.norms[j], 1e-30)
        a, b = fam.ids[i], fam.ids[j]
        pa, pb = PRECISION.get(fam.rows[a]["dtype"], 0), PRECISION.get(fam.rows[b]["dtype"], 0)
        if pa != pb:
            child, parent = (j, i) if pa > pb else (i, j)
        elif (gi := grid_share(fam.raw[i]) >= GRID_SHARE) != (grid_share(fam.raw[j]) >= GRID_SHARE):
            child, parent = (i, j) if gi else (j, i)  # the one on a quantization grid is the re-save
        else:
            child, parent = (j, i) if ctx.before(np.array([i]), j)[0] else (i, j)
        if fam.ids[child] == fam.root:
            child, parent = parent, child
        kind = resave_kind(fam.raw[child], fam.raw[parent])
        if kind is None:  # moved off its parent without a grid: a short run, decided as a finetune
            continue
        if child not in out or rel < out[child][2]:
            out[child] = (parent, kind, float(rel))
    return out


def infer_family(fam: Family) -> list[LineageEntry]:
    ctx = _Context(fam)
    root = ctx.root
    entries = ctx.entries
    by_weights = len(tied_earliest(ctx.times)) > 1  # the clock did not name the root: the smallest norm did
    entries[fam.root] = LineageEntry(model=fam.root, parents=[], relation="root", family=fam.root,
                                     confidence=confidence.ROOT_BY_WEIGHTS if by_weights else confidence.ROOT_BY_TIME,
                                     evidence={"source": fam.rows[fam.root].get("base_source") or "family root"})
    resaved = _resaves(ctx)
    for child, (parent, kind, rel) in resaved.items():
        entries[fam.ids[child]] = LineageEntry(
            model=fam.ids[child], parents=[fam.ids[parent]], relation=kind, family=fam.root,
            confidence=confidence.resave(rel, COPY_MAX),
            evidence={"relative_distance": round(rel, 6), "dtype": fam.rows[fam.ids[child]]["dtype"],
                      "parent_dtype": fam.rows[fam.ids[parent]]["dtype"]})
    original = np.ones(len(fam.ids), dtype=bool)
    original[list(resaved)] = False
    merged: dict[str, set[str]] = {}
    root_raw = fam.raw[root].astype(np.float64)
    _merges_after_sources(ctx, original, root_raw)
    order = np.argsort(ctx.rank)
    # Chronological, so a merge is known before a later merge of the same sources is examined, and a parent's own
    # step is known before its children are.
    for index in (int(i) for i in order if original[i] and i != root):
        model_id = fam.ids[index]
        shortlist, shortlist_distance = ctx.neighbours.of(index)
        sources = _possible_sources(ctx, index, shortlist, original)
        merge = _merge(ctx, index, sources, root_raw, merged)
        if merge is None:
            keep = original[shortlist]
            entries[model_id] = _finetune(ctx, index, shortlist[keep], shortlist_distance[keep])
            if not _unlike_one_run(ctx, index):
                continue
            # Not one optimizer run from any shortlisted model: look for merge sources beyond the shortlist.
            wide = _pursued_sources(ctx, index, original)
            if not len(wide):
                continue
            merge = _merge(ctx, index, np.concatenate([sources, wide[~ctx.marked(sources, wide)]]), root_raw,
                           merged)
            if merge is None:
                continue
            ctx.parent[index] = -1
            ctx.tails.pop(index, None)
        merged[model_id] = set(merge.sources)
        for source in merge.sources:
            ctx.merged_into.setdefault(fam.index(source), set()).add(index)
        entries[model_id] = LineageEntry(
            model=model_id, parents=merge.sources, relation="merge", family=fam.root,
            confidence=confidence.merge(merge.residual, merge.evidence.get("mode_shares")),
            evidence={"method": merge.method, "weights": merge.weights, "residual": round(merge.residual, 4),
                      **merge.evidence, **_card_check(fam.rows[model_id], merge.sources)})
    for adapter in fam.adapters:
        row = fam.rows[adapter]
        base = row["base"]  # resolved at indexing: a declared base is checked there, never taken on trust
        entries[adapter] = LineageEntry(model=adapter, parents=[base] if base else [], relation="adapter",
                                        confidence=confidence.adapter(row["base_source"]), family=fam.root,
                                        evidence={"base_source": row["base_source"], **_card_check(row, [base])})
    _check_low_rank(fam, entries)
    return list(entries.values())


def _merges_after_sources(ctx: _Context, original: np.ndarray, root_raw: np.ndarray) -> None:
    """Where created times tie, distance from the root orders a merge before its sources (it lies inside their
    hull). A first pass finds the merges among tied models; each is then ranked after its sources, and merges
    found there are no merge sources of tied models (ctx.tied_merges)."""
    tied = np.isnan(ctx.times).any() or len(np.unique(ctx.times)) < len(ctx.times)
    if not tied:
        return
    key = ctx.rank.astype(np.float64)
    for index in (int(i) for i in np.argsort(ctx.rank) if original[i] and i != ctx.root):
        shortlist, _ = ctx.neighbours.of(index)
        merge = _merge(ctx, index, _possible_sources(ctx, index, shortlist, original), root_raw, {})
        if merge is not None:
            ctx.tied_merges.add(index)
            key[index] = max(key[ctx.fam.index(m)] for m in merge.sources) + 0.5
    ctx.rank = weight_order(key, np.zeros(len(key)))


def _check_low_rank(fam: Family, entries: dict[str, LineageEntry]) -> None:
    """Add low-rank delta evidence to every finetune whose weights and parent's are local (low_rank.py): a full
    checkpoint that is its parent plus a merged LoRA. Reads a few whole matrices per finetune, so it runs here,
    once the family's decisions are final, and only when its lineage is recomputed. A delta that is full rank from
    the chosen parent but low rank from the family root or the runner-up re-parents the model there: two
    independent runs never differ by a low-rank update (a same-domain sibling can look nearer than the base by
    distance and step tail, not by rank)."""
    folders: dict[str, ModelFolder] = {}
    for entry in entries.values():
        if entry.relation != "finetune" or not entry.parents:
            continue
        path = fam.rows[entry.model].get("path")
        found = low_rank_evidence(path, fam.rows[entry.parents[0]].get("path"), folders)
        # Other candidates, only for deltas that are not low rank: the root, then the runner-up (both allowed).
        others = [m for m in dict.fromkeys([fam.root, entry.evidence.get("runner_up")]) if m in fam.rows
                  and m != entry.parents[0] and entry.model not in _ancestors(entries, m)] \
            if found.get("lora_merged") is False else []
        for other in others:
            from_other = low_rank_evidence(path, fam.rows[other].get("path"), folders)
            if from_other.get("lora_merged"):
                found = {**from_other, "parent_by_rank": {"replaced": entry.parents[0],
                                                          "its_rank": found["low_rank_delta"]["rank"]}}
                entry.parents = [other]
                entry.evidence.pop("conflict", None)
                entry.evidence.update(_card_check(fam.rows[entry.model], entry.parents))
                break
        entry.evidence.update(found)


def _ancestors(entries: dict[str, LineageEntry], model_id: str) -> set[str]:
    """Every model above `model_id` as decided so far (re-parenting must not close a cycle when times are unknown)."""
    seen: set[str] = set()
    stack = list(entries[model_id].parents) if model_id in entries else []
    while stack:
        above = stack.pop()
        if above not in seen:
            seen.add(above)
            stack.extend(entries[above].parents if above in entries else [])
    return seen


def _merge(ctx: _Context, index: int, sources: np.ndarray, root_raw: np.ndarray,
           merged: dict[str, set[str]]) -> MergeFit | None:
    fam, root = ctx.fam, ctx.root
    members = np.concatenate([[index], sources])
    raw = fam.raw[members].astype(np.float64)
    rounding = ROUNDED.get(fam.rows[fam.ids[index]]["dtype"])
    if rounding is not None:
        # A merge saved in low precision holds round(source) where one source alone survives (TIES) and
        # round(root) where every source was trimmed: compare with the root and sources rounded alike.
        raw[1:] = rounding(raw[1:])
        root_raw = rounding(root_raw[None])[0]
    return detect_merge([fam.ids[c] for c in sources], fam.scaled[members] - fam.scaled[root], raw - root_raw,
                        merged)


def _unlike_one_run(ctx: _Context, index: int) -> bool:
    """Is the step from the chosen parent still no single optimizer run (a tail TAIL_EXCESS times the parent's
    own)? Then the model may be a merge of sources outside its shortlist."""
    parent = int(ctx.parent[index])
    return ctx.tails[index] - 1 > TAIL_EXCESS * (ctx.own_tail(parent) - 1) + TAIL_FLOOR


def _pursued_sources(ctx: _Context, index: int, original: np.ndarray) -> np.ndarray:
    """Merge sources by non-negative matching pursuit: each round adds the earlier model whose task vector is best
    aligned with what the sources chosen so far leave unexplained. Raw alignment ranks a second source hundreds
    deep behind the first one's relatives; the residual's does not. Each round shortlists PURSUIT_SEEDS models in
    the projection (cheap, over the whole family), adds their nearest neighbours (siblings look alike in the
    projection), and picks by the exact sample vectors, where the merge carries its source's own step."""
    fam, root = ctx.fam, ctx.root
    reduced, unit = ctx.reduced_tasks()
    possible = original & ctx.not_after(np.arange(len(fam.ids)), index)
    possible[list(ctx.tied_merges)] = False
    possible[[root, index]] = False
    if possible.sum() < 2:
        return np.zeros(0, dtype=np.int64)
    target = fam.scaled[index] - fam.scaled[root]
    chosen: list[int] = []
    left, left_projected = target, reduced[index]
    for _ in range(MAX_SOURCES):
        alignment = np.where(possible, unit @ left_projected.astype(np.float32), -np.inf)
        count = min(PURSUIT_SEEDS, len(alignment))
        seeds = np.argpartition(-alignment, count - 1)[:count]
        seeds = seeds[np.isfinite(alignment[seeds])]
        pool = np.unique(np.concatenate([seeds, ctx.neighbours.index[seeds, :PURSUIT_NEIGHBOURS].ravel()]))
        pool = pool[possible[pool]]
        pool = pool[~ctx.marked(np.array(chosen, dtype=np.int64), pool)]
        if not len(pool):
            break
        tasks = fam.scaled[pool] - fam.scaled[root]
        exact = tasks @ left / np.maximum(np.linalg.norm(tasks, axis=1), 1e-30)
        best = int(np.argmax(exact))
        if exact[best] <= 0:
            break
        chosen.append(int(pool[best]))
        sources = fam.scaled[chosen] - fam.scaled[root]
        weights = np.linalg.lstsq(sources.T, target, rcond=None)[0]
        left = target - weights @ sources
        left_projected = reduced[index] - weights @ reduced[chosen]
        if np.linalg.norm(left) < 0.01 * np.linalg.norm(target):
            break
    return np.array(chosen, dtype=np.int64)


def _possible_sources(ctx: _Context, index: int, shortlist: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Earlier original models (not the root) among the nearest: the merge sources tried first."""
    near = shortlist[original[shortlist] & (shortlist != ctx.root) & ctx.not_after(shortlist, index)]
    if ctx.tied_merges:
        near = near[~ctx.marked(np.fromiter(ctx.tied_merges, dtype=np.int64), near)]
    return near[:NEAREST_SOURCES]


@dataclass
class _Ranked:
    """Candidates of one model, allowed ones first, nearest first (arrays: no per-candidate objects)."""

    members: np.ndarray
    distance: np.ndarray
    cosine: np.ndarray
    before: np.ndarray
    allowed: np.ndarray


def _with_lineage(ctx: _Context, index: int, candidates: np.ndarray, distance: np.ndarray) -> tuple[np.ndarray,
                                                                                                  np.ndarray]:
    """The shortlist plus the inferred parents and grandparents of its earlier members: in a fan, siblings crowd
    the shortlist and can push the common parent out of it, but a sibling decided earlier names that parent."""
    above = ctx.parent[candidates[ctx.before(candidates, index)]]
    above = np.concatenate([above, ctx.parent[above[above >= 0]]])
    above = np.unique(above[above >= 0])
    extra = above[~ctx.marked(np.append(candidates, index), above)]
    if not len(extra):
        return candidates, distance
    extra_distance = np.linalg.norm(ctx.fam.scaled[extra] - ctx.fam.scaled[index], axis=1)
    return np.concatenate([candidates, extra]), np.concatenate([distance, extra_distance])


def _rank(ctx: _Context, index: int, candidates: np.ndarray, distance: np.ndarray) -> _Ranked:
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
    # The root is always possible: a finetune "older" than its family root only shows unreliable times.
    allowed = (candidates == root) | (before & (cosine <= BETWEEN))
    if index in ctx.merged_into:  # a merge that contains this model is no parent of it
        allowed &= ~ctx.marked(np.fromiter(ctx.merged_into[index], dtype=np.int64), candidates)
    order = np.lexsort((distance, ~allowed))
    return _Ranked(candidates[order], distance[order], cosine[order], before[order], allowed[order])


def _finetune(ctx: _Context, index: int, candidates: np.ndarray, distance: np.ndarray) -> LineageEntry:
    fam = ctx.fam
    model_id = fam.ids[index]
    ranked = _rank(ctx, index, *_with_lineage(ctx, index, candidates, distance))
    allowed = np.flatnonzero(ranked.allowed)  # positions in `ranked`
    # The nearest allowed candidates and the inferred parents and grandparents of those: a fan's parent can sit
    # behind dozens of its children, whose steps from one another are no single run.
    above = ctx.parent[ranked.members[allowed[:TAIL_CANDIDATES]]]
    above = np.concatenate([above, ctx.parent[above[above >= 0]]])
    examined = np.union1d(allowed[:TAIL_CANDIDATES], allowed[ctx.marked(above[above >= 0], ranked.members[allowed])])
    tail = dict(zip(examined.tolist(), increment_tails(fam.raw[index], fam.raw[ranked.members[examined]]).tolist(),
                    strict=True))
    best = int(allowed[0])
    own = ctx.own_tail(int(ranked.members[best]))
    for position in examined[1:].tolist():
        if tail[best] > tail[position] and tail[best] - 1 > TAIL_EXCESS * (own - 1) + TAIL_FLOOR:
            best, own = position, ctx.own_tail(int(ranked.members[position]))
    declared = _declared(fam.rows[model_id])
    if declared and declared[0] != fam.ids[ranked.members[best]]:
        match = next((int(p) for p in allowed if fam.ids[ranked.members[p]] == declared[0]), None)
        if match is not None and ranked.distance[match] <= DECLARED_SLACK * ranked.distance[best]:
            best = match
    second = next((int(p) for p in allowed if p != best), None)
    if best not in tail:
        tail[best] = increment_tail(fam.raw[index], fam.raw[ranked.members[best]])
    others = [t for p, t in tail.items() if p != best]
    distance_margin = 1.0 if second is None or ranked.distance[second] <= 0 else \
        max(0.0, 1 - ranked.distance[best] / ranked.distance[second])
    tail_margin = min(others) - tail[best] if others else 0.0
    parent = int(ranked.members[best])
    timed = bool(np.isfinite(ctx.times[[parent, index]]).all() and ctx.times[parent] < ctx.times[index])
    sure = confidence.finetune(distance_margin, tail_margin, second is None, timed or parent == ctx.root)
    ctx.parent[index], ctx.tails[index] = parent, tail[best]
    evidence = {"cos_at_parent": round(float(ranked.cosine[best]), 4), "created_before": bool(ranked.before[best]),
                "distance": round(float(ranked.distance[best]), 6), "step_tail": round(tail[best], 4),
                "runner_up": fam.ids[ranked.members[second]] if second is not None else None}
    if second is not None and second in tail:
        evidence["runner_up_step_tail"] = round(tail[second], 4)
    return LineageEntry(model=model_id, parents=[fam.ids[parent]], relation="finetune", family=fam.root,
                        confidence=sure, evidence={**evidence, **_card_check(fam.rows[model_id],
                                                                                   [fam.ids[parent]])})


def rank_parents(ctx: _Context, index: int, candidates: tuple[np.ndarray, np.ndarray]) -> list[ParentCandidate]:
    """Possible parents of model `index` among `candidates` (plus the root), allowed ones first, nearest first."""
    fam = ctx.fam
    ranked = _rank(ctx, index, *_with_lineage(ctx, index, *candidates))
    declared = set(_declared(fam.rows[fam.ids[index]]))
    nearest = float(ranked.distance[0]) if len(ranked.members) else 1.0
    return [ParentCandidate(
        model=fam.ids[c], distance=float(d), allowed=bool(a),
        score=(round(nearest / float(d), 4) if d > 0 else 1.0) if a else 0.0,
        evidence={"cos_at_parent": round(float(cos), 4), "created_before": bool(b), "declared": fam.ids[c] in declared})
        for c, d, cos, b, a in zip(ranked.members, ranked.distance, ranked.cosine, ranked.before, ranked.allowed,
                                   strict=True)]


def parent_candidates(fam: Family, model_id: str) -> list[ParentCandidate]:
    """`hubindex parents`: every shortlisted candidate of one model, ranked as the engine ranks them."""
    ctx = _Context(fam)
    index = fam.index(model_id)
    return rank_parents(ctx, index, ctx.neighbours.of(index))


def _card_check(row: dict, chosen: list[str]) -> dict:
    declared = _declared(row)
    if not declared:
        return {}
    agrees = sorted(declared) == sorted(chosen)
    return {"declared": declared, "card_agrees": agrees} if agrees else {
        "declared": declared, "card_agrees": False, "conflict": f"card declares {declared}, weights say {chosen}"}


def family_digest(members: list[dict]) -> str:
    """What a family's lineage depends on: its members, their revisions, declarations, times and bases."""
    keys = sorted((m["id"], m["revision"], str(m["declared_base"]), m["adapter_base"], str(m["created_at"]),
                   m["base"], m["dtype"]) for m in members)
    return hashlib.sha256(json.dumps(keys).encode()).hexdigest()[:24]


def update_lineage(catalog: Catalog, force: bool = False) -> dict[str, int]:
    """Recompute lineage for families whose members changed (all with force). Returns members per family done."""
    groups: dict[str, list[dict]] = {}
    for row in catalog.models(ok_only=True):
        groups.setdefault(row["family"] or row["id"], []).append(row)
    done = {}
    for family, members in sorted(groups.items()):
        digest = family_digest(members)
        if not force and catalog.family_digest(family) == digest:
            continue
        started = time.perf_counter()
        # Adapters whose base is unknown form a "family" without its root among the indexed models.
        # An adapter whose base is unknown is a "family" of its own, with no full model to infer from.
        rooted = any(m["id"] == family and m["kind"] == "model" for m in members)
        entries = infer_family(load_family(catalog, family, members)) if rooted else []
        known = {e.model for e in entries}
        entries += [LineageEntry(model=m["id"], parents=[], relation="root", confidence=confidence.NO_FAMILY,
                                 family=m["family"],
                                 evidence={"note": "no family or base found among indexed models"})
                    for m in members if m["id"] not in known]
        catalog.replace_lineage(family, digest, [e.model_dump() for e in entries], time.perf_counter() - started)
        done[family] = len(entries)
    catalog.drop_stale_lineage(set(groups))
    return done


def infer_all(catalog: Catalog) -> list[LineageEntry]:
    """Lineage of every indexed model, computed now (used by evaluation; the catalog keeps its own copy)."""
    entries = []
    for fam in families(catalog):
        entries.extend(infer_family(fam))
    known = {e.model for e in entries}
    for row in catalog.models(ok_only=True):
        if row["id"] not in known:
            entries.append(LineageEntry(model=row["id"], parents=[], relation="root", confidence=confidence.NO_FAMILY,
                                        family=row["family"], evidence={"note": "no family or base found"}))
    return sorted(entries, key=lambda e: e.model)
