"""Delta Activations: batching with padding reads the same features as one probe at a time; recipes are as named."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from hubindex.embed.activations import load_probe_model, probe_features
from hubindex.embed.methods import METHODS, get_method
from hubindex.embed.probes import MAX_TOKENS, PAPER_PROBES, task_passages
from hubindex.errors import CheckpointError, HubindexError
from hubindex.zoo.truth import load_truth

pytestmark = pytest.mark.slow


def _pick(truth, relation):
    return next(m for m, e in truth.items() if e["relation"] == relation and e["family"] == "lm")


def test_batched_probes_equal_one_at_a_time(tiny_zoo):
    truth = load_truth(tiny_zoo)
    probe = load_probe_model(tiny_zoo / _pick(truth, "finetune"))
    prompts = get_method("hubindex").probes[:12]  # different lengths: padding matters
    lengths = {len(probe.tokenizer(p)["input_ids"]) for p in prompts}
    assert len(lengths) > 3
    batched = probe_features(probe, prompts, batch_size=12)
    single = probe_features(probe, prompts, batch_size=1)
    for pooling in ("last", "mean", "nll"):
        torch.testing.assert_close(batched[pooling], single[pooling], atol=2e-4, rtol=1e-4)


def test_adapter_is_applied_in_memory_and_shifts_activations(tiny_zoo):
    truth = load_truth(tiny_zoo)
    adapter = _pick(truth, "adapter")
    base = tiny_zoo / truth[adapter]["parents"][0]
    before = sorted(p.name for p in (tiny_zoo / adapter).iterdir())
    with_adapter = probe_features(load_probe_model(tiny_zoo / adapter, base), PAPER_PROBES, 5)
    plain = probe_features(load_probe_model(base), PAPER_PROBES, 5)
    assert float((with_adapter["last"] - plain["last"]).abs().max()) > 1e-4
    assert sorted(p.name for p in (tiny_zoo / adapter).iterdir()) == before  # nothing merged to disk
    with pytest.raises(CheckpointError, match="without a known base"):
        load_probe_model(tiny_zoo / adapter)


# The official probe templates of Delta Activations, word for word (github OscarXZQ/delta_activations,
# delta_activations.py, create_generic_probes), filled with the official task and input.
OFFICIAL_TEMPLATE_HEADS = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.",
    "The task described below requires a response that completes the request accurately.",
    "Below is a description of a task. Provide a response that aligns with the requirements.",
    "The following instruction outlines a task. Generate a response that meets the specified request.",
    "You are given an instruction and input. Write a response that completes the task as requested.",
)


def test_paper_probes_are_the_official_templates_verbatim():
    official = tuple(head + "\n\n### Instruction:\nPlease provide a response. Input:Input.\n\n### Response:"
                     for head in OFFICIAL_TEMPLATE_HEADS)
    assert official == PAPER_PROBES
    assert METHODS["paper"].probes == official


def _vocabulary_extended(source, out, extra=("Instruction", "Response", "response")):
    """A copy of `source` with whole-word tokens appended to its tokenizer and embedding table (new rows random):
    its own tokenizer segments the probes differently from the base's."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    assert tokenizer.add_tokens(list(extra)) == len(extra)
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def test_vocabulary_extended_model_reads_probes_with_the_base_tokenizer(tiny_zoo, tmp_path):
    truth = load_truth(tiny_zoo)
    finetune = _pick(truth, "finetune")
    base = tiny_zoo / truth[finetune]["parents"][0]
    extended = _vocabulary_extended(tiny_zoo / finetune, tmp_path / "extended")
    original = probe_features(load_probe_model(tiny_zoo / finetune), PAPER_PROBES, 5)
    own = probe_features(load_probe_model(extended), PAPER_PROBES, 5)
    with_base = probe_features(load_probe_model(extended, tokenizer_from=base), PAPER_PROBES, 5)
    # Read with the base's tokenizer, the extension is invisible: same input ids, same unchanged rows.
    torch.testing.assert_close(with_base["last"], original["last"], atol=1e-5, rtol=1e-5)
    assert float((own["mean"] - original["mean"]).abs().max()) > 1e-3  # its own tokenizer reads other inputs
    with pytest.raises(CheckpointError, match="not the same vocabulary"):
        load_probe_model(base, tokenizer_from=extended)


def test_recipes_are_as_documented():
    paper = METHODS["paper"]
    assert len(paper.probes) == 5 and paper.batch_size == 1 and paper.pooling == "last"
    assert all("### Instruction:\nPlease provide a response. Input:Input." in p for p in paper.probes)
    default = METHODS["hubindex"]
    assert default.probes == task_passages() and len(set(default.probes)) == 40 and default.pooling == "nll"
    features = {"last": torch.ones(5, 3, 4), "mean": torch.zeros(5, 3, 4)}
    base = {"last": torch.zeros(5, 3, 4), "mean": torch.zeros(5, 3, 4)}
    np.testing.assert_array_equal(paper.delta(features, base), np.ones(4, dtype=np.float32))
    with pytest.raises(HubindexError, match="unknown embedding method"):
        get_method("nope")


def test_default_is_each_passage_loss_shift_centred():
    """The default reads one number per passage: the model's loss shift on it minus the mean shift, at its scale (a
    copy of the base has norm 0, so NULL_DELTA leaves it out); a uniform change of loss says nothing."""
    default = METHODS["hubindex"]
    rng = np.random.default_rng(0)
    base = {"nll": torch.from_numpy(rng.uniform(2, 4, size=40))}
    learned = rng.normal(size=40)
    model = {"nll": base["nll"] + torch.from_numpy(learned)}
    np.testing.assert_allclose(default.delta(model, base), learned - learned.mean(), atol=1e-6)
    everywhere_worse = {"nll": model["nll"] + 0.7}  # a generic loss increase on every passage: same direction
    np.testing.assert_allclose(default.delta(everywhere_worse, base), default.delta(model, base), atol=1e-5)
    assert np.linalg.norm(default.delta(base, base)) == 0


def test_probe_loss_is_each_prompts_mean_next_token_loss(tiny_zoo):
    """probe_features' "nll" (from the final hidden states through the output head, row by row) equals the loss
    transformers computes for each prompt alone, batched or not."""
    probe = load_probe_model(tiny_zoo / _pick(load_truth(tiny_zoo), "finetune"))
    prompts = task_passages()[:6]
    for prompt, nll in zip(prompts, probe_features(probe, prompts, batch_size=6)["nll"], strict=True):
        ids = probe.tokenizer(prompt, return_tensors="pt", truncation=True, max_length=MAX_TOKENS)["input_ids"]
        with torch.inference_mode():
            expected = probe.model(input_ids=ids, labels=ids).loss
        assert float(nll) == pytest.approx(float(expected), abs=1e-4)


def test_family_score_counts_merge_neighbours_and_domains():
    from hubindex.evaluate.embedding import score_family

    root = "o/base"
    truth = {root: {"parents": [], "relation": "root", "domain": None}}
    for name, domain in (("a1", "code"), ("a2", "code"), ("b1", "legal"), ("b2", "legal")):
        truth[f"o/{name}"] = {"parents": [root], "relation": "finetune", "domain": domain}
    truth["o/m"] = {"parents": ["o/a1", "o/b1"], "relation": "merge", "domain": None,
                    "merge": {"domains": ["code", "legal"]}}
    truth["o/chain"] = {"parents": ["o/a1"], "relation": "finetune", "domain": "code"}  # not a direct finetune
    vectors = {"o/a1": np.array([1.0, 0.0]), "o/a2": np.array([0.0, 1.0]), "o/b1": np.array([0.05, 1.0]),
               "o/b2": np.array([0.1, 1.0]), "o/m": np.array([1.0, 0.01]), "o/chain": np.array([1.0, 0.0])}
    score = score_family(vectors, truth, root)
    assert (score.queries, score.merges) == (4, 1)
    # a1 -> a2? no: a1's nearest is b2 (strict miss); a2 -> b1 (miss); b1 -> b2, b2 -> b1 (hits)
    assert score.domain_top1_strict == 0.5
    # with the merge competing, a1's nearest is the merge, whose sources include code: a hit
    assert score.domain_top1_merge == 0.75
    assert score.silhouette is not None and score.silhouette < 0.5


def test_family_verdict_names_a_tie_at_the_ceiling_without_counting_it_as_a_gain():
    from hubindex.evaluate.embedding import family_verdict

    met = family_verdict(1.0, 0.92, 1.0, 0.8, 0.6)
    assert (met.top1, met.silhouette, met.top1_floor) == ("met", "met", "met")
    # paper already at the ceiling (1.00, or 15/16 when one query's domain has no other model): a tie, not a gain
    for ceiling in (1.0, 0.9375):
        tie = family_verdict(ceiling, ceiling, ceiling, 0.75, 0.7)
        assert (tie.top1, tie.top1_gain, tie.silhouette) == ("at ceiling", 0.0, "MISSED")
    # below the ceiling with no gain is a miss, whatever paper scores
    missed = family_verdict(0.875, 0.875, 1.0, None, 0.5)
    assert (missed.top1, missed.silhouette, missed.top1_floor) == ("MISSED", None, "MISSED")


def test_a_miss_is_blamed_on_the_first_cause_that_explains_it():
    from hubindex.evaluate.embedding import QueryResult

    def blame(**flags) -> str:
        fields = {"can_hit": True, "right_base": True, "lost_to_wrong_base": False, **flags}
        return QueryResult(model="o/q", kind="lora", domain="legal", neighbour="o/n", hit=False, strict=False,
                           **fields).blame

    assert blame() == "embedding"
    assert blame(lost_to_wrong_base=True) == "neighbour's base"  # its nearest's vector is another model's
    assert blame(right_base=False, lost_to_wrong_base=True) == "base"  # its own wrong base comes first
    assert blame(can_hit=False, right_base=False) == "alone"  # no recipe can hit: said before anything else


def test_query_results_are_what_eval_counts_and_say_why_a_query_misses(tiny_zoo, tiny_catalog):
    from hubindex.catalog import Catalog
    from hubindex.catalog.spaces import delta_vectors
    from hubindex.evaluate.embedding import domains_of, evaluate_embeddings, query_results

    truth = load_truth(tiny_zoo)
    with Catalog(tiny_catalog, read_only=True) as catalog:
        report = evaluate_embeddings(catalog, str(tiny_zoo / "truth.json"), ["hubindex"])
        spaces = delta_vectors(catalog, "hubindex")
        results = [r for members in spaces.values() for r in query_results(catalog, truth, "hubindex", members)]
    assert len(results) == report.methods[0].finetunes > 0
    assert np.mean([r.hit for r in results]) == pytest.approx(report.methods[0].domain_top1)
    for r in results:
        assert r.hit == (r.domain in domains_of(truth[r.neighbour]))
        assert r.blame == ("alone" if not r.can_hit else "base" if not r.right_base else "neighbour's base"
                           if r.lost_to_wrong_base else "embedding")
        assert not r.lost_to_wrong_base or not r.hit
    adapters = [r for r in results if truth[r.model]["relation"] == "adapter"]
    assert adapters and all(r.right_base for r in adapters)  # the tiny zoo's lineage is right: applied on the parent


def test_top_k_share_counts_domains_among_nearest_answers():
    from hubindex.search_by_examples import top_k_share

    vectors = {f"code{i}": np.array([1.0, 0.1 * i]) for i in range(3)}
    vectors |= {f"legal{i}": np.array([0.1 * i, 1.0]) for i in range(4)}
    domains = {m: {m[:-1]} for m in vectors} | {"legal3": {"legal", "code"}}  # a merge of both
    assert top_k_share(np.array([1.0, 0.0]), vectors, domains, "code", k=5) == (0.8, 0.8)  # 3 code + the merge
    assert top_k_share(np.array([0.0, 1.0]), vectors, domains, "legal", k=3) == (1.0, 1.0)
    share, best = top_k_share(np.array([0.0, 1.0]), vectors, domains, "code", k=5)
    assert share < best == 0.8


def test_recipe_names_what_decides_the_vector():
    paper, default = METHODS["paper"], METHODS["hubindex"]
    assert paper.recipe.startswith("paper/") and default.recipe.startswith("hubindex/")
    assert len({paper.recipe, default.recipe}) == 2
    assert dataclasses.replace(paper, batch_size=8).recipe == paper.recipe  # batching never changes features
    assert dataclasses.replace(paper, pooling="mean").recipe != paper.recipe
    assert dataclasses.replace(default, probes=default.probes[:-1]).recipe != default.recipe


def test_embedding_of_another_recipe_is_stale_and_never_read(tmp_path):
    """A row computed by an earlier recipe counts as missing: `index` re-embeds it, spaces and `similar` skip it."""
    from hubindex.catalog import Catalog
    from hubindex.catalog.spaces import Spaces, delta_space, delta_vectors, rebuild
    from hubindex.indexer.embedding import stale
    from tests.synthetic_catalog import write_catalog

    method = METHODS["hubindex"]
    db = write_catalog(tmp_path / "synthetic.duckdb", 40)
    with Catalog(db) as catalog:
        before = {r["id"] for r in stale(catalog, method)}  # the synthetic roots, which have no delta
        family, members = next(iter(delta_vectors(catalog, "hubindex").items()))
        old = sorted(members)[1]
        row = catalog.embedding(old, "hubindex")
        catalog.con.execute("UPDATE embeddings SET recipe = 'hubindex/0ld0ld0ld0ld' WHERE model_id = ? AND "
                            "method = 'hubindex'", [old])
        assert {r["id"] for r in stale(catalog, method)} == before | {old}
        assert catalog.embedding(old, "hubindex") is None and catalog.embedding(old, "paper") is not None
        assert old not in delta_vectors(catalog, "hubindex")[family]
        rebuild(catalog, weights=False)
        assert not Spaces.open(catalog.spaces_dir).contains(delta_space("hubindex", family), old)
        catalog.save_embedding(old, "hubindex", row.revision, row.base, row.base_revision, row.vector, method.recipe)
        assert {r["id"] for r in stale(catalog, method)} == before and old in delta_vectors(catalog, "hubindex")[family]


def test_cli_search_by_examples_over_db_and_api(tiny_zoo, tiny_catalog, api_server, tmp_path, monkeypatch):
    """`hubindex search --examples FILE --base ROOT`: code examples find code models, the same over --db and --api,
    and the JSON follows schemas/examples_search."""
    import json

    import jsonschema
    from click.testing import CliRunner
    from hubindex.cli.main import cli

    from hubindex import corpus
    from hubindex.schemas import SCHEMA_DIR

    truth = load_truth(tiny_zoo)
    root = sorted(m for m, e in truth.items() if e["relation"] == "root")[0]
    docs = corpus.generate("code", 6, 4242)  # a seed no zoo model trained on
    examples = tmp_path / "examples.jsonl"
    examples.write_text("\n".join(json.dumps({"input": d[: len(d) // 2], "output": d[len(d) // 2:]}) for d in docs))
    schema = json.loads((SCHEMA_DIR / "examples_search.schema.json").read_text())

    def run(*where: str) -> list[dict]:
        result = CliRunner().invoke(cli, ["search", "--examples", str(examples), "--base", root, "--limit", "3",
                                          *where, "--json"])
        assert result.exit_code == 0, result.output
        hits = json.loads(result.output)
        jsonschema.validate(hits, schema)
        return hits

    local = run("--db", str(tiny_catalog))
    assert len(local) == 3 and truth[local[0]["model"]]["domain"] == "code", local
    assert all(truth[h["model"]]["family"] == truth[root]["family"] for h in local)
    monkeypatch.setenv("HUBINDEX_API_TOKEN", api_server.token)
    remote = run("--api", api_server.url)
    assert remote[0]["model"] == local[0]["model"]
    runner = CliRunner()
    result = runner.invoke(cli, ["search", "--examples", str(examples), "--db", str(tiny_catalog)])
    assert result.exit_code == 2 and "--base" in result.output
    result = runner.invoke(cli, ["search", "code", "--examples", str(examples), "--base", root, "--db", "x.duckdb"])
    assert result.exit_code == 2 and "QUERY or --examples" in result.output
    (tmp_path / "one.json").write_text(json.dumps([{"input": "a", "output": "b"}]))
    result = runner.invoke(cli, ["search", "--examples", str(tmp_path / "one.json"), "--base", root,
                                 "--db", str(tiny_catalog)])
    assert result.exit_code != 0 and "not a valid example search" in result.output


def test_an_adapter_moved_to_another_base_is_embedded_again(tmp_path):
    """An adapter's vector is taken with the adapter applied on its base; when lineage moves the adapter to another
    model (or that model gets new weights) the stored vector is another model's, so `stale` lists it until a vector
    taken on the new base is saved (which records the model and revision it was applied on)."""
    from hubindex.catalog import Catalog
    from hubindex.indexer.embedding import applied_state, stale
    from tests.synthetic_catalog import write_catalog

    method = METHODS["hubindex"]
    db = write_catalog(tmp_path / "synthetic.duckdb", 60)
    with Catalog(db) as catalog:
        before = {r["id"] for r in stale(catalog, method)}
        adapter = catalog.con.execute("SELECT id FROM models WHERE kind = 'adapter' ORDER BY id").fetchone()[0]
        row = catalog.model(adapter)
        sibling = catalog.con.execute("SELECT id FROM models WHERE kind = 'model' AND family = ? AND id <> ? "
                                      "ORDER BY id", [row["family"], row["family"]]).fetchone()[0]
        assert adapter not in before and applied_state(catalog, row) == (row["family"], catalog.model(
            row["family"])["revision"])
        catalog.set_base(adapter, row["family"], sibling, "gradient", 0.1)  # lineage moved it to a finetune
        assert {r["id"] for r in stale(catalog, method)} == before | {adapter}
        old = catalog.embedding(adapter, "hubindex")
        catalog.save_embedding(adapter, "hubindex", old.revision, old.base, old.base_revision, old.vector,
                               method.recipe, applied=applied_state(catalog, catalog.model(adapter)))
        assert {r["id"] for r in stale(catalog, method)} == before
        catalog.con.execute("UPDATE models SET revision = 'new-weights' WHERE id = ?", [sibling])
        assert {r["id"] for r in stale(catalog, method)} == before | {adapter, sibling}  # new weights: both again
