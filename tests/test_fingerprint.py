"""Weight signatures: sampled distances estimate true ones; adapters' effective deltas are exact; stats are right."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from hubindex.checkpoint import ModelFolder
from hubindex.errors import CheckpointError
from hubindex.fingerprint import compute_signature
from hubindex.fingerprint.builder import sampled_signature
from hubindex.fingerprint.sampling import BLOCK, MAX_TENSORS, WINDOW, project, sampled_names, tensor_sample
from hubindex.fingerprint.signature import scaled_distance
from hubindex.fingerprint.source import LocalSource
from hubindex.fingerprint.stats import tensor_stats
from hubindex.zoo.truth import load_truth
from tests.helpers import CONFIG, random_tensors, write_checkpoint

SHAPES = {"model.embed_tokens.weight": (16, 256), "model.layers.0.mlp.up_proj.weight": (512, 256),
          "model.layers.0.input_layernorm.weight": (256,), "lm_head.weight": (16, 256)}
CONFIG_256 = {**CONFIG, "hidden_size": 256, "num_hidden_layers": 1}


def _pair(tmp_path, delta_scale: float):
    base = random_tensors(1, SHAPES)
    noise = random_tensors(2, SHAPES, scale=delta_scale)
    tuned = {n: base[n] + noise[n] for n in base}
    write_checkpoint(tmp_path / "a", base, CONFIG_256)
    write_checkpoint(tmp_path / "b", tuned, CONFIG_256, max_shard_bytes=300_000)
    true = math.sqrt(sum(float((noise[n].double() ** 2).sum()) for n in noise))
    signatures = [compute_signature(ModelFolder.open(tmp_path / name)) for name in ("a", "b")]
    return signatures[0], signatures[1], true


@pytest.mark.parametrize("delta_scale", [0.01, 0.3])
def test_sampled_distance_estimates_the_true_weight_distance(tmp_path, delta_scale):
    a, b, true = _pair(tmp_path, delta_scale)
    estimate = scaled_distance(a.samples, b.samples, a.shapes)
    assert estimate == pytest.approx(true, rel=0.1)
    sketched = float(np.linalg.norm(a.sketch - b.sketch))
    assert sketched == pytest.approx(true, rel=0.25)


def test_same_tensor_gets_same_coordinates_in_any_file_layout(tmp_path):
    a, b, _ = _pair(tmp_path, 0.0)
    assert a.layout == b.layout  # one file vs three shards
    for name in a.samples:
        np.testing.assert_array_equal(a.samples[name], b.samples[name])
    assert a.revision != "" and len(b.files) > 1


def test_dtype_copy_keeps_layout_and_is_near(tmp_path):
    base = random_tensors(3, SHAPES)
    write_checkpoint(tmp_path / "f32", base, CONFIG_256)
    write_checkpoint(tmp_path / "bf16", {n: t.bfloat16() for n, t in base.items()}, CONFIG_256)
    a = compute_signature(ModelFolder.open(tmp_path / "f32"))
    b = compute_signature(ModelFolder.open(tmp_path / "bf16"))
    assert a.layout == b.layout and a.revision != b.revision
    assert b.dtypes == {"BF16": sum(math.prod(s) for s in SHAPES.values())}
    norm = math.sqrt(sum(t.l2**2 for t in a.tensors))
    assert scaled_distance(a.samples, b.samples, a.shapes) / norm < 0.01


def test_sample_blocks_are_one_range_of_whole_rows_with_version_1_window_counts_inside():
    big = tensor_sample("w", (4096, 4096))
    assert big.start % 4096 == 0 and big.stop == big.start + BLOCK  # whole rows (16 of 4096): one range request
    windows = big.positions.reshape(-1, WINDOW)
    assert len(windows) == 2 * 25 and big.start <= big.positions[0] and big.positions[-1] < big.stop
    assert (windows[:, 0] % WINDOW == 0).all() and (windows // 4096 == windows[:, :1] // 4096).all()  # in one row
    assert big.scale == pytest.approx(math.sqrt(4096 * 4096 / (50 * WINDOW)))
    assert len(np.unique(windows // 4096)) >= 8  # spread over the rows read
    wide = tensor_sample("down", (8192, 28672))  # rows that do not divide BLOCK: as many whole rows as fit
    assert wide.stop - wide.start == (BLOCK // 28672) * 28672 and wide.start % 28672 == 0
    wider = tensor_sample("up", (16, 100_000))  # a row wider than BLOCK: one whole row
    assert wider.stop - wider.start == 100_000 and wider.start % 100_000 == 0
    assert tensor_sample("w", (4096, 4096)) is big and tensor_sample("v", (4096, 4096)).start != big.start
    # A tensor of at most BLOCK values is read whole; its windows spread over all of it, as version 1 kept them.
    embed = tensor_sample("embed", (384, 32))
    assert (embed.start, embed.stop, embed.count) == (0, 384 * 32, 2 * 14 * WINDOW)
    assert embed.positions[-1] - embed.positions[0] > 384 * 32 / 2  # spread over the tensor, not one run of rows
    small = tensor_sample("norm", (64,))
    np.testing.assert_array_equal(small.positions, np.arange(64))
    assert small.scale == 1.0
    block = np.arange(big.start, big.stop, dtype=np.float32)
    np.testing.assert_array_equal(big.pick(block), big.positions)


def _llama_names(layers: int) -> dict[str, tuple[int, ...]]:
    shapes = {"model.embed_tokens.weight": (1000, 64), "model.norm.weight": (64,), "lm_head.weight": (1000, 64)}
    for i in range(layers):
        for part in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
                     "mlp.up_proj", "mlp.down_proj"):
            shapes[f"model.layers.{i}.{part}.weight"] = (64, 64)
        shapes[f"model.layers.{i}.input_layernorm.weight"] = (64,)
        shapes[f"model.layers.{i}.post_attention_layernorm.weight"] = (64,)
    return shapes


def test_sampled_tensors_are_four_depths_and_an_adapter_gets_its_bases_depths():
    shapes = _llama_names(32)
    chosen = sampled_names(shapes)
    layers = {int(n.split(".")[2]) for n in chosen if ".layers." in n}
    assert layers == {0, 10, 21, 31} and len(chosen) == 4 * 9 + 3 <= MAX_TENSORS
    assert sampled_names(_llama_names(2)) == set(_llama_names(2))  # small models: every tensor
    targets = {n: s for n, s in shapes.items() if "q_proj" in n or "v_proj" in n}  # a LoRA on q and v
    assert sampled_names(targets) == {n for n in chosen if n in targets}
    moe = {**shapes, **{f"model.layers.{i}.mlp.experts.{e}.w1.weight": (64, 64) for i in range(32) for e in range(64)}}
    assert len(sampled_names(moe)) == MAX_TENSORS and all(len(moe[n]) == 2 for n in sampled_names(moe))


def test_sampled_signature_from_blocks_equals_the_full_reads_samples(tmp_path):
    shapes = {**SHAPES, **{f"model.layers.{i}.mlp.up_proj.weight": (512, 256) for i in range(1, 5)}}
    write_checkpoint(tmp_path / "m", random_tensors(6, shapes), {**CONFIG_256, "num_hidden_layers": 5},
                     max_shard_bytes=600_000)
    folder = ModelFolder.open(tmp_path / "m")
    full = compute_signature(folder)
    partial = sampled_signature(LocalSource(folder), content_hash="local")
    assert (partial.layout, partial.params, partial.dtypes) == (full.layout, full.params, full.dtypes)
    assert set(partial.samples) == set(full.samples) == sampled_names({n: s for n, s in shapes.items()})
    assert "model.layers.2.mlp.up_proj.weight" not in full.samples  # depths of 5 layers: 0, 1, 3, 4
    for name in full.samples:
        np.testing.assert_array_equal(partial.samples[name], full.samples[name])
    np.testing.assert_array_equal(partial.sketch, full.sketch)
    assert full.meta["sampling"] == partial.meta["sampling"] == 2
    assert full.content_hash == full.revision and full.sha is None
    unsampled = next(t for t in partial.tensors if t.name == "model.layers.2.mlp.up_proj.weight")
    assert unsampled.l2 is None and unsampled.shape == [512, 256]  # known from the header, not read
    exact = {t.name: t.l2 for t in full.tensors}
    for t in partial.tensors:  # estimated norms of sampled tensors: within sampling error
        if t.l2 is not None:
            assert t.l2 == pytest.approx(exact[t.name], rel=0.1), t.name


def test_count_sketch_is_linear():
    rng = np.random.default_rng(0)
    shape = (64, 64)
    n = tensor_sample("t", shape).count
    x, y = rng.normal(size=n), rng.normal(size=n)
    combined = project({"t": (shape, x + y)})
    np.testing.assert_allclose(combined, project({"t": (shape, x)}) + project({"t": (shape, y)}), atol=1e-5)


def test_stats_match_direct_computation():
    torch.manual_seed(0)
    tensor = torch.randn(3000, 1000)
    stats = tensor_stats("t", "F32", tensor)
    assert stats.l2 == pytest.approx(float(tensor.double().norm()), rel=1e-5)  # fp32 accumulation per chunk
    assert stats.mean == pytest.approx(float(tensor.double().mean()), abs=0.02)  # from a 65k subsample
    assert stats.std == pytest.approx(1.0, rel=0.02)
    assert stats.kurtosis == pytest.approx(3.0, abs=0.05)  # Gaussian
    assert stats.absmax == pytest.approx(float(tensor.abs().max()))
    heavy = torch.distributions.StudentT(5.0).sample((200_000,))
    assert tensor_stats("t", "F32", heavy).kurtosis > 4.5  # t(5) has kurtosis 9: heavy tails show


def test_nan_weights_are_refused_with_the_tensor_named(tmp_path):
    tensors = random_tensors(4, SHAPES)
    tensors["lm_head.weight"][3, 7] = float("nan")
    write_checkpoint(tmp_path / "m", tensors, CONFIG_256)
    with pytest.raises(CheckpointError, match=r"lm_head\.weight.*NaN"):
        compute_signature(ModelFolder.open(tmp_path / "m"))


def test_shapes_contradicting_config_are_refused(tmp_path):
    write_checkpoint(tmp_path / "m", random_tensors(5, SHAPES), {**CONFIG_256, "vocab_size": 32})
    with pytest.raises(CheckpointError, match="vocab_size"):
        compute_signature(ModelFolder.open(tmp_path / "m"))
    write_checkpoint(tmp_path / "n", random_tensors(5, SHAPES), {**CONFIG_256, "num_hidden_layers": 4})
    with pytest.raises(CheckpointError, match="layers"):
        compute_signature(ModelFolder.open(tmp_path / "n"))


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["lm", "gpt"])  # llama (Linear) and gpt2 (Conv1D, fan_in_fan_out)
def test_adapter_signature_is_the_exact_effective_delta(tiny_zoo, arch):
    truth = load_truth(tiny_zoo)
    adapter = next(m for m, e in truth.items() if e["relation"] == "adapter" and m.split("/")[1].startswith(arch))
    base_id = truth[adapter]["parents"][0]
    signature = compute_signature(ModelFolder.open(tiny_zoo / adapter))
    assert signature.kind == "adapter" and signature.samples
    base = AutoModelForCausalLM.from_pretrained(tiny_zoo / base_id, dtype=torch.float32)
    base_state = {n: t.clone() for n, t in base.state_dict().items()}
    merged = PeftModel.from_pretrained(base, tiny_zoo / adapter).merge_and_unload().state_dict()
    for name, values in signature.samples.items():
        plan = tensor_sample(name, tuple(merged[name].shape))
        expected = (merged[name] - base_state[name]).reshape(-1)[plan.positions].numpy()
        np.testing.assert_allclose(values, expected, atol=1e-6)
        stat = next(t for t in signature.tensors if t.name == name)
        assert stat.l2 == pytest.approx(float((merged[name] - base_state[name]).double().norm()), rel=1e-4)


def test_version_1_signatures_become_stale_instead_of_mixing(tmp_path, monkeypatch):
    """Migration 009: a catalog written with version-1 coordinates re-fingerprints those models (no file stamp,
    not ok, the crawl's row not final); a version-2 signature is left alone."""
    import duckdb

    from hubindex.catalog import migrations

    steps = migrations.available()
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    monkeypatch.setattr(migrations, "available", lambda: [s for s in steps if s[0] < 9])
    migrations.migrate(con)
    for model_id, meta in (("old/model", {"fingerprint": "partial"}), ("new/model", {"sampling": 2})):
        con.execute("INSERT INTO models (id, revision, source, status, file_stamp, indexed_at) "
                    "VALUES (?, 'r', 's', 'indexed', 'stamp', now())", [model_id])
        con.execute("INSERT INTO signatures VALUES (?, 'r', 'model', 'l', [1.0], [1.0], ?)",
                    [model_id, json.dumps(meta)])
        con.execute("INSERT INTO hub_models (id, endpoint, sha, status, crawled_at) VALUES (?, 'e', 'r', "
                    "'partial', now())", [model_id])
    monkeypatch.setattr(migrations, "available", lambda: steps)
    migrations.migrate(con)
    models = dict(con.execute("SELECT id, status || ':' || coalesce(file_stamp, '-') FROM models").fetchall())
    assert models == {"old/model": "error:-", "new/model": "indexed:stamp"}
    assert dict(con.execute("SELECT id, status FROM hub_models").fetchall()) == {"old/model": "error",
                                                                                 "new/model": "partial"}
