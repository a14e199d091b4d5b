"""Read side of lineage: every model's entry, the tree around one model, ranked parent candidates."""

from __future__ import annotations

import numpy as np

from hubindex.catalog import Catalog
from hubindex.errors import HubindexError, NotFoundError
from hubindex.lineage.answers import LineageEntry, LineageNode, LineageTree, ParentCandidate
from hubindex.lineage.engine import parent_candidates
from hubindex.lineage.family import load_family

MAX_K = 1000


def entries(catalog: Catalog) -> list[LineageEntry]:
    return [LineageEntry(model=r["model_id"], parents=list(r["parents"]), relation=r["relation"],
                         confidence=r["confidence"], evidence=r["evidence"], family=r["family"])
            for r in catalog.lineage()]


def _entry(by_id: dict[str, LineageEntry], model_id: str) -> LineageEntry:
    if model_id not in by_id:
        raise NotFoundError(f"model {model_id!r} has no lineage in the catalog (not indexed, or indexing failed)")
    return by_id[model_id]


def tree(catalog: Catalog, model_id: str) -> LineageTree:
    by_id = {e.model: e for e in entries(catalog)}
    start = _entry(by_id, model_id)
    ancestors: list[LineageEntry] = []
    seen = {model_id}
    frontier = list(start.parents)
    while frontier:  # breadth first: parents, then grandparents (merges have several)
        parent = frontier.pop(0)
        if parent in seen or parent not in by_id:
            continue
        seen.add(parent)
        ancestors.append(by_id[parent])
        frontier.extend(by_id[parent].parents)
    children: dict[str, list[str]] = {}
    for entry in by_id.values():
        for parent in entry.parents:
            children.setdefault(parent, []).append(entry.model)

    def grow(node_id: str, path: frozenset[str]) -> LineageNode:
        entry = by_id[node_id]
        below = [grow(c, path | {c}) for c in sorted(children.get(node_id, [])) if c not in path]
        return LineageNode(model=node_id, relation=entry.relation, confidence=entry.confidence, children=below)

    return LineageTree(model=model_id, ancestors=ancestors, descendants=grow(model_id, frozenset({model_id})))


def parents(catalog: Catalog, model_id: str, k: int = 5) -> list[ParentCandidate]:
    """Ranked parent candidates: the chosen parent(s) first, then the other candidates by the engine's ranking."""
    if not 1 <= k <= MAX_K:
        raise HubindexError(f"k must be between 1 and {MAX_K}, got {k}")
    by_id = {e.model: e for e in entries(catalog)}
    entry = _entry(by_id, model_id)
    chosen = [ParentCandidate(model=p, score=round(entry.confidence, 4), distance=None, allowed=True,
                              evidence={"chosen": True, "relation": entry.relation, **entry.evidence})
              for p in entry.parents]
    row = catalog.require(model_id)
    family = row["family"]
    if row["kind"] != "model" or not family or family == model_id:
        return chosen[:k]
    members = [r for r in catalog.models(ok_only=True) if r["family"] == family]
    fam = load_family(catalog, family, members)
    model = fam.scaled[fam.index(model_id)]
    for candidate in chosen:
        if candidate.model in fam.ids:
            candidate.distance = float(np.linalg.norm(fam.scaled[fam.index(candidate.model)] - model))
    others = [c for c in parent_candidates(fam, model_id) if c.model not in entry.parents]
    return (chosen + others)[:k]
