"""`hubindex zoo plant-cards`: declared lineage planted into a stripped zoo, a seeded fraction of it wrong."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from hubindex.cli.main import cli

from hubindex.card import read_card
from hubindex.catalog import Catalog
from hubindex.errors import HubindexError
from hubindex.indexer.pipeline import index_paths
from hubindex.schemas import schema_for
from hubindex.zoo.cards import CARDS_FILE, plant_cards
from hubindex.zoo.truth import load_truth

pytestmark = pytest.mark.slow
HUB_RELATION = {"finetune": "finetune", "adapter": "adapter", "merge": "merge", "quantized": "quantized", "copy": None}


@pytest.fixture
def zoo_copy(stripped_zoo, tmp_path) -> Path:
    """A private copy: the session fixture is shared and must stay stripped."""
    return Path(shutil.copytree(stripped_zoo, tmp_path / "zoo", symlinks=True))


def _descendants(truth: dict, model: str) -> set[str]:
    found, todo = set(), [model]
    while todo:
        current = todo.pop()
        for child, entry in truth.items():
            if current in entry["parents"] and child not in found:
                found.add(child)
                todo.append(child)
    return found


def _declared(folder: Path) -> tuple[list[str] | None, str | None]:
    meta, _ = read_card(folder)
    base = meta.get("base_model")
    return ([base] if isinstance(base, str) else base), meta.get("base_model_relation")


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*")
            if p.is_file() and p.suffix in (".md", ".json")}


def test_planted_cards_are_right_or_plausibly_wrong(zoo_copy, stripped_zoo):
    truth = load_truth(zoo_copy)
    children = [m for m, e in truth.items() if e["parents"]]
    answer = plant_cards(zoo_copy, 0.25, seed=0)

    assert answer == json.loads((zoo_copy / CARDS_FILE).read_text())
    assert answer["wrong_fraction"] == 0.25 and answer["seed"] == 0
    assert list(answer["planted"]) == children
    assert len(answer["wrong"]) == math.floor(0.25 * len(children) + 0.5) > 0
    for model, lie in answer["wrong"].items():
        entry = truth[model]
        assert lie["truth"] == entry["parents"] and lie["declared"] == answer["planted"][model]
        assert lie["declared"] and len(set(lie["declared"])) == len(lie["declared"])
        for declared in lie["declared"]:
            assert truth[declared]["family"] == entry["family"] and truth[declared]["arch"] == entry["arch"]
            assert declared not in entry["parents"] and declared != model
            assert declared not in _descendants(truth, model)
            assert truth[declared]["relation"] != "adapter"
    for model in children:
        entry, planted = truth[model], answer["planted"][model]
        if model not in answer["wrong"]:
            assert planted == entry["parents"], model
        assert _declared(zoo_copy / model) == (planted, HUB_RELATION[entry["relation"]]), model
        if entry["relation"] == "adapter":
            config = json.loads((zoo_copy / model / "adapter_config.json").read_text())
            assert config["base_model_name_or_path"] == planted[0]
    for model in set(truth) - set(children):
        assert _declared(zoo_copy / model) == (None, None)

    before = _snapshot(zoo_copy)
    assert plant_cards(zoo_copy, 0.25, seed=0) == answer
    assert _snapshot(zoo_copy) == before  # same bytes and mtimes: the indexer sees nothing new
    other = plant_cards(zoo_copy, 0.5, seed=1)
    assert other["wrong"] != answer["wrong"]
    assert plant_cards(zoo_copy, 0.25, seed=0) == answer
    assert {k: v[0] for k, v in _snapshot(zoo_copy).items()} == {k: v[0] for k, v in before.items()}
    assert _declared(stripped_zoo / children[0]) == (None, None)  # the session fixture was not touched


def test_cli_json_follows_schema_and_refuses_non_zoos(zoo_copy, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["zoo", "plant-cards", str(zoo_copy), "--wrong", "0.2", "--seed", "3", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    jsonschema.validate(answer, schema_for("planted_cards"))
    assert answer == json.loads((zoo_copy / CARDS_FILE).read_text()) and answer["seed"] == 3
    text = runner.invoke(cli, ["zoo", "plant-cards", str(zoo_copy), "--wrong", "0.2", "--seed", "3"])
    assert text.exit_code == 0 and "wrong" in text.output

    plain = tmp_path / "plain"
    (plain / "org" / "model").mkdir(parents=True)
    (plain / "truth.json").write_text(json.dumps({"org/model": {"parents": [], "relation": "root"}}))
    refused = runner.invoke(cli, ["zoo", "plant-cards", str(plain)])
    assert refused.exit_code == 2 and "not a zoo" in refused.output
    assert sorted(p.name for p in plain.iterdir()) == ["org", "truth.json"]


def test_symlinks_are_never_written_through(zoo_copy, tmp_path):
    truth = load_truth(zoo_copy)
    model = next(m for m, e in truth.items() if e["parents"])
    outside = tmp_path / "outside.md"
    outside.write_text("mine\n")
    (zoo_copy / model / "README.md").unlink()
    (zoo_copy / model / "README.md").symlink_to(outside)
    with pytest.raises(HubindexError, match="symbolic link"):
        plant_cards(zoo_copy, 0.2, seed=0)
    assert outside.read_text() == "mine\n"


def test_catalog_reads_the_planted_cards(zoo_copy, tmp_path):
    truth = load_truth(zoo_copy)
    answer = plant_cards(zoo_copy, 0.25, seed=0)
    db = tmp_path / "planted.duckdb"
    report = index_paths(db, [zoo_copy], ["hubindex"], embed=False, quiet=True)
    assert not report.failed, report.failed
    with Catalog(db, read_only=True) as catalog:
        rows = {r["id"]: r for r in catalog.models()}
    assert set(rows) == set(truth)
    for model, entry in truth.items():
        row = rows[model]
        assert row["declared_base"] == answer["planted"].get(model), model
        assert row["declared_relation"] == (HUB_RELATION[entry["relation"]] if entry["parents"] else None), model
        if entry["relation"] == "adapter":
            assert row["adapter_base"] == answer["planted"][model][0]
