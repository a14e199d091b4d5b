"""Read side of lineage: every model's entry, the tree around one model, ranked parent candidates."""

from __future__ import annotations

from hubindex.catalog import Catalog
from hubindex.errors import HubindexError, NotFoundError
from hubindex.lineage.answers import LineageEntry, LineageNode, LineageTree, ParentCandidate

MAX_K = 1000


def entries(catalog: Catalog, family: str | None = None) -> list[LineageEntry]:
    """Every model's lineage entry, or one family's (read by SQL, not filtered here)."""
    return [LineageEntry(model=r.model_id, parents=r.parents, relation=r.relation, confidence=r.confidence,
                         evidence=r.evidence, family=r.family) for r in catalog.lineage(family=family)]


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
    """Ranked parent candidates: the chosen parent(s) first, then the other candidates by the engine's ranking,
    as stored when lineage ran (lineage/ranked_parents.py); ranked now when the stored ones are older."""
    if not 1 <= k <= MAX_K:
        raise HubindexError(f"k must be between 1 and {MAX_K}, got {k}")
    stored = catalog.stored_parents(model_id, k)
    if stored is not None:
        return [ParentCandidate(model=r.candidate, score=r.score, distance=r.distance, allowed=r.allowed,
                                evidence=r.evidence) for r in stored]
    if not catalog.lineage(model_id):
        catalog.require(model_id)
        raise NotFoundError(f"model {model_id!r} has no lineage in the catalog (not indexed, or indexing failed)")
    from hubindex.lineage.ranked_parents import rank_model  # the engine (and torch) only for a ranking on request

    return rank_model(catalog, model_id)[:k]
