"""The realistic zoo: each phenomenon its truth.json `kind` names is really in the files, and the clocks show
what a hub or a copy would show."""

import json
import shutil
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context

import jsonschema
import pytest
import torch

from hubindex.card import read_card
from hubindex.checkpoint import ModelFolder
from hubindex.indexer.jobs import FingerprintJob
from hubindex.indexer.metadata import file_stamp
from hubindex.indexer.stages import fingerprint
from hubindex.schemas import schema_for
from hubindex.zoo.build import ZooOptions, build_zoo
from hubindex.zoo.clock import HUB_CREATED_FLOOR
from hubindex.zoo.spec import KINDS, plan_zoo
from hubindex.zoo.truth import load_truth
from tests.conftest import REALISTIC_SEED

EMBEDDINGS = {"llama": "model.embed_tokens.weight", "qwen2": "model.embed_tokens.weight",
              "gpt2": "transformer.wte.weight"}


def _of_kind(truth: dict, kind: str) -> list[str]:
    return [m for m, e in truth.items() if e["kind"] == kind]


def _dtypes(folder) -> set[str]:
    return {t.dtype for t in ModelFolder.open(folder).tensors.values()}


def _delta(zoo, child: str, parent: str) -> float:
    """Relative weight change over the tensors both share with one shape."""
    a, b = ModelFolder.open(zoo / child), ModelFolder.open(zoo / parent)
    num = den = 0.0
    for name, t in a.tensors.items():
        if name in b.tensors and b.tensors[name].shape == t.shape:
            x, y = a.read(name).float(), b.read(name).float()
            num += float((x - y).pow(2).sum())
            den += float(y.pow(2).sum())
    return (num / den) ** 0.5


def test_truth_follows_schema_and_has_every_kind(realistic_zoo):
    truth = load_truth(realistic_zoo)
    jsonschema.validate(truth, schema_for("truth"))
    kinds = Counter(e["kind"] for e in truth.values())
    assert set(kinds) == set(KINDS) - {"merge"}  # fp32 merges belong to the reference zoos
    assert 30 <= len(truth) <= 45 and kinds["sweep"] >= 4
    assert {e["arch"] for e in truth.values()} == {"llama", "qwen2", "gpt2"}
    for model, entry in truth.items():
        assert (entry["relation"] == "root") == (not entry["parents"])
        for parent in entry["parents"]:
            assert truth[parent]["family"] == entry["family"] and truth[parent]["created_at"] < entry["created_at"]
        assert ModelFolder.open(realistic_zoo / model).kind == ("adapter" if entry["relation"] == "adapter"
                                                                 else "model")
    chain = _of_kind(truth, "chain")
    assert any(truth[truth[m]["parents"][0]]["kind"] == "chain" and truth[truth[truth[m]["parents"][0]]["parents"][0]]
               ["kind"] == "chain" for m in chain), "no chain of depth 3"


def test_lookalike_bases_share_a_config_not_weights(realistic_zoo):
    truth = load_truth(realistic_zoo)
    lookalike = _of_kind(truth, "lookalike_base")[0]
    twin = next(m for m in _of_kind(truth, "base") if truth[m]["arch"] == "llama")
    a, b = ModelFolder.open(realistic_zoo / lookalike), ModelFolder.open(realistic_zoo / twin)
    assert a.config == b.config
    assert a.layout() == b.layout()
    name = EMBEDDINGS["llama"]
    assert not torch.equal(a.read(name), b.read(name))


def test_qwen2_family_ties_embeddings_and_has_biases(realistic_zoo):
    truth = load_truth(realistic_zoo)
    base = next(m for m in _of_kind(truth, "base") if truth[m]["arch"] == "qwen2")
    folder = ModelFolder.open(realistic_zoo / base)
    assert folder.config["tie_word_embeddings"] is True and "lm_head.weight" not in folder.tensors
    assert "model.layers.0.self_attn.q_proj.bias" in folder.tensors


def test_vocab_extended_finetunes_add_rows_and_tokens(realistic_zoo):
    truth = load_truth(realistic_zoo)
    extended = _of_kind(truth, "vocab_extended")
    assert {truth[m]["arch"] for m in extended} >= {"llama", "qwen2"}
    for model in extended:
        name = EMBEDDINGS[truth[model]["arch"]]
        child = ModelFolder.open(realistic_zoo / model)
        parent = ModelFolder.open(realistic_zoo / truth[model]["parents"][0])
        rows, old_rows = child.tensors[name].shape[0], parent.tensors[name].shape[0]
        assert rows > old_rows and child.config["vocab_size"] == rows
        tokenizer = json.loads((realistic_zoo / model / "tokenizer.json").read_text())
        added = {t["content"] for t in tokenizer["added_tokens"]}
        assert {"<|im_start|>", "<|im_end|>"} <= added
        # The shared rows moved by training but stay close to the parent's (a finetune, not a new model).
        shared = child.read(name)[:old_rows]
        assert 0 < float((shared - parent.read(name)).norm() / parent.read(name).norm()) < 0.5


def test_low_precision_models_are_stored_as_their_kind_says(realistic_zoo):
    truth = load_truth(realistic_zoo)
    expected = {"merge_bf16": {"BF16"}, "finetune_bf16": {"BF16"}, "copy_bf16": {"BF16"}, "copy_fp16": {"F16"},
                "int8": {"F16"}, "reshard": {"F32"}}
    for kind, dtypes in expected.items():
        for model in _of_kind(truth, kind):
            assert _dtypes(realistic_zoo / model) == dtypes, (kind, model)
    for model in _of_kind(truth, "child_of_bf16"):
        assert _dtypes(realistic_zoo / truth[model]["parents"][0]) == {"BF16"}
    reshard = _of_kind(truth, "reshard")[0]
    source = truth[reshard]["parents"][0]
    assert len(ModelFolder.open(realistic_zoo / reshard).files) > len(ModelFolder.open(realistic_zoo / source).files)
    assert _delta(realistic_zoo, reshard, source) == 0.0
    assert {truth[m]["merge"]["method"] for m in _of_kind(truth, "merge_bf16")} == \
        {"task_arithmetic", "linear", "ties", "slerp"}
    assert any(len(truth[m]["parents"]) == 3 for m in _of_kind(truth, "merge_bf16") if truth[m]["method"] == "linear")


def test_int8_weights_sit_on_a_per_row_grid(realistic_zoo):
    truth = load_truth(realistic_zoo)
    model = _of_kind(truth, "int8")[0]

    def off_grid(folder) -> torch.Tensor:
        opened = ModelFolder.open(folder)
        name = next(n for n, t in opened.tensors.items() if len(t.shape) == 2 and "embed" not in n)
        weight = opened.read(name).float()
        steps = weight / (weight.abs().amax(dim=1, keepdim=True) / 127)
        return (steps - steps.round()).abs()

    quantized, source = off_grid(realistic_zoo / model), off_grid(realistic_zoo / truth[model]["parents"][0])
    # On the grid up to fp16 rounding (2**-11 relative, up to ~0.06 of a step); unquantized weights average 0.25.
    assert float(quantized.max()) < 0.1 and float(quantized.mean()) < 0.02
    assert float(source.mean()) > 0.2


def test_optimizer_variety_and_run_lengths_are_recorded_and_real(realistic_zoo):
    truth = load_truth(realistic_zoo)
    sgd, wd = _of_kind(truth, "sgd")[0], _of_kind(truth, "adamw_wd")[0]
    assert truth[sgd]["training"]["optimizer"] == "sgd" and truth[sgd]["training"]["momentum"] == 0.9
    assert truth[sgd]["training"]["clip"] is None
    assert truth[wd]["training"]["weight_decay"] > 0 and truth[wd]["training"]["schedule"] == "linear"
    short, long = _of_kind(truth, "short_run")[0], _of_kind(truth, "long_run")[0]
    assert 5 <= truth[short]["training"]["steps"] <= 10 and truth[long]["training"]["steps"] >= 200
    # The step counts show in the weights: a touch-up moves less than a long run (both at lr 1e-3).
    short_delta = _delta(realistic_zoo, short, truth[short]["parents"][0])
    assert 0 < short_delta < _delta(realistic_zoo, long, truth[long]["parents"][0])
    assert _delta(realistic_zoo, sgd, truth[sgd]["parents"][0]) > 0


def test_adapters_vary_in_rank_and_targets_and_sit_on_finetunes_too(realistic_zoo):
    truth = load_truth(realistic_zoo)
    adapters = _of_kind(truth, "lora") + _of_kind(truth, "adapter_on_finetune")
    shapes = set()
    for model in adapters:
        config = json.loads((realistic_zoo / model / "adapter_config.json").read_text())
        assert config["base_model_name_or_path"] is None  # stripped
        shapes.add((config["r"], tuple(sorted(config["target_modules"]))))
    assert len({r for r, _ in shapes}) >= 2 and len({t for _, t in shapes}) >= 3
    for model in _of_kind(truth, "adapter_on_finetune"):
        assert truth[truth[model]["parents"][0]]["relation"] == "finetune"
    continued = _of_kind(truth, "continued_pretrain")[0]
    assert all(truth[m]["parents"] == [continued] for m in _of_kind(truth, "on_continued"))
    assert truth[continued]["training"]["corpus"] == "mix"


def _copy(zoo, tmp_path):
    copy = tmp_path / "zoo"
    shutil.copytree(zoo, copy)
    return copy


def _indexed_created(folder) -> datetime:
    """The created time the indexer records for a local folder (card time, else its weight files' time)."""
    job = FingerprintJob(model_id="x/y", source="local", folder=str(folder), stamp=file_stamp(folder))
    return fingerprint(job).row.created_at.replace(tzinfo=UTC)


def _options(clock: str) -> ZooOptions:
    return ZooOptions(seed=REALISTIC_SEED, size="tiny", strip_metadata=True, profile="realistic", clock=clock)


def test_floor_clock_shows_the_hub_created_floor_for_old_models(realistic_zoo, tmp_path):
    copy = _copy(realistic_zoo, tmp_path)
    summary = build_zoo(copy, _options("floor"))
    assert summary["built_models"] == 0 and summary["clock"] == "floor"  # a clock never retrains
    truth = load_truth(copy)
    real = {m: datetime.fromisoformat(e["created_at"].replace("Z", "+00:00")) for m, e in truth.items()}
    old = {m for m, t in real.items() if t < HUB_CREATED_FLOOR}
    assert {m for m, e in truth.items() if e["relation"] == "root"} <= old
    assert 0.35 <= len(old) / len(truth) <= 0.65
    for model, time in real.items():
        shown = _indexed_created(copy / model)
        assert shown == (HUB_CREATED_FLOOR if model in old else time), model
    assert load_truth(copy) == load_truth(realistic_zoo)  # truth keeps the real times


def test_reset_clock_gives_every_file_one_time_and_real_clock_orders_parents(realistic_zoo, tmp_path):
    truth = load_truth(realistic_zoo)
    for model, entry in list(truth.items())[:10]:  # the session's zoo shows real times
        expected = datetime.fromisoformat(entry["created_at"].replace("Z", "+00:00"))
        assert _indexed_created(realistic_zoo / model) == expected
    copy = _copy(realistic_zoo, tmp_path)
    assert build_zoo(copy, _options("reset"))["built_models"] == 0
    mtimes = {p.stat().st_mtime_ns for m in truth for p in (copy / m).rglob("*")}
    assert len(mtimes) == 1
    for model in truth:
        meta, _ = read_card(copy / model)
        assert "created_at" not in meta


def test_plan_is_deterministic_per_seed():
    first, again, other = (plan_zoo(s, "tiny", profile="realistic") for s in (5, 5, 6))
    assert [(s.id, s.digest(), s.created_at) for s in first] == [(s.id, s.digest(), s.created_at) for s in again]
    assert [s.digest() for s in first] != [s.digest() for s in other]
    assert len(plan_zoo(5, "small", profile="realistic")) >= 90


def _make(args) -> None:
    from hubindex.zoo.build import make_model

    make_model(*args)


def test_same_seed_same_bits(realistic_zoo, tmp_path):
    """Models re-made one at a time in a fresh one-thread worker equal the session build (2 jobs) bit for bit."""
    from hubindex.zoo.build import _init_worker

    truth = load_truth(realistic_zoo)
    plan = {s.id: s for s in _options("real").plan()}
    picked = [_of_kind(truth, k)[0] for k in ("sgd", "vocab_extended", "child_of_bf16", "merge_bf16")]
    for model in {p for m in picked for p in plan[m].parents} | {plan[m].params.get("base") for m in picked} - {None}:
        shutil.copytree(realistic_zoo / model, tmp_path / model)
    with ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=_init_worker) as pool:
        list(pool.map(_make, [(str(tmp_path), plan[m], "tiny", True) for m in picked]))
    for model in picked:
        made, built = ModelFolder.open(tmp_path / model), ModelFolder.open(realistic_zoo / model)
        assert made.tensors.keys() == built.tensors.keys()
        assert all(torch.equal(made.read(n), built.read(n)) for n in made.tensors), model


@pytest.mark.parametrize("clock", ["sundial"])
def test_unknown_clock_is_refused_before_building(clock, tmp_path):
    from hubindex.errors import HubindexError

    with pytest.raises(HubindexError, match="clock"):
        build_zoo(tmp_path / "zoo", _options(clock))
    assert not (tmp_path / "zoo").exists()


def test_calibration_scores_rank_and_bin_confidence():
    from hubindex.evaluate.lineage import calibration

    # Right answers at 0.9 and 0.8, wrong ones at 0.85 and 0.1: 3 of 4 (right, wrong) pairs are ordered -> 0.75.
    cal = calibration([0.9, 0.8, 0.85, 0.1], [True, True, False, False])
    assert cal.auroc == pytest.approx(0.75) and (cal.right, cal.wrong) == (2, 2)
    # Bins: [0.1, 0.2) holds 0.1 (acc 0); [0.8, 0.9) holds 0.8 and 0.85 (acc 0.5); [0.9, 1.0] holds 0.9 (acc 1).
    assert [b.models for b in cal.bins] == [0, 1, 0, 0, 0, 0, 0, 0, 2, 1]
    assert cal.ece == pytest.approx((0.1 + 2 * abs(0.5 - 0.825) + 0.1) / 4)
    perfect = calibration([1.0, 1.0, 0.0], [True, True, False])
    assert perfect.auroc == 1.0 and perfect.ece == 0.0 and perfect.bins[-1].models == 2
    assert calibration([0.5, 0.7], [True, True]).auroc is None


def test_kind_scores_count_parents_and_relations_per_kind():
    from hubindex.evaluate.lineage import kind_scores
    from hubindex.lineage.answers import LineageEntry

    truth = {"b": {"parents": [], "relation": "root", "kind": "base"},
             "s1": {"parents": ["b"], "relation": "finetune", "kind": "sweep"},
             "s2": {"parents": ["b"], "relation": "finetune", "kind": "sweep"}}
    found = {"b": LineageEntry(model="b", parents=[], relation="root", confidence=0.9, evidence={}),
             "s1": LineageEntry(model="s1", parents=["b"], relation="finetune", confidence=0.9, evidence={}),
             "s2": LineageEntry(model="s2", parents=["s1"], relation="quantized", confidence=0.4, evidence={})}
    scores = kind_scores(found, truth)
    assert scores["sweep"].parent_accuracy == 0.5 and scores["sweep"].relation_accuracy == 0.5
    assert scores["base"].models == 1 and scores["base"].parent_accuracy == 1.0
