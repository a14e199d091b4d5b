"""Infer every model's parents, relation and confidence, one family at a time.

Every decision looks only at a model's shortlist: its nearest family members by weight distance (neighbours.py,
FAISS), so a family of n models costs O(n * k), never all pairs. Order of decisions, each using the weights first
and declared metadata as checked evidence:
1. re-saves: models within COPY_MAX of another are copies (dtype conversions) or quantized re-saves of it; the
   original is the one in higher precision (else created first). Later steps use originals only.
2. adapters: their base as resolved at indexing (declared and shape-checked, the only fitting root, or probe loss).
3. merges (merges.py): sources, weights and method from task vectors.
4. finetunes: the candidates C lies beyond (betweenness, evidence.cos_at), created earlier, plus the root. The
   nearest wins unless the step from it does not look like one optimizer run (evidence.increment_tail): a sibling
   of the same domain looks like a parent by distance and angle, but the difference of two runs has no displacement
   cap. A card naming another plausible parent (allowed, and at most DECLARED_SLACK times farther) wins; a card
   naming an implausible one is reported as a conflict and overruled.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

import numpy as np

from hubindex.catalog import Catalog
from hubindex.lineage.answers import LineageEntry, ParentCandidate
from hubindex.lineage.evidence import COPY_MAX, increment_tail, resave_kind
from hubindex.lineage.family import Family, families, load_family
from hubindex.lineage.merges import detect_merge
from hubindex.lineage.neighbours import Neighbours, nearest_members

BETWEEN = 0.0  # cosine at P above which C is beside P (a sibling), not beyond it (a child)
DECLARED_SLACK = 1.5
# A farther candidate replaces the nearest when the step from the nearest has a tail this much longer than the
# nearest's own step (one run's tail, measured on the same samples) and longer than the step from the candidate.
TAIL_SLACK = 1.1
TAIL_CANDIDATES = 8  # allowed candidates, nearest first, whose step tail is examined
PRECISION = {"F64": 4, "F32": 3, "BF16": 2, "F16": 2}


def _declared(row: dict) -> list[str]:
    return list(row.get("declared_base") or []) or ([row["adapter_base"]] if row.get("adapter_base") else [])


class _Context:
    """What every decision in one family reads: samples, creation times, the shortlist, decisions so far."""

    def __init__(self, fam: Family, neighbours: Neighbours | None = None) -> None:
        self.fam = fam
        self.root = fam.index(fam.root)
        self.neighbours = neighbours or nearest_members(fam.scaled)
        self.norms = np.linalg.norm(fam.scaled, axis=1)
        self.times = np.array([c.timestamp() if (c := fam.created(m)) is not None else np.nan for m in fam.ids])
        self.entries: dict[str, LineageEntry] = {}

    def before(self, candidates: np.ndarray, member: int) -> np.ndarray:
        """Was each candidate created before `member`? Unknown times do not forbid."""
        tc, tm = self.times[candidates], self.times[member]
        return np.isnan(tc) | np.isnan(tm) | (tc < tm)

    def own_tail(self, member: int) -> float:
        """Tail of the step that made `member` (from its inferred parent when it is a finetune, else the root)."""
        if member == self.root:
            return 1.0
        entry = self.entries.get(self.fam.ids[member])
        parent = self.fam.index(entry.parents[0]) if entry and entry.relation == "finetune" else self.root
        return increment_tail(self.fam.raw[member], self.fam.raw[parent])


def _resaves(ctx: _Context) -> dict[int, tuple[int, str, float]]:
    """child index -> (original index, 'copy' | 'quantized', relative distance)."""
    fam = ctx.fam
    out: dict[int, tuple[int, str, float]] = {}
    pairs = {(min(i, int(j)), max(i, int(j))): float(d)
             for i in range(len(fam.ids)) for j, d in zip(*ctx.neighbours.of(i), strict=True)
             if d < COPY_MAX * max(ctx.norms[i], ctx.norms[j], 1e-30)}
    for (i, j), d in sorted(pairs.items()):
        rel = d / max(ctx.norms[i], ctx.norms[j], 1e-30)
        a, b = fam.ids[i], fam.ids[j]
        pa, pb = PRECISION.get(fam.rows[a]["dtype"], 0), PRECISION.get(fam.rows[b]["dtype"], 0)
        if pa != pb:
            child, parent = (j, i) if pa > pb else (i, j)
        else:
            child, parent = (j, i) if ctx.before(np.array([i]), j)[0] else (i, j)
        if fam.ids[child] == fam.root:
            child, parent = parent, child
        kind = resave_kind(fam.raw[child], fam.raw[parent])
        if child not in out or rel < out[child][2]:
            out[child] = (parent, kind, float(rel))
    return out


def infer_family(fam: Family) -> list[LineageEntry]:
    ctx = _Context(fam)
    root = ctx.root
    entries = ctx.entries
    entries[fam.root] = LineageEntry(model=fam.root, parents=[], relation="root", confidence=1.0, family=fam.root,
                                     evidence={"source": fam.rows[fam.root].get("base_source") or "family root"})
    resaved = _resaves(ctx)
    for child, (parent, kind, rel) in resaved.items():
        entries[fam.ids[child]] = LineageEntry(
            model=fam.ids[child], parents=[fam.ids[parent]], relation=kind, family=fam.root,
            confidence=float(np.clip(1 - rel / COPY_MAX, 0.5, 1.0)),
            evidence={"relative_distance": round(rel, 6), "dtype": fam.rows[fam.ids[child]]["dtype"],
                      "parent_dtype": fam.rows[fam.ids[parent]]["dtype"]})
    original = np.ones(len(fam.ids), dtype=bool)
    original[list(resaved)] = False
    merged: dict[str, set[str]] = {}
    order = np.lexsort((np.arange(len(fam.ids)), np.nan_to_num(ctx.times, nan=-np.inf)))
    # Chronological, so a merge is known before a later merge of the same sources is examined, and a parent's own
    # step is known before its children are.
    for index in (int(i) for i in order if original[i] and i != root):
        model_id = fam.ids[index]
        shortlist = ctx.neighbours.of(index)[0]
        earlier = shortlist[original[shortlist] & (shortlist != root) & ctx.before(shortlist, index)]
        members = np.concatenate([[index], earlier])
        merge = detect_merge([fam.ids[c] for c in earlier], fam.scaled[members] - fam.scaled[root],
                             fam.raw[members].astype(np.float64) - fam.raw[root].astype(np.float64), merged)
        if merge is not None:
            merged[model_id] = set(merge.sources)
            confidence = float(np.clip(1 - merge.residual, 0.5, 0.99)) if merge.method not in ("ties", "dare_ties") \
                else float(min(0.99, 0.7 + min(merge.evidence["mode_shares"])))
            entries[model_id] = LineageEntry(
                model=model_id, parents=merge.sources, relation="merge", confidence=confidence, family=fam.root,
                evidence={"method": merge.method, "weights": merge.weights, "residual": round(merge.residual, 4),
                          **merge.evidence, **_card_check(fam.rows[model_id], merge.sources)})
            continue
        entries[model_id] = _finetune(ctx, index, shortlist[original[shortlist]])
    for adapter in fam.adapters:
        row = fam.rows[adapter]
        base = row["base"]  # resolved at indexing: a declared base is checked there, never taken on trust
        confidence = {"declared": 0.95, "declared-checked": 0.9, "weights": 0.9, "probe-loss": 0.7}.get(
            row["base_source"] or "", 0.5)
        entries[adapter] = LineageEntry(model=adapter, parents=[base] if base else [], relation="adapter",
                                        confidence=confidence, family=fam.root,
                                        evidence={"base_source": row["base_source"], **_card_check(row, [base])})
    return list(entries.values())


@dataclass
class _Ranked:
    """Candidates of one model, allowed ones first, nearest first (arrays: no per-candidate objects)."""

    members: np.ndarray
    distance: np.ndarray
    cosine: np.ndarray
    before: np.ndarray
    allowed: np.ndarray


def _rank(ctx: _Context, index: int, candidates: np.ndarray) -> _Ranked:
    fam, root = ctx.fam, ctx.root
    candidates = np.unique(np.append(candidates[candidates != index], root))
    model = fam.scaled[index]
    distance = np.linalg.norm(fam.scaled[candidates] - model, axis=1)
    back = fam.scaled[root] - fam.scaled[candidates]
    forward = model - fam.scaled[candidates]
    denominator = np.linalg.norm(back, axis=1) * distance
    cosine = np.where(denominator > 0, np.einsum("ij,ij->i", back, forward) / np.maximum(denominator, 1e-300), -1.0)
    cosine[candidates == root] = -1.0
    before = ctx.before(candidates, index)
    # The root is always possible: a finetune "older" than its family root only shows unreliable times.
    allowed = (candidates == root) | (before & (cosine <= BETWEEN))
    order = np.lexsort((distance, ~allowed))
    return _Ranked(candidates[order], distance[order], cosine[order], before[order], allowed[order])


def _finetune(ctx: _Context, index: int, shortlist: np.ndarray) -> LineageEntry:
    fam = ctx.fam
    model_id = fam.ids[index]
    ranked = _rank(ctx, index, shortlist)
    allowed = [int(i) for i in np.flatnonzero(ranked.allowed)]  # positions in `ranked`
    best = allowed[0]
    tail = {}

    def step_tail(position: int) -> float:
        if position not in tail:
            tail[position] = increment_tail(fam.raw[index], fam.raw[ranked.members[position]])
        return tail[position]

    own = ctx.own_tail(int(ranked.members[best]))
    for position in allowed[1:TAIL_CANDIDATES]:
        if step_tail(best) > max(step_tail(position), TAIL_SLACK * own):
            best, own = position, ctx.own_tail(int(ranked.members[position]))
    declared = _declared(fam.rows[model_id])
    if declared and declared[0] != fam.ids[ranked.members[best]]:
        match = next((p for p in allowed if fam.ids[ranked.members[p]] == declared[0]), None)
        if match is not None and ranked.distance[match] <= DECLARED_SLACK * ranked.distance[best]:
            best = match
    second = next((p for p in allowed if p != best), None)
    step_tail(best)
    others = [t for p, t in tail.items() if p != best]
    distance_margin = 1.0 if second is None or ranked.distance[second] <= 0 else \
        max(0.0, 1 - ranked.distance[best] / ranked.distance[second])
    tail_margin = min(others) - tail[best] if others else 0.0
    # High when every other candidate is farther and its step less like one optimizer run; near 0.5 when another
    # is about as near or its step about as clean.
    confidence = 0.95 if second is None else float(np.clip(0.6 + 0.5 * distance_margin + 2 * tail_margin, 0.3, 0.98))
    parent = fam.ids[ranked.members[best]]
    evidence = {"cos_at_parent": round(float(ranked.cosine[best]), 4), "created_before": bool(ranked.before[best]),
                "distance": round(float(ranked.distance[best]), 6), "step_tail": round(tail[best], 4),
                "runner_up": fam.ids[ranked.members[second]] if second is not None else None}
    if second is not None and second in tail:
        evidence["runner_up_step_tail"] = round(tail[second], 4)
    return LineageEntry(model=model_id, parents=[parent], relation="finetune", family=fam.root,
                        confidence=confidence, evidence={**evidence, **_card_check(fam.rows[model_id], [parent])})


def rank_parents(ctx: _Context, index: int, candidates: np.ndarray) -> list[ParentCandidate]:
    """Possible parents of model `index` among `candidates` (plus the root), allowed ones first, nearest first."""
    fam = ctx.fam
    ranked = _rank(ctx, index, candidates)
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
    return rank_parents(ctx, index, ctx.neighbours.of(index)[0])


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
        rooted = family in {m["id"] for m in members}
        entries = infer_family(load_family(catalog, family, members)) if rooted else []
        known = {e.model for e in entries}
        entries += [LineageEntry(model=m["id"], parents=[], relation="root", confidence=0.3, family=m["family"],
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
            entries.append(LineageEntry(model=row["id"], parents=[], relation="root", confidence=0.3,
                                        family=row["family"], evidence={"note": "no family or base found"}))
    return sorted(entries, key=lambda e: e.model)
