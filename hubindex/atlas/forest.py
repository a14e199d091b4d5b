"""The lineage forest of the whole catalog in one answer: models, their parents and relation, and families."""

from __future__ import annotations

from hubindex.atlas.answers import AtlasForest, FamilySummary, ForestNode
from hubindex.catalog.spaces import delta_members
from hubindex.catalog.store import Catalog
from hubindex.embed.methods import METHODS


def forest(catalog: Catalog) -> AtlasForest:
    lineage = {r.model_id: r for r in catalog.lineage_edges()}
    deltas = {method: delta_members(catalog, method) for method in METHODS}
    methods_of: dict[str, list[str]] = {}
    for method, by_family in deltas.items():
        for members in by_family.values():
            for model in members:
                methods_of.setdefault(model, []).append(method)
    nodes = []
    sizes: dict[str, int] = {}
    for row in catalog.models_brief():
        entry = lineage.get(row.id)
        family = entry.family if entry else row.family
        if family:
            sizes[family] = sizes.get(family, 0) + 1
        nodes.append(ForestNode(
            model=row.id, family=family, kind=row.kind, status=row.status,
            relation=entry.relation if entry else None, parents=list(entry.parents) if entry else [],
            confidence=entry.confidence if entry else None, tags=row.tags,
            delta_methods=methods_of.get(row.id, [])))
    embedded = {method: {fam: len(v) for fam, v in by_family.items()} for method, by_family in deltas.items()}
    families = [FamilySummary(root=fam, size=size, embedded={m: embedded[m].get(fam, 0) for m in METHODS})
                for fam, size in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))]
    return AtlasForest(families=families, nodes=nodes)
