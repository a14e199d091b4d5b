"""Time is evidence, not an oracle: lineage survives a clock that ties every created time (the Hub's createdAt floor,
or a copied folder's one mtime) and a catalog without created times."""

from __future__ import annotations

import shutil

import pytest

from hubindex.catalog import Catalog
from hubindex.indexer.stages import plan_bases
from hubindex.lineage.engine import update_lineage
from hubindex.lineage.queries import entries
from hubindex.zoo.truth import load_truth

pytestmark = pytest.mark.slow

HUB_CREATED_AT_FLOOR = "2022-03-02 23:29:04"  # what ModelInfo.created_at reports for every repo created before it


def _relineage(catalog: Catalog) -> dict:
    plan_bases(catalog, "hubindex", probe=False)
    update_lineage(catalog, force=True)
    return {e.model: e for e in entries(catalog)}


@pytest.mark.parametrize("clock", ["floor", "missing"])
def test_tied_or_missing_times_give_the_same_lineage_as_real_times(tiny_zoo, tiny_catalog, tmp_path, clock):
    """Every created time set to the floor (or removed) and every full model's card base removed: the family
    roots and the direction of every edge must come from the weights. Adapters keep adapter_config's base (the
    tiny zoo's two families share a config; telling look-alike bases apart is the probe-loss step's job)."""
    truth = load_truth(tiny_zoo)
    with Catalog(tiny_catalog, read_only=True) as catalog:
        real = {e.model: e for e in entries(catalog)}
    db = tmp_path / "tied.duckdb"
    shutil.copy(tiny_catalog, db)
    with Catalog(db) as catalog:
        created = f"TIMESTAMP '{HUB_CREATED_AT_FLOOR}'" if clock == "floor" else "NULL"
        catalog.con.execute(f"UPDATE models SET created_at = {created}, declared_base = NULL")
        tied = _relineage(catalog)
    same = sum(sorted(tied[m].parents) == sorted(real[m].parents) and tied[m].relation == real[m].relation
               for m in truth)
    right = sum(sorted(tied[m].parents) == sorted(e["parents"]) for m, e in truth.items())
    assert same / len(truth) >= 0.97, [(m, tied[m].parents, real[m].parents) for m in truth
                                       if tied[m].parents != real[m].parents]
    assert right / len(truth) >= 0.97
    roots = {m for m, e in truth.items() if e["relation"] == "root"}
    assert {m for m, e in tied.items() if e.relation == "root"} == roots
