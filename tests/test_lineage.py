"""Lineage from the weights on the test zoos: relations, merge sources, re-saves, CLI contract and baselines."""

from __future__ import annotations

import json

import jsonschema
import pytest
from click.testing import CliRunner
from hubindex.cli.main import cli

from hubindex.catalog import Catalog
from hubindex.indexer.pipeline import index_paths
from hubindex.lineage.queries import entries
from hubindex.schemas import schema_for
from hubindex.zoo.truth import load_truth

pytestmark = pytest.mark.slow


def _cli(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def _check(found, truth):
    for model_id, entry in truth.items():
        got = found[model_id]
        if entry["relation"] in ("root", "adapter", "copy", "quantized", "merge"):
            assert got.relation == entry["relation"], (model_id, got)
            assert sorted(got.parents) == sorted(entry["parents"]), (model_id, got)
        else:
            assert got.relation == "finetune", (model_id, got)
    parent_ok = sum(sorted(found[m].parents) == sorted(e["parents"]) for m, e in truth.items())
    return parent_ok / len(truth)


def test_lineage_json_matches_truth_on_the_tiny_zoo(tiny_zoo, tiny_catalog):
    truth = load_truth(tiny_zoo)
    answer = json.loads(_cli("lineage", "--db", tiny_catalog, "--json"))
    jsonschema.validate(answer, schema_for("lineage"))
    assert {a["model"] for a in answer} == set(truth)
    with Catalog(tiny_catalog, read_only=True) as catalog:
        accuracy = _check({e.model: e for e in entries(catalog)}, truth)
    assert accuracy >= 0.85
    merges = [a for a in answer if a["relation"] == "merge"]
    methods = {truth[a["model"]]["method"]: a["evidence"]["method"] for a in merges}
    assert methods.get("task_arithmetic") == "task_arithmetic" and methods.get("ties") == "ties"
    assert methods.get("dare_ties") == "dare_ties"


def test_stripped_multi_family_zoo_lineage_without_any_metadata(multi_family_zoo, multi_family_catalog):
    truth = load_truth(multi_family_zoo)
    db, _ = multi_family_catalog  # indexed once per session with the default method ("hubindex"), as here before
    with Catalog(db, read_only=True) as catalog:
        accuracy = _check({e.model: e for e in entries(catalog)}, truth)
    assert accuracy >= 0.85
    report = json.loads(_cli("eval", "--db", db, "--truth", multi_family_zoo / "truth.json", "--json"))
    jsonschema.validate(report, schema_for("embedding_eval"))
    lineage = report["lineage"]
    assert lineage["family_ari"] == 1.0
    baselines = {b["name"]: b for b in lineage["baselines"]}
    assert set(baselines) == {"nearest", "mother"}  # stripped: no card baseline
    assert lineage["hubindex"]["parent_accuracy"] > baselines["nearest"]["parent_accuracy"] + 0.2
    # Every lora_merged finetune is recognised by its low-rank delta, and no other finetune is.
    assert lineage["lora_merged"]["precision"] == 1.0 and lineage["lora_merged"]["recall"] == 1.0


def test_tree_and_parents_follow_their_schemas(tiny_zoo, tiny_catalog):
    truth = load_truth(tiny_zoo)
    root = next(m for m, e in truth.items() if e["relation"] == "root")
    tree = json.loads(_cli("lineage", root, "--db", tiny_catalog, "--json"))
    jsonschema.validate(tree, schema_for("lineage_tree"))
    assert tree["ancestors"] == []

    def walk(node):
        yield node["model"]
        for child in node["children"]:
            yield from walk(child)

    family = {m for m, e in truth.items() if e["family"] == truth[root]["family"]}
    assert set(walk(tree["descendants"])) == family
    merge = next(m for m, e in truth.items() if e["relation"] == "merge" and e["family"] == truth[root]["family"])
    up = json.loads(_cli("lineage", merge, "--db", tiny_catalog, "--json"))
    assert root in [a["model"] for a in up["ancestors"]]
    ranked = json.loads(_cli("parents", merge, "--db", tiny_catalog, "-k", 4, "--json"))
    jsonschema.validate(ranked, schema_for("parents"))
    assert len(ranked) == 4
    assert sorted(c["model"] for c in ranked if c["evidence"].get("chosen")) == sorted(truth[merge]["parents"])
    assert "lineage" in _cli("lineage", "--db", tiny_catalog) and "parents of" in _cli("parents", merge, "--db",
                                                                                         tiny_catalog)


def test_a_wrong_card_is_overruled_and_reported(tiny_zoo, tiny_catalog, tmp_path):
    """The tiny zoo's cards are right; planting a wrong base on one finetune must not move its parent."""
    import shutil

    from hubindex.card import read_card, write_card

    truth = load_truth(tiny_zoo)
    child = next(m for m, e in truth.items() if e["relation"] == "finetune" and truth[e["parents"][0]]["relation"]
                 == "root" and e["family"] == "lm")
    liar = next(m for m, e in truth.items() if e["relation"] == "finetune" and e["family"] == "gpt")
    hub = tmp_path / "hub"
    for model_id, entry in truth.items():
        if entry["family"] == "lm":
            shutil.copytree(tiny_zoo / model_id, hub / model_id, symlinks=True)
    meta, body = read_card(hub / child)
    write_card(hub / child, {**meta, "base_model": liar}, body)
    db = tmp_path / "c.duckdb"
    index_paths(db, [hub], ["hubindex"], embed=False, quiet=True)
    with Catalog(db, read_only=True) as catalog:
        entry = next(e for e in entries(catalog) if e.model == child)
    assert entry.parents == truth[child]["parents"]
    assert entry.evidence["card_agrees"] is False and liar in entry.evidence["conflict"]


def test_an_adapter_card_naming_a_finetune_is_checked_by_the_weights(tiny_zoo, tmp_path):
    """An adapter trained on the root whose config names a sibling finetune as base: the weights (the adapter's delta
    continues the root's finetunes, not the liar's) put it back on the root and the answer reports the conflict;
    adapters on the root keep their declared base."""
    import shutil

    from hubindex.card import read_card, write_card

    truth = load_truth(tiny_zoo)
    members = {m for m, e in truth.items() if e["family"] == "lm"}
    adapter = next(m for m in sorted(members) if truth[m]["relation"] == "adapter")
    liar = next(m for m in sorted(members) if truth[m]["relation"] == "finetune" and truth[m]["domain"]
                != truth[adapter]["domain"] and truth[m]["method"] == "full")
    hub = tmp_path / "hub"
    for model_id in members:
        shutil.copytree(tiny_zoo / model_id, hub / model_id, symlinks=True)
    config_path = hub / adapter / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "base_model_name_or_path": liar}))
    meta, body = read_card(hub / adapter)
    write_card(hub / adapter, {**meta, "base_model": liar}, body)
    db = tmp_path / "c.duckdb"
    index_paths(db, [hub], ["hubindex"], embed=True, quiet=True)
    with Catalog(db, read_only=True) as catalog:
        found = {e.model: e for e in entries(catalog)}
        row = catalog.require(adapter)
    assert row["base_source"] in ("weights", "gradient")  # the card is not taken on trust
    assert row["base"] == truth[adapter]["parents"][0]
    assert found[adapter].parents == truth[adapter]["parents"]
    assert found[adapter].evidence["card_agrees"] is False and liar in found[adapter].evidence["conflict"]
    honest = [m for m in members if truth[m]["relation"] == "adapter" and m != adapter]
    assert all(found[m].parents == truth[m]["parents"] for m in honest)


def test_lineage_is_recomputed_only_for_changed_families(tiny_zoo, tiny_catalog, tmp_path):
    import shutil

    db = tmp_path / "copy.duckdb"
    shutil.copyfile(tiny_catalog, db)
    report = index_paths(db, [tiny_zoo], ["hubindex", "paper"], quiet=True)
    assert report.lineage_families == 0
