"""Merge methods against direct reference computations, pre-flight gates, and recipes."""

import json

import numpy as np
import pytest
import torch
import yaml

from hubindex.checkpoint import ModelFolder
from hubindex.errors import MergeError
from hubindex.train.merge import load_recipe, merge, parse_recipe
from hubindex.train.merge.methods.sparsify import dare_mask
from tests.helpers import random_tensors, write_checkpoint

SHAPES = {"layer.0.weight": (6, 5), "layer.1.weight": (7,), "embed.weight": (16, 3)}


@pytest.fixture()
def hub(tmp_path):
    """base plus three finetunes whose task vectors have mixed signs, as folders under a hub-like root."""
    base = random_tensors(0, SHAPES)
    write_checkpoint(tmp_path / "org/base", base)
    for i in range(3):
        delta = random_tensors(10 + i, SHAPES, scale=0.1)
        write_checkpoint(tmp_path / f"org/ft{i}", {n: base[n] + delta[n] for n in SHAPES})
    return tmp_path


def load(folder):
    f = ModelFolder.open(folder)
    return {n: f.read(n) for n in f.tensors}


def run(hub, recipe: dict, out="org/out"):
    merge(parse_recipe(recipe), hub / out, resolve=lambda ref: hub / ref, quiet=True)
    return load(hub / out)


def models(n, **params):
    return [{"model": f"org/ft{i}", "parameters": dict(params)} for i in range(n)]


def np_tensors(hub, name):
    return {k: v.numpy().astype(np.float64) for k, v in load(hub / name).items()}


def test_linear_half_half_is_elementwise_mean(hub):
    out = run(hub, {"merge_method": "linear", "models": models(2, weight=0.5)})
    a, b = load(hub / "org/ft0"), load(hub / "org/ft1")
    for n in SHAPES:
        assert torch.allclose(out[n], (a[n] + b[n]) / 2, atol=1e-7)


def test_task_arithmetic_weight_zero_returns_base_exactly(hub):
    out = run(hub, {"merge_method": "task_arithmetic", "base_model": "org/base", "models": models(2, weight=0.0)})
    base = load(hub / "org/base")
    assert all(torch.equal(out[n], base[n]) for n in SHAPES)


def test_task_arithmetic_adds_scaled_task_vectors(hub):
    recipe = {"merge_method": "task_arithmetic", "base_model": "org/base",
              "models": [{"model": "org/ft0", "parameters": {"weight": 0.7}},
                         {"model": "org/ft1", "parameters": {"weight": 0.3}}], "parameters": {"lambda": 2.0}}
    out = run(hub, recipe)
    b, a0, a1 = np_tensors(hub, "org/base"), np_tensors(hub, "org/ft0"), np_tensors(hub, "org/ft1")
    for n in SHAPES:
        expected = b[n] + 2.0 * (0.7 * (a0[n] - b[n]) + 0.3 * (a1[n] - b[n]))
        np.testing.assert_allclose(out[n].numpy(), expected, atol=1e-6)


def reference_ties(base, fts, weights, density):
    """TIES entry by entry as mergekit defines it: keep int(density * n), elect the sign by mass (+ on a tie),
    average the agreeing entries."""
    taus = []
    for ft in fts:
        tau = (ft - base).ravel()
        k = max(1, int(density * tau.size))
        keep = np.argsort(-np.abs(tau))[:k]
        trimmed = np.zeros_like(tau)
        trimmed[keep] = tau[keep]
        taus.append(trimmed)
    out = np.zeros_like(taus[0])
    for j in range(out.size):
        values = [w * t[j] for w, t in zip(weights, taus, strict=True)]
        sign = 1.0 if sum(values) >= 0 else -1.0
        agree = [(v, w) for v, w in zip(values, weights, strict=True) if v != 0 and np.sign(v) == sign]
        out[j] = sum(v for v, _ in agree) / sum(w for _, w in agree) if agree else 0.0
    return base + out.reshape(base.shape)


def test_ties_matches_reference(hub):
    weights = [1.0, 0.6, 0.8]
    recipe = {"merge_method": "ties", "base_model": "org/base",
              "models": [{"model": f"org/ft{i}", "parameters": {"weight": w, "density": 0.5}}
                         for i, w in enumerate(weights)]}
    out = run(hub, recipe)
    b = np_tensors(hub, "org/base")
    fts = [np_tensors(hub, f"org/ft{i}") for i in range(3)]
    for n in SHAPES:
        expected = reference_ties(b[n], [f[n] for f in fts], weights, 0.5)
        np.testing.assert_allclose(out[n].numpy(), expected, atol=1e-6)
    # Trimming really happened: at density 0.5 the merged delta has no more nonzeros than 3 half-masks.
    delta = out["embed.weight"].numpy() - b["embed.weight"]
    assert 0 < np.count_nonzero(delta) < delta.size


def test_ties_without_density_does_not_trim(hub):
    recipe = {"merge_method": "ties", "base_model": "org/base", "models": models(3, weight=1.0)}
    out = run(hub, recipe)
    b = np_tensors(hub, "org/base")
    fts = [np_tensors(hub, f"org/ft{i}") for i in range(3)]
    for n in SHAPES:
        np.testing.assert_allclose(out[n].numpy(), reference_ties(b[n], [f[n] for f in fts], [1, 1, 1], 1.0),
                                   atol=1e-6)


@pytest.mark.parametrize("method", ["dare_ties", "dare_linear"])
def test_dare_matches_reference(hub, method):
    import zlib

    density, seed, weights = 0.4, 123, [0.5, 0.9]
    recipe = {"merge_method": method, "base_model": "org/base", "seed": seed,
              "models": [{"model": f"org/ft{i}", "parameters": {"weight": w, "density": density}}
                         for i, w in enumerate(weights)]}
    out = run(hub, recipe)
    b = np_tensors(hub, "org/base")
    fts = [np_tensors(hub, f"org/ft{i}") for i in range(2)]
    for n, shape in SHAPES.items():
        # The documented mask stream: seed of (recipe seed, tensor name, model index).
        masks = [dare_mask(torch.Size(shape), density,
                           torch.Generator().manual_seed(zlib.crc32(f"{seed}:{n}:{i}".encode()))).numpy()
                 for i in range(2)]
        # rescale (on by default) keeps each task vector's L1 norm; normalize is off for both DARE methods.
        taus = [m * (f[n] - b[n]) for m, f in zip(masks, fts, strict=True)]
        taus = [t * np.abs(f[n] - b[n]).sum() / np.abs(t).sum() for t, f in zip(taus, fts, strict=True)]
        weighted = [w * t for w, t in zip(weights, taus, strict=True)]
        if method == "dare_linear":
            expected = b[n] + sum(weighted)
        else:
            elected = np.where(sum(weighted) >= 0, 1.0, -1.0)
            expected = b[n] + sum(np.where(np.sign(t) == elected, t, 0.0) for t in weighted)
        np.testing.assert_allclose(out[n].numpy(), expected, atol=1e-5)
        kept = np.mean(np.concatenate([m.ravel() for m in masks]))
        assert 0.1 < kept < 0.7  # roughly density, on tiny tensors


def test_slerp_endpoints_and_midpoint_norm(hub):
    a, b = load(hub / "org/ft0"), load(hub / "org/ft1")
    start = run(hub, {"merge_method": "slerp", "models": models(2), "parameters": {"t": 0.0}}, "org/s0")
    end = run(hub, {"merge_method": "slerp", "models": models(2), "parameters": {"t": 1.0}}, "org/s1")
    mid = run(hub, {"merge_method": "slerp", "models": models(2), "parameters": {"t": 0.5}}, "org/s5")
    for n in SHAPES:
        assert torch.allclose(start[n], a[n], atol=1e-5) and torch.allclose(end[n], b[n], atol=1e-5)
        # On the arc the midpoint keeps (about) the norm; a straight average would shrink it.
        assert mid[n].norm() >= ((a[n] + b[n]) / 2).norm() - 1e-6


def test_breadcrumbs_drops_outliers_and_small_entries(hub):
    out = run(hub, {"merge_method": "breadcrumbs", "base_model": "org/base",
                    "models": models(1, density=0.5, weight=1.0),
                    "parameters": {"gamma": 0.1}})
    b, f = np_tensors(hub, "org/base"), np_tensors(hub, "org/ft0")
    tau = (f["embed.weight"] - b["embed.weight"]).ravel()
    order = np.argsort(-np.abs(tau))
    n_top, n_keep = int(0.1 * tau.size), int(0.5 * tau.size)
    expected = np.zeros_like(tau)
    expected[order[n_top : n_top + n_keep]] = tau[order[n_top : n_top + n_keep]]
    got = out["embed.weight"].numpy().ravel() - b["embed.weight"].ravel()
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_model_stock_moves_by_the_unclamped_closed_form(hub):
    out = run(hub, {"merge_method": "model_stock", "base_model": "org/base", "models": models(3)})
    b = load(hub / "org/base")
    fts = [load(hub / f"org/ft{i}") for i in range(3)]
    for n in SHAPES:
        taus = [(f[n] - b[n]).flatten().double() for f in fts]
        cos = np.mean([float(a @ c / (a.norm() * c.norm())) for i, a in enumerate(taus) for c in taus[i + 1:]])
        t = 3 * cos / (1 + 2 * cos)  # not clamped: opposed task vectors may give t < 0, as in mergekit
        avg = torch.stack([f[n] for f in fts]).mean(0)
        assert torch.allclose(out[n], b[n] + t * (avg - b[n]), atol=1e-5)


def test_output_is_a_loadable_folder_with_card_and_recipe(hub):
    recipe = {"merge_method": "ties", "base_model": "org/base", "models": models(2, density=0.5, weight=1.0)}
    merge(parse_recipe(recipe), hub / "org/m", resolve=lambda r: hub / r, max_shard_bytes=200, quiet=True)
    folder = hub / "org/m"
    assert (folder / "model.safetensors.index.json").exists()
    card = (folder / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["base_model"] == ["org/ft0", "org/ft1"] and meta["base_model_relation"] == "merge"
    emitted = load_recipe(folder / "mergekit_config.yml")
    assert emitted.merge_method == "ties" and [m.model for m in emitted.models] == ["org/ft0", "org/ft1"]
    # The emitted recipe reproduces the merge exactly.
    merge(emitted, hub / "org/m2", resolve=lambda r: hub / r, quiet=True)
    first, second = load(folder), load(hub / "org/m2")
    assert all(torch.equal(first[n], second[n]) for n in SHAPES)


def test_mismatched_shapes_fail_before_writing(hub):
    bad = random_tensors(99, {**SHAPES, "embed.weight": (17, 3)})
    write_checkpoint(hub / "org/bad", bad)
    recipe = {"merge_method": "linear", "models": [{"model": "org/ft0", "parameters": {"weight": 1}},
                                                    {"model": "org/bad", "parameters": {"weight": 1}}]}
    with pytest.raises(MergeError, match=r"embed.weight.*shape \[17, 3\]"):
        merge(parse_recipe(recipe), hub / "org/out", resolve=lambda r: hub / r, quiet=True)
    assert not (hub / "org/out").exists()
    assert not list((hub / "org").glob(".out.*"))  # no staging left behind


def test_vocab_and_architecture_gates(hub):
    t = load(hub / "org/ft0")
    write_checkpoint(hub / "org/vocab", t, config={"model_type": "llama", "vocab_size": 99})
    write_checkpoint(hub / "org/gpt", t, config={"model_type": "gpt2", "vocab_size": 16})
    for other, message in (("org/vocab", "vocab_size 99"), ("org/gpt", "architecture 'gpt2'")):
        recipe = {"merge_method": "linear", "models": [{"model": "org/ft0"}, {"model": other}],
                  "parameters": {"weight": 1.0}}
        with pytest.raises(MergeError, match=message):
            merge(parse_recipe(recipe), hub / "org/out", resolve=lambda r: hub / r, quiet=True)


def test_nan_weights_abort_and_leave_nothing(hub):
    t = load(hub / "org/ft1")
    t["layer.1.weight"][3] = float("nan")
    write_checkpoint(hub / "org/nan", t)
    recipe = {"merge_method": "task_arithmetic", "base_model": "org/base",
              "models": [{"model": "org/ft0"}, {"model": "org/nan"}], "parameters": {"weight": 0.5}}
    with pytest.raises(MergeError, match="NaN"):
        merge(parse_recipe(recipe), hub / "org/out", resolve=lambda r: hub / r, quiet=True)
    assert not (hub / "org/out").exists()


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        ({"merge_method": "frobnicate", "models": [{"model": "a"}]}, "unknown merge method"),
        ({"merge_method": "slerp", "models": [{"model": "a"}, {"model": "b"}, {"model": "c"}]}, "slerp merges 2"),
        ({"merge_method": "ties", "models": [{"model": "a"}]}, "needs a base_model"),
        ({"merge_method": "ties", "base_model": "b", "models": [{"model": "a", "parameters": {"densty": 0.5}}]},
         "unknown parameter"),
        ({"merge_method": "ties", "base_model": "b", "models": [{"model": "a"}]}, "needs weight for a"),
        ({"merge_method": "slerp", "base_model": "b", "models": [{"model": "a"}]}, "needs parameters.t"),
        ({"merge_method": "model_stock", "base_model": "b", "models": [{"model": "a"}]}, "model_stock merges >= 3"),
        ({"merge_method": "linear", "models": [{"model": "a"}], "dtype": "int4"}, "unknown dtype"),
        ({"merge_method": "linear", "models": [{"model": "a"}], "tokenizer": {"source": "union"}}, "tokenizer_source"),
        ({"merge_method": "linear", "models": [{"model": "a"}], "modules": {}}, "run this recipe with mergekit"),
        ({"merge_method": "linear", "models": [{"model": "a+lora"}]}, "merge the adapter"),
        ({"merge_method": "linear", "models": [{"model": "a", "parameters": {"weight": 1}}], "tokenizer_source": "z"},
         "not base, union or one of the inputs"),
        ({"merge_method": "della", "models": [{"model": "a"}]}, "run them with mergekit"),
        ({"merge_method": "linear", "slices": [{"sources": []}]}, "mergekit-yaml recipe.yml OUT"),
    ],
)
def test_invalid_recipes(recipe, message):
    with pytest.raises(MergeError, match=message):
        parse_recipe(recipe)


def test_adapter_and_missing_inputs(hub):
    (hub / "org/adapter").mkdir()
    (hub / "org/adapter/adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    write_checkpoint(hub / "tmp", {"x": torch.zeros(1)})
    (hub / "tmp/model.safetensors").rename(hub / "org/adapter/adapter_model.safetensors")
    for other, message in (("org/adapter", "LoRA adapter"), ("org/missing", "no such directory")):
        recipe = {"merge_method": "linear", "models": [{"model": "org/ft0"}, {"model": other}],
                  "parameters": {"weight": 1.0}}
        with pytest.raises(MergeError, match=message):
            merge(parse_recipe(recipe), hub / "org/out", resolve=lambda r: hub / r, quiet=True)


def test_parameters_resolve_like_mergekit():
    """Model level, then global, then the default; filters fall through when none matches; gradients interpolate
    over the layers; `null` means unset and is not written back."""
    recipe = parse_recipe({"merge_method": "ties", "base_model": "b", "parameters": {"density": 0.4, "weight": None},
                           "models": [{"model": "a", "parameters": {"weight": [0.0, 1.0],
                                                                     "density": [{"filter": "mlp", "value": 0.9}]}}]})
    assert "null" not in recipe.to_yaml() and "weight" not in recipe.to_yaml().split("parameters:")[-1]
    shared, (a, base) = recipe.resolve("model.layers.1.mlp.up_proj.weight", 0.25)
    assert shared["normalize"] is True and a == {"weight": 0.25, "density": 0.9} and base == {}
    _, (a, _) = recipe.resolve("model.layers.1.self_attn.q_proj.weight", 0.5)
    assert a == {"weight": 0.5, "density": 0.4}
    with pytest.raises(MergeError, match=r"weight for a\.x: not a float"):
        parse_recipe({"merge_method": "ties", "base_model": "b",
                      "models": [{"model": "a", "parameters": {"weight": "heavy"}}]}).resolve("x", 0.0)


def test_slerp_without_base_writes_its_first_model_as_base():
    recipe = parse_recipe({"merge_method": "slerp", "models": models(2), "parameters": {"t": 0.3}})
    assert yaml.safe_load(recipe.to_yaml())["base_model"] == "org/ft0" and recipe.inputs() == ["org/ft0", "org/ft1"]


def test_dare_inverse_density_rescale_is_hubindex_only_and_explicit(hub):
    """`dare_rescale: inverse_density` (the zoo's DARE) multiplies survivors by exactly 1/density; the default (as
    in mergekit) keeps each tensor's L1 norm instead."""
    recipe = {"merge_method": "dare_linear", "base_model": "org/base", "seed": 3,
              "models": [{"model": "org/ft0", "parameters": {"weight": 1.0, "density": 0.5}}]}
    inverse = run(hub, {**recipe, "dare_rescale": "inverse_density"}, "org/inv")
    l1 = run(hub, recipe, "org/l1")
    b, f = np_tensors(hub, "org/base"), np_tensors(hub, "org/ft0")
    for n in SHAPES:
        tau, kept = f[n] - b[n], inverse[n].numpy() - b[n]
        survivors = kept != 0
        np.testing.assert_allclose(kept[survivors], 2 * tau[survivors], rtol=1e-5)
        np.testing.assert_allclose(np.abs(l1[n].numpy() - b[n]).sum(), np.abs(tau).sum(), rtol=1e-5)
