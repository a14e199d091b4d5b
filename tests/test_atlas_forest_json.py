"""The forest built columnar by DuckDB (catalog/forest_rows.py) is byte for byte the typed build it replaced:
pydantic nodes from the catalog's row reads, on a catalog holding every value the two JSON writers disagree on."""

from __future__ import annotations

import json

import jsonschema
import numpy as np

from hubindex.atlas import forest_json
from hubindex.atlas.answers import AtlasForest, FamilySummary, ForestNode
from hubindex.catalog import Catalog
from hubindex.catalog.spaces import delta_members, delta_vectors, direction_floor, sorted_direction_floors
from hubindex.embed.methods import METHODS
from hubindex.schemas import schema_for
from tests.synthetic_catalog import write_catalog


def typed_forest(catalog: Catalog) -> AtlasForest:
    """The forest as it was built before (a pydantic node per model), the reference for the bytes."""
    lineage = {r.model_id: r for r in catalog.lineage_edges()}
    methods_of: dict[str, list[str]] = {}
    embedded = {}
    for method in METHODS:
        kept = delta_vectors(catalog, method)
        embedded[method] = {family: len(members) for family, members in kept.items()}
        for members in kept.values():
            for model in members:
                methods_of.setdefault(model, []).append(method)
    nodes, sizes = [], {}
    for row in catalog.models_brief():
        entry = lineage.get(row.id)
        family = entry.family if entry else row.family
        if family:
            sizes[family] = sizes.get(family, 0) + 1
        nodes.append(ForestNode(
            model=row.id, family=family, kind=row.kind, status=row.status,
            relation=entry.relation if entry else None, parents=list(entry.parents) if entry else [],
            confidence=entry.confidence if entry else None, tags=row.tags, delta_methods=methods_of.get(row.id, [])))
    families = [FamilySummary(root=f, size=n, embedded={m: embedded[m].get(f, 0) for m in METHODS})
                for f, n in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))]
    return AtlasForest(families=families, nodes=nodes)


def test_forest_bytes_are_the_typed_answers_on_odd_values(tmp_path):
    db = write_catalog(tmp_path / "synthetic.duckdb", 120)
    with Catalog(db) as catalog:
        con = catalog.con
        finetunes = [r.model_id for r in catalog.lineage() if r.relation == "finetune"]
        # Values DuckDB's to_json writes otherwise than pydantic: control characters (also beside a literal
        # backslash-u), tiny and huge doubles, NaN; plus a model without lineage or kind, and one without a family.
        con.execute("UPDATE models SET tags = ['ctl\x1fend', 'lit\\u001Fx\x0b', 'é \"q\"'] WHERE id = ?",
                    [finetunes[0]])
        for model, confidence in zip(finetunes[1:6], (2.5e-6, 1e20, float("nan"), 0.0, 1e-7), strict=True):
            con.execute("UPDATE lineage SET confidence = ? WHERE model_id = ?", [confidence, model])
        con.execute("DELETE FROM lineage WHERE model_id = ?", [finetunes[6]])
        con.execute("UPDATE models SET kind = NULL, tags = NULL WHERE id = ?", [finetunes[6]])
        con.execute("UPDATE lineage SET family = NULL WHERE model_id = ?", [finetunes[7]])
        con.execute("UPDATE models SET family = '' WHERE id = ?", [finetunes[8]])
        # A copy of its root: a null delta, left out of the maps.
        con.execute("UPDATE embeddings SET norm = 1e-9 WHERE model_id = ?", [finetunes[9]])
        body = forest_json(catalog)
        assert body == typed_forest(catalog).model_dump_json().encode()
        assert delta_members(catalog, "hubindex") == {f: list(m) for f, m in delta_vectors(catalog, "hubindex").items()}
    jsonschema.validate(json.loads(body), schema_for("atlas_forest"))
    nodes = {n["model"]: n for n in json.loads(body)["nodes"]}
    assert nodes[finetunes[0]]["tags"][0] == "ctl\x1fend" and nodes[finetunes[3]]["confidence"] is None
    assert nodes[finetunes[6]]["relation"] is None and nodes[finetunes[9]]["delta_methods"] == []


def test_direction_floors_at_once_are_np_median_per_family():
    rng = np.random.default_rng(3)
    groups = [rng.random(int(n)) for n in rng.integers(1, 9, size=40)]
    groups[5][2] = np.nan
    families = np.array([f"f{i:02d}" for i, g in enumerate(groups) for _ in g], dtype=object)
    norms = np.concatenate([np.sort(g) for g in groups])
    got = sorted_direction_floors(families, norms)
    want = np.array([direction_floor(list(g)) for g in groups])
    assert np.array_equal(got, want, equal_nan=True) and np.isnan(got[5])
