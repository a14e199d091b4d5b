"""The catalog: migrations, idempotent upserts, replacement of changed models, pruning, FAISS spaces, queries."""

from __future__ import annotations

import json
import shutil

import duckdb
import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner
from hubindex.cli.main import cli

from hubindex.catalog import Catalog
from hubindex.catalog.migrations import available
from hubindex.indexer.adapter_base import MIN_SCORE, continuation_scores
from hubindex.indexer.pipeline import index_paths
from hubindex.schemas import schema_for
from hubindex.zoo.truth import load_truth

pytestmark = pytest.mark.slow


def _snapshot(db) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {table: con.execute(f"SELECT * EXCLUDE ({ts}) FROM {table} ORDER BY ALL").fetchall()
                for table, ts in (("models", "indexed_at"), ("signatures", "meta"), ("embeddings", "norm"),
                                  ("tensor_stats", "absmax"))}
    finally:
        con.close()


def _cli(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_every_zoo_model_is_indexed_with_its_declared_metadata(tiny_zoo, tiny_catalog):
    truth = load_truth(tiny_zoo)
    with Catalog(tiny_catalog, read_only=True) as catalog:
        rows = {r["id"]: r for r in catalog.models()}
        assert set(rows) == set(truth)
        assert {r["status"] for r in rows.values()} == {"indexed"}
        for model_id, entry in truth.items():
            row = rows[model_id]
            assert row["kind"] == ("adapter" if entry["relation"] == "adapter" else "model")
            if entry["relation"] == "adapter":
                assert row["adapter_base"] == entry["parents"][0]
            elif entry["parents"]:
                assert row["declared_base"] == entry["parents"]
            assert row["params"] > 0 and row["layout"] and row["revision"]
        assert catalog.con.execute("SELECT max(version) FROM schema_version").fetchone()[0] == available()[-1][0]


def test_family_roots_and_bases_match_truth(tiny_zoo, tiny_catalog):
    truth = load_truth(tiny_zoo)

    def root(m):
        while truth[m]["parents"]:
            m = truth[m]["parents"][0]
        return m

    with Catalog(tiny_catalog, read_only=True) as catalog:
        for row in catalog.models():
            assert row["family"] == root(row["id"]), row["id"]
            expected_base = None if truth[row["id"]]["relation"] == "root" else root(row["id"])
            assert row["base"] == expected_base


def test_stripped_zoo_families_are_found_from_weights_alone(stripped_zoo, tmp_path):
    truth = load_truth(stripped_zoo)
    db = tmp_path / "stripped.duckdb"
    index_paths(db, [stripped_zoo], ["hubindex"], quiet=True)
    roots = [m for m, e in truth.items() if e["relation"] == "root"]
    with Catalog(db, read_only=True) as catalog:
        rows = catalog.models()
        assert all(r["family"] == roots[0] for r in rows), {r["id"]: r["family"] for r in rows}
        assert all(r["declared_base"] is None and r["adapter_base"] is None for r in rows)
        adapters = [r for r in rows if r["kind"] == "adapter"]
        assert adapters and all(r["base"] == roots[0] and r["base_source"] in ("weights", "gradient")
                                for r in adapters)


def test_look_alike_families_and_adapter_bases_from_weights_and_probes(multi_family_zoo, multi_family_catalog):
    truth = load_truth(multi_family_zoo)
    db, output = multi_family_catalog  # `hubindex index <zoo> --db <db> --json`, run once per session
    report = json.loads(output)
    jsonschema.validate(report, schema_for("index_report"))
    assert report["indexed"] == len(truth) and not report["failed"]

    def root(m):
        while truth[m]["parents"]:
            m = truth[m]["parents"][0]
        return m

    with Catalog(db, read_only=True) as catalog:
        rows = {r["id"]: r for r in catalog.models()}
        assert {m: rows[m]["family"] for m in truth} == {m: root(m) for m in truth}
        llama_adapters = [m for m, e in truth.items() if e["relation"] == "adapter" and e["arch"] == "llama"]
        assert len({root(m) for m in llama_adapters}) == 2  # two look-alike Llama families
        # Each adapter's base is its true parent: the weights (where its delta points) shortlist the models of both
        # look-alike families, gradient alignment on the shortlist decides (indexer/adapter_base.py).
        adapters = [m for m, e in truth.items() if e["relation"] == "adapter"]
        assert {m: rows[m]["base"] for m in adapters} == {m: truth[m]["parents"][0] for m in adapters}
        assert all(rows[m]["base_source"] in ("weights", "gradient") for m in adapters)
        # Applied on that base, compared with the family root like the finetunes (indexer.embedding.embedding_base).
        assert all(catalog.embedding(m, "hubindex").base == rows[m]["family"] for m in adapters)
        gpt_adapters = [m for m, e in truth.items() if e["relation"] == "adapter" and e["arch"] == "gpt2"]
        assert gpt_adapters and all(rows[m]["base_source"] in ("weights", "gradient")
                                    for m in gpt_adapters)


def test_a_single_model_folder_is_indexed_under_its_org_and_name(tiny_zoo, tmp_path):
    truth = load_truth(tiny_zoo)
    model_id = next(m for m, e in truth.items() if e["relation"] == "finetune")
    db = tmp_path / "one.duckdb"
    report = index_paths(db, [tiny_zoo / model_id], ["hubindex"], quiet=True)
    assert report.seen == report.indexed == 1 and not report.failed
    with Catalog(db, read_only=True) as catalog:
        assert [r["id"] for r in catalog.models()] == [model_id]
        assert catalog.model(model_id)["family"] == model_id  # alone, it is its own family's root


def test_reindexing_the_same_folder_changes_nothing(tiny_zoo, tiny_catalog, tmp_path):
    db = tmp_path / "copy.duckdb"
    shutil.copyfile(tiny_catalog, db)
    shutil.copytree(tiny_catalog.with_name(tiny_catalog.name + ".faiss"), db.with_name(db.name + ".faiss"))
    before = _snapshot(db)
    report = index_paths(db, [tiny_zoo], ["hubindex", "paper"], quiet=True)
    assert report.unchanged == report.seen and report.indexed == 0
    assert report.embedded == {"hubindex": 0, "paper": 0}
    assert _snapshot(db) == before


def test_changed_model_replaces_its_rows_and_deleted_one_is_pruned(tiny_zoo, tmp_path):
    truth = load_truth(tiny_zoo)
    root = tmp_path / "hub"
    picked = [m for m, e in truth.items() if e["family"] == "lm" and e["relation"] in ("root", "finetune")][:4]
    for model_id in picked:
        shutil.copytree(tiny_zoo / model_id, root / model_id)
    db = tmp_path / "c.duckdb"
    index_paths(db, [root], ["hubindex"], quiet=True)
    with Catalog(db, read_only=True) as catalog:
        old = {m: catalog.model(m)["revision"] for m in picked}
    changed, gone = picked[-1], picked[-2]
    source_of_new = next(m for m, e in truth.items() if e["family"] == "lm" and e["relation"] == "finetune"
                         and m not in picked)
    shutil.rmtree(root / changed)
    shutil.copytree(tiny_zoo / source_of_new, root / changed)
    shutil.rmtree(root / gone)
    report = index_paths(db, [root], ["hubindex"], prune=True, quiet=True)
    assert report.pruned == [gone] and report.indexed == 1
    with Catalog(db, read_only=True) as catalog:
        assert catalog.model(gone) is None and catalog.signature(gone) is None
        new = catalog.model(changed)
        assert new["revision"] != old[changed]
        assert catalog.signature(changed)["revision"] == new["revision"]
        assert catalog.embedding(changed, "hubindex").revision == new["revision"]
        assert catalog.con.execute("SELECT count(*) FROM tensor_stats WHERE model_id = ?", [changed]).fetchone()[0] \
            == len(catalog.tensor_stats(picked[0]))
        for model_id in set(picked) - {changed, gone}:
            assert catalog.model(model_id)["revision"] == old[model_id]


def test_similar_json_follows_schema_and_finds_same_domain(tiny_zoo, tiny_catalog):
    truth = load_truth(tiny_zoo)
    finetunes = [m for m, e in truth.items() if e["relation"] == "finetune" and e["domain"]]
    schema = schema_for("similar")
    same_domain = 0
    for model_id in finetunes:
        hits = json.loads(_cli("similar", model_id, "--db", tiny_catalog, "-k", 3, "--json"))
        jsonschema.validate(hits, schema)
        assert len(hits) == 3 and model_id not in [h["model"] for h in hits]
        assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
        same_domain += truth[hits[0]["model"]]["domain"] == truth[model_id]["domain"]
    assert same_domain / len(finetunes) >= 0.8
    by_weights = json.loads(_cli("similar", finetunes[0], "--db", tiny_catalog, "-k", 5, "--by", "weights", "--json"))
    jsonschema.validate(by_weights, schema)
    distances = [h["distance"] for h in by_weights]
    assert distances == sorted(distances) and finetunes[0] not in [h["model"] for h in by_weights]
    family = truth[finetunes[0]]["family"]
    assert all(truth[h["model"]]["family"] == family for h in by_weights)


def test_weight_neighbour_of_a_copy_is_its_original(tiny_zoo, tiny_catalog):
    truth = load_truth(tiny_zoo)
    with Catalog(tiny_catalog, read_only=True) as catalog:
        from hubindex.catalog.queries import similar

        for model_id, entry in truth.items():
            if entry["relation"] in ("copy", "quantized"):
                assert similar(catalog, model_id, 1, "weights")[0].model == entry["parents"][0]


def test_show_json_follows_schema(tiny_zoo, tiny_catalog):
    truth = load_truth(tiny_zoo)
    adapter = next(m for m, e in truth.items() if e["relation"] == "adapter")
    for model_id in (adapter, next(iter(truth))):
        view = json.loads(_cli("show", model_id, "--db", tiny_catalog, "--json"))
        jsonschema.validate(view, schema_for("model_view"))
        assert view["id"] == model_id and view["tensors"] and view["samples"] > 0
    assert "lora" in _cli("show", adapter, "--db", tiny_catalog)


def test_unknown_model_and_bad_k_are_clear_errors(tiny_catalog):
    result = CliRunner().invoke(cli, ["similar", "nobody/nothing", "--db", str(tiny_catalog)])
    assert result.exit_code == 2 and "not in the catalog" in result.output
    result = CliRunner().invoke(cli, ["similar", "x/y", "--db", str(tiny_catalog), "-k", "0"])
    assert result.exit_code == 2 and "k must be" in result.output


def test_reindex_rebuilds_faiss_from_the_tables(tiny_catalog, tmp_path):
    db = tmp_path / "r.duckdb"
    shutil.copyfile(tiny_catalog, db)
    _cli("reindex", "--db", db)
    rebuilt = json.loads((db.with_name(db.name + ".faiss") / "spaces.json").read_text())
    original = json.loads((tiny_catalog.with_name(tiny_catalog.name + ".faiss") / "spaces.json").read_text())
    assert {k: v["ids"] for k, v in rebuilt.items()} == {k: v["ids"] for k, v in original.items()}
    assert any(k.startswith("weights/") for k in rebuilt) and any(k.startswith("delta/paper/") for k in rebuilt)


def test_eval_reports_both_recipes(tiny_zoo, tiny_catalog):
    report = json.loads(_cli("eval", "--db", tiny_catalog, "--truth", tiny_zoo / "truth.json", "--json"))
    jsonschema.validate(report, schema_for("embedding_eval"))
    assert report["family_accuracy"] == 1.0
    scores = {m["method"]: m for m in report["methods"]}
    assert scores["hubindex"]["finetunes"] == scores["paper"]["finetunes"] > 0
    assert report["silhouette_gain"] == pytest.approx(scores["hubindex"]["silhouette"] - scores["paper"]["silhouette"])
    for method in scores.values():  # per family figures add up to the catalog's
        families = method["per_family"]
        assert sum(f["finetunes"] for f in families) == method["finetunes"]
        assert sum(f["domain_top1"] * f["finetunes"] for f in families) == pytest.approx(
            method["domain_top1"] * method["finetunes"])
        assert np.mean([f["silhouette"] for f in families if f["silhouette"] is not None]) == pytest.approx(
            method["silhouette"])


def _family_geometry(seed: int = 0, dim: int = 4000):
    """A root, two finetunes on different domains, a child of the first (trained on, same domain) and unit
    directions: members' rows and the directions of each step, in a space wide enough for random directions to be
    near-orthogonal."""
    rng = np.random.default_rng(seed)
    unit = lambda: (v := rng.normal(size=dim)) / np.linalg.norm(v)  # noqa: E731
    root = rng.normal(size=dim) * 3
    d_a, d_b, d_more = unit(), unit(), unit()
    first, second = root + 0.8 * (0.8 * d_a + 0.6 * unit()), root + 0.8 * d_b
    child = first + 0.5 * (0.7 * d_more + 0.7 * d_a)
    return np.stack([root, first, second, child]), d_a, d_b, d_more, unit


def test_adapter_base_is_where_its_delta_continues_from():
    members, d_a, d_b, d_more, noise = _family_geometry()
    # An adapter trained on the first finetune continues it (the way its child went): the finetune scores best.
    on_finetune = continuation_scores(0.7 * d_more + 0.5 * d_a + 0.5 * noise(), members, 0)
    assert int(np.argmax(on_finetune)) == 1
    # An adapter trained on the root for domain b runs along the root's finetune on b: the root scores best.
    on_root = continuation_scores(0.8 * d_b + 0.6 * noise(), members, 0)
    assert int(np.argmax(on_root)) == 0 and on_root[0] > 0.5
    # The child has no member beyond it: it cannot be scored as a base.
    assert on_root[3] == -1.0


def test_adapter_delta_of_another_family_scores_low_everywhere():
    members, *_, noise = _family_geometry(seed=1)
    other_family_delta = noise()  # a look-alike family's adapter: unrelated to this family's steps
    assert continuation_scores(other_family_delta, members, 0).max() < MIN_SCORE
