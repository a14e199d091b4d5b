"""Ranked parent candidates of every model, computed when lineage runs and stored in the catalog, so `/parents`
and `hubindex parents` read rows instead of redoing the family's projection and FAISS search per request.

The ranking is the engine's (`engine.parent_candidates`) behind the chosen parent(s). A family is ranked again
when its lineage digest changes; `store_parent_candidates` runs after `engine.update_lineage`.
"""

from __future__ import annotations

import numpy as np

from hubindex.catalog import Catalog
from hubindex.catalog.records import LineageRecord
from hubindex.lineage.answers import ParentCandidate
from hubindex.lineage.context import Context
from hubindex.lineage.engine import parent_candidates
from hubindex.lineage.family import Family, load_family


def ranked(fam: Family | None, row: dict, lineage: LineageRecord, ctx: Context | None = None
           ) -> list[ParentCandidate]:
    """Every candidate parent of one model: the chosen parent(s) first, then the others by the engine's ranking.
    `fam` is the model's family loaded (None for adapters, roots and models without a family); `ctx` its context,
    built once for all of a family's members."""
    chosen = [ParentCandidate(model=p, score=round(lineage.confidence, 4), distance=None, allowed=True,
                              evidence={"chosen": True, "relation": lineage.relation, **lineage.evidence})
              for p in lineage.parents]
    if fam is None or not _has_weights_family(row) or row["id"] not in fam.ids:
        return chosen
    model = fam.scaled[fam.index(row["id"])]
    for candidate in chosen:
        if candidate.model in fam.ids:
            candidate.distance = float(np.linalg.norm(fam.scaled[fam.index(candidate.model)] - model))
    return chosen + [c for c in parent_candidates(fam, row["id"], ctx) if c.model not in lineage.parents]


def _has_weights_family(row: dict) -> bool:
    return row["kind"] == "model" and bool(row["family"]) and row["family"] != row["id"]


def family_of(catalog: Catalog, family: str, members: list[dict]) -> Family | None:
    """The family's samples when some member has parents to rank from the weights."""
    if not any(_has_weights_family(m) for m in members):
        return None
    return load_family(catalog, family, [m for m in members if m["family"] == family])


def rank_model(catalog: Catalog, model_id: str) -> list[ParentCandidate]:
    """One model's candidates computed now: for a catalog whose lineage is newer than its stored candidates."""
    row = catalog.require(model_id)
    lineage = catalog.lineage(model_id)[0]
    fam = None
    if _has_weights_family(row):
        fam = load_family(catalog, row["family"],
                          [r for r in catalog.models(ok_only=True) if r["family"] == row["family"]])
    return ranked(fam, row, lineage)


def store_parent_candidates(catalog: Catalog) -> dict[str, int]:
    """Rank and store the parent candidates of every family whose lineage changed since they were stored (run it
    after `update_lineage`). Returns models ranked per family."""
    stale = catalog.unranked_parent_families()
    done: dict[str, int] = {}
    if stale:
        groups: dict[str, list[dict]] = {}
        for row in catalog.models(ok_only=True):
            groups.setdefault(row["family"] or row["id"], []).append(row)
        lineage: dict[str, list[LineageRecord]] = {}
        for entry in catalog.lineage():
            if entry.family in stale:
                lineage.setdefault(entry.family, []).append(entry)
        for family, digest in stale.items():
            members = {m["id"]: m for m in groups.get(family, [])}
            fam = family_of(catalog, family, list(members.values()))
            ctx = Context(fam) if fam is not None else None
            answers = {e.model_id: [c.model_dump() for c in ranked(fam, members[e.model_id], e, ctx)]
                       for e in lineage.get(family, []) if e.model_id in members}
            catalog.replace_parent_candidates(family, digest, answers)
            done[family] = len(answers)
    catalog.drop_stale_parent_candidates()
    return done
