"""Merge candidates: ranking reasons on the tiny zoo, sign conflicts, and the merge evaluation that checks them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from hubindex.cli.main import cli

from hubindex.catalog import Catalog
from hubindex.errors import HubindexError
from hubindex.merge_candidates.candidates import rank, sign_conflict
from hubindex.zoo.truth import load_truth
from tests.test_api import valid


def test_sign_conflict_counts_opposed_signs_among_kept_coordinates():
    rng = np.random.default_rng(0)
    a = rng.normal(size=20_000)
    assert sign_conflict(a, a) == 0.0
    assert sign_conflict(a, -a) == 1.0
    assert 0.45 < sign_conflict(a, rng.normal(size=20_000)) < 0.55


def test_ranking_puts_other_domains_first_and_same_domain_last(tiny_catalog, tiny_zoo):
    truth = load_truth(tiny_zoo / "truth.json")
    with Catalog(tiny_catalog, read_only=True) as catalog:
        rows = {r["id"]: r for r in catalog.models()}
        queries = [m for m, t in sorted(truth.items()) if t["relation"] == "finetune" and t["domain"]
                   and t["parents"] == [rows[m]["family"]]]
        assert len(queries) >= 4
        for model in queries[:4]:
            answer = rank(catalog, model, k=1000)
            domain = truth[model]["domain"]
            ranked = [c.model for c in answer.candidates]
            assert model not in ranked and answer.base == rows[model]["family"]
            assert all(rows[c]["kind"] == "model" and rows[c]["family"] == answer.base for c in ranked)
            assert all(rows[m]["kind"] == "adapter" for m, why in answer.excluded.items() if "adapter" in why)
            top = answer.candidates[0]
            assert truth[top.model]["domain"] not in (domain, None) or truth[top.model]["relation"] == "merge"
            assert any("complementary" in r for r in top.reasons)
            same = [i for i, c in enumerate(ranked) if truth[c]["domain"] == domain]
            assert same and min(same) >= len(ranked) / 2, (model, ranked)  # same-domain models sit in the bottom half
            scores = [c.score for c in answer.candidates]
            assert scores == sorted(scores, reverse=True)
        root = next(m for m, t in truth.items() if t["relation"] == "root")
        with pytest.raises(HubindexError, match="root"):
            rank(catalog, root)
        adapter = next(m for m, t in truth.items() if t["relation"] == "adapter")
        with pytest.raises(HubindexError, match="adapter"):
            rank(catalog, adapter)
        with pytest.raises(HubindexError, match="k must be"):
            rank(catalog, queries[0], k=0)


def test_eval_merge_top_candidates_beat_bottom_ones(tiny_catalog, tiny_zoo):
    result = CliRunner().invoke(cli, ["eval", "--merge", "--db", str(tiny_catalog), "--truth", str(tiny_zoo),
                                      "--queries", "2", "--per-side", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = valid(json.loads(result.output), "merge_eval")
    assert len(report["queries"]) == 2 and len(report["pairs"]) == 8
    assert len({load_truth(tiny_zoo / "truth.json")[q]["family"] for q in report["queries"]}) == 2
    for pair in report["pairs"]:
        assert set(pair["loss_merged"]) == set(pair["domains"]) and all(v > 0 for v in pair["loss_merged"].values())
    assert report["top_mean_gain"] > report["bottom_mean_gain"] and report["top_beats_bottom"]


def test_recipe_for_the_top_candidate_runs_in_mergekit(tiny_catalog, tmp_path):
    """`merge-candidates MODEL --recipe OUT.yml` writes TIES of MODEL and its top candidate; mergekit runs it and
    hubindex gives the same tensors from the same file."""
    import yaml
    from safetensors.torch import load_file

    mergekit_config = pytest.importorskip("mergekit.config")
    mergekit_merge = pytest.importorskip("mergekit.merge")
    mergekit_options = pytest.importorskip("mergekit.options")
    with Catalog(tiny_catalog, read_only=True) as catalog:
        model = next(r["id"] for r in catalog.models(ok_only=True) if r["kind"] == "model"
                     and r["family"] not in (None, r["id"]) and rank(catalog, r["id"]).candidates)
    out = tmp_path / "recipe.yml"
    result = CliRunner().invoke(cli, ["merge-candidates", model, "--db", str(tiny_catalog), "--recipe", str(out),
                                      "--json"])
    assert result.exit_code == 0, result.output
    answer = valid(json.loads(result.stdout), "merge_candidates")
    recipe = yaml.safe_load(out.read_text())
    assert recipe["merge_method"] == "ties" and recipe["base_model"].endswith(answer["base"])
    chosen = [model, answer["candidates"][0]["model"]]  # written as the folders the catalog indexed
    assert all(m["model"].endswith(i) for m, i in zip(recipe["models"], chosen, strict=True))
    config = mergekit_config.MergeConfiguration.model_validate(recipe)
    mergekit_merge.run_merge(config, str(tmp_path / "mk"), options=mergekit_options.MergeOptions(device="cpu",
                                                                                                  quiet=True))
    merged = CliRunner().invoke(cli, ["train", "merge", "--config", str(out), "--out", str(tmp_path / "hi")])
    assert merged.exit_code == 0, merged.output

    def tensors(folder):
        return {k: v for f in sorted(folder.glob("*.safetensors")) for k, v in load_file(f).items()}

    theirs, ours = tensors(tmp_path / "mk"), tensors(tmp_path / "hi")
    assert theirs.keys() == ours.keys()
    assert max(float((theirs[n] - ours[n]).norm() / theirs[n].norm().clamp(min=1e-12)) for n in theirs) <= 1e-5
