"""The catalog hands out typed records (hubindex/catalog/records.py) and refuses a status, kind or base source
outside the vocabularies of hubindex/status.py when it is written, so no reader meets one later. DuckDB only: no
zoo, no checkpoint."""

from __future__ import annotations

import pytest

from hubindex.catalog import Catalog
from hubindex.catalog.records import LineageEdge, LineageRecord, ModelBrief, Placement, StoredParent
from hubindex.status import ModelStatus, Relation

FAILED = [s for s in ModelStatus if not s.ok]


@pytest.fixture
def catalog(tmp_path):
    with Catalog(tmp_path / "records.duckdb") as cat:
        for status in FAILED:
            cat.record_failure(f"org/{status.value}", "https://hub.example", None, status, f"{status.value}!")
        yield cat


def test_a_value_outside_the_vocabulary_is_refused_when_written(catalog):
    with pytest.raises(ValueError, match="bogus"):
        catalog.record_failure("org/new", "here", None, "bogus", "?")
    assert catalog.placements(["org/new"]) == {}
    with pytest.raises(ValueError, match="bogus"):
        catalog.set_status("org/error", "bogus", None)
    with pytest.raises(ValueError, match="guessed"):
        catalog.set_base("org/error", "org/error", "org/error", "guessed")
    catalog.set_base("org/error", "org/root", "org/root", "weights")
    assert catalog.placements(["org/error"]) == {"org/error": Placement(family="org/root", kind=None)}
    assert catalog.counts() == {s: 1 for s in FAILED}
    assert all(type(s) is ModelStatus for s in catalog.counts())


def test_reads_are_typed_records(catalog):
    briefs = catalog.models_brief()
    assert [b.id for b in briefs] == sorted(f"org/{s.value}" for s in FAILED)
    assert all(isinstance(b, ModelBrief) and type(b.status) is ModelStatus and b.tags == [] for b in briefs)
    assert catalog.delta_target("org/gated", "hubindex").status is ModelStatus.GATED
    assert catalog.delta_target("org/nobody", "hubindex") is None

    entries = [{"model": "org/gated", "parents": [], "relation": "root", "confidence": 1.0, "evidence": {}},
               {"model": "org/missing", "parents": ["org/gated"], "relation": "finetune", "confidence": 0.8,
                "evidence": {"why": "test"}}]
    catalog.replace_lineage("org/gated", "digest-1", entries, 0.1)
    lineage = catalog.lineage(family="org/gated")
    assert lineage[1] == LineageRecord(model_id="org/missing", family="org/gated", parents=["org/gated"],
                                       relation=Relation.FINETUNE, confidence=0.8, evidence={"why": "test"})
    assert [type(e) for e in catalog.lineage_edges()] == [LineageEdge, LineageEdge]
    assert catalog.lineage_edges()[0].relation is Relation.ROOT

    assert catalog.stored_parents("org/missing", 5) is None  # not ranked yet
    catalog.replace_parent_candidates("org/gated", "digest-1", {"org/missing": [
        {"model": "org/gated", "score": 0.9, "distance": None, "allowed": True, "evidence": {"chosen": True}}]})
    assert catalog.stored_parents("org/missing", 5) == [
        StoredParent(candidate="org/gated", score=0.9, distance=None, allowed=True, evidence={"chosen": True})]


def test_model_and_signature_rows_are_typed_and_still_read_by_column(catalog):
    """Model and signature rows are typed records; the lineage engine (and rows its tests build as dicts) read them
    by column name, which keeps working, including a column a later migration adds."""
    from hubindex.catalog.records import ModelRecord, SignatureRecord, TensorStatRecord
    from hubindex.errors import NotFoundError

    row = catalog.require("org/gated")
    assert isinstance(row, ModelRecord) and row.status is ModelStatus.GATED and not row.ok
    assert row["status"] == "gated" and row.get("family") is None and row["error"] == "gated!"
    assert row.kind is None and row.files == [] and dict(row)["id"] == "org/gated"
    assert {**row}.keys() == {*row} and "base_margin" in row
    listed = catalog.models()
    assert [r.id for r in listed] == sorted(f"org/{s.value}" for s in FAILED)
    assert all(type(r.status) is ModelStatus and r.files is None for r in listed)  # read without files
    assert catalog.models(ok_only=True) == [] and catalog.model("org/nobody") is None
    with pytest.raises(NotFoundError):
        catalog.require("org/nobody")

    catalog.con.execute("ALTER TABLE models ADD COLUMN later_column INTEGER DEFAULT 7")  # another branch's migration
    later = catalog.require("org/gated")
    assert later["later_column"] == 7 and later.extra == {"later_column": 7} and len(later) == len(row) + 1

    catalog.con.execute("INSERT INTO signatures VALUES ('org/gated', 'r1', 'adapter', 'L', [1.0, 2.0], [0.5], "
                        "'{\"version\": 2}')")
    catalog.con.execute("INSERT INTO tensor_stats VALUES ('org/gated', 'w', 'F32', [2, 1], 2, 1, 0, 1, 2, 3)")
    sig = catalog.signature("org/gated")
    assert isinstance(sig, SignatureRecord) and sig.kind == "adapter" and sig.shapes == {"w": (2, 1)}
    assert sig.samples.dtype == "float32" and sig["meta"] == {"version": 2} and sig["sketch"].tolist() == [0.5]
    assert catalog.signature("org/missing") is None
    (stat,) = catalog.tensor_stats("org/gated")  # tensor rows: typed, and read by column by the lineage engine
    assert isinstance(stat, TensorStatRecord) and (stat.name, stat.shape, stat.kurtosis) == ("w", [2, 1], 3.0)
    assert stat["shape"] == [2, 1] and dict(stat)["absmax"] == 2.0 and catalog.tensor_stats("org/missing") == []
