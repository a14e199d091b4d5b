"""Infer every model's parents, relation and confidence, one family at a time.

Order of decisions, each using the weights first and declared metadata as checked evidence:
1. re-saves: models within COPY_MAX of another are copies (dtype conversions) or quantized re-saves of it; the
   original is the one in higher precision (else created first). Later steps use originals only.
2. adapters: their base as resolved at indexing (declared and shape-checked, the only fitting root, or probe loss).
3. merges (merges.py): sources, weights and method from task vectors.
4. finetunes: the nearest earlier model that C lies beyond (betweenness), or the root. A card naming another
   plausible parent (allowed, and at most DECLARED_SLACK times farther) wins; a card naming an implausible one is
   reported as a conflict and overruled.
"""

from __future__ import annotations

import hashlib
import json
import time

import numpy as np

from hubindex.catalog import Catalog
from hubindex.catalog.samples import pairwise_distances
from hubindex.lineage.answers import LineageEntry, ParentCandidate
from hubindex.lineage.evidence import COPY_MAX, cos_at, resave_kind
from hubindex.lineage.family import Family, families, load_family
from hubindex.lineage.merges import detect_merge

BETWEEN = 0.0  # cosine at P above which C is beside P (a sibling), not beyond it (a child)
DECLARED_SLACK = 1.5
PRECISION = {"F64": 4, "F32": 3, "BF16": 2, "F16": 2}


def _before(fam: Family, a: str, b: str) -> bool:
    """Was a created before b? Unknown times do not forbid."""
    ta, tb = fam.created(a), fam.created(b)
    return ta is None or tb is None or ta < tb


def _declared(row: dict) -> list[str]:
    return list(row.get("declared_base") or []) or ([row["adapter_base"]] if row.get("adapter_base") else [])


def _resaves(fam: Family, distance: np.ndarray, norms: np.ndarray) -> dict[int, tuple[int, str, float]]:
    """child index -> (original index, 'copy' | 'quantized', relative distance)."""
    out: dict[int, tuple[int, str, float]] = {}
    n = len(fam.ids)
    for i in range(n):
        for j in range(i + 1, n):
            rel = distance[i, j] / max(norms[i], norms[j], 1e-30)
            if rel >= COPY_MAX:
                continue
            a, b = fam.ids[i], fam.ids[j]
            pa, pb = PRECISION.get(fam.rows[a]["dtype"], 0), PRECISION.get(fam.rows[b]["dtype"], 0)
            if pa != pb:
                child, parent = (j, i) if pa > pb else (i, j)
            else:
                child, parent = (j, i) if _before(fam, a, b) else (i, j)
            if fam.ids[child] == fam.root:
                child, parent = parent, child
            kind = resave_kind(fam.raw[child], fam.raw[parent])
            if child not in out or rel < out[child][2]:
                out[child] = (parent, kind, float(rel))
    return out


def infer_family(fam: Family) -> list[LineageEntry]:
    distance = pairwise_distances(fam.scaled)
    norms = np.linalg.norm(fam.scaled, axis=1)
    root = fam.index(fam.root)
    tasks = fam.scaled - fam.scaled[root]
    gram = tasks @ tasks.T
    raw_tasks = fam.raw.astype(np.float64) - fam.raw[root].astype(np.float64)
    entries: dict[str, LineageEntry] = {
        fam.root: LineageEntry(model=fam.root, parents=[], relation="root", confidence=1.0, family=fam.root,
                               evidence={"source": fam.rows[fam.root].get("base_source") or "family root"})}
    resaved = _resaves(fam, distance, norms)
    for child, (parent, kind, rel) in resaved.items():
        entries[fam.ids[child]] = LineageEntry(
            model=fam.ids[child], parents=[fam.ids[parent]], relation=kind, family=fam.root,
            confidence=float(np.clip(1 - rel / COPY_MAX, 0.5, 1.0)),
            evidence={"relative_distance": round(rel, 6), "dtype": fam.rows[fam.ids[child]]["dtype"],
                      "parent_dtype": fam.rows[fam.ids[parent]]["dtype"]})
    originals = [i for i in range(len(fam.ids)) if i not in resaved]
    merged: dict[int, set[int]] = {}
    # Chronological, so a merge is known before a later merge of the same sources is examined.
    for index in sorted(originals, key=lambda i: (fam.created(fam.ids[i]) is None, fam.created(fam.ids[i]) or 0, i)):
        model_id = fam.ids[index]
        if model_id == fam.root:
            continue
        earlier = sorted((c for c in originals if c not in (index, root) and _before(fam, fam.ids[c], model_id)),
                         key=lambda c: distance[c, index])
        merge = detect_merge(fam.ids, gram, raw_tasks, index, earlier, merged)
        if merge is not None:
            merged[index] = {fam.ids.index(source) for source in merge.sources}
            confidence = float(np.clip(1 - merge.residual, 0.5, 0.99)) if merge.method not in ("ties", "dare_ties") \
                else float(min(0.99, 0.7 + min(merge.evidence["mode_shares"])))
            entries[model_id] = LineageEntry(
                model=model_id, parents=merge.sources, relation="merge", confidence=confidence, family=fam.root,
                evidence={"method": merge.method, "weights": merge.weights, "residual": round(merge.residual, 4),
                          **merge.evidence, **_card_check(fam.rows[model_id], merge.sources)})
            continue
        candidates = rank_parents(fam, distance, index, originals)
        allowed = [c for c in candidates if c.allowed]
        best = allowed[0]
        declared = _declared(fam.rows[model_id])
        if declared and declared[0] != best.model:
            match = next((c for c in allowed if c.model == declared[0]), None)
            if match is not None and match.distance <= DECLARED_SLACK * (best.distance or 0):
                best = match
        second = next((c for c in allowed if c.model != best.model), None)
        margin = 1 - (best.distance / second.distance) if second and second.distance else 1.0
        entries[model_id] = LineageEntry(
            model=model_id, parents=[best.model], relation="finetune", family=fam.root,
            confidence=float(np.clip(0.5 + margin, 0.5, 0.99)),
            evidence={**best.evidence, "distance": round(best.distance or 0.0, 6),
                      "runner_up": second.model if second else None, **_card_check(fam.rows[model_id], [best.model])})
    for adapter in fam.adapters:
        row = fam.rows[adapter]
        base = row["adapter_base"] if row["adapter_base"] in fam.rows else row["base"]
        confidence = {"declared": 0.95, "weights": 0.9, "probe-loss": 0.7}.get(row["base_source"] or "", 0.5)
        entries[adapter] = LineageEntry(model=adapter, parents=[base] if base else [], relation="adapter",
                                        confidence=confidence, family=fam.root,
                                        evidence={"base_source": row["base_source"], **_card_check(row, [base])})
    return list(entries.values())


def rank_parents(fam: Family, distance: np.ndarray, index: int, originals: list[int]) -> list[ParentCandidate]:
    """Every possible parent of model `index`, allowed ones first, nearest first."""
    model_id = fam.ids[index]
    root = fam.index(fam.root)
    declared = set(_declared(fam.rows[model_id]))
    out = []
    for c in originals:
        if c == index:
            continue
        other = fam.ids[c]
        cosine = -1.0 if c == root else cos_at(fam.scaled, root, c, index)
        before = _before(fam, other, model_id)
        allowed = before and (c == root or cosine <= BETWEEN)
        out.append((not allowed, float(distance[c, index]), other, cosine, before, allowed))
    out.sort()
    nearest = out[0][1] if out else 1.0
    return [ParentCandidate(model=other, score=round(float(nearest / d) if d > 0 else 1.0, 4) if allowed else 0.0,
                            distance=d, allowed=allowed,
                            evidence={"cos_at_parent": round(cosine, 4), "created_before": before,
                                      "declared": other in declared})
            for _, d, other, cosine, before, allowed in out]


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
