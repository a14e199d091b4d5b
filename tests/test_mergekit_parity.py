"""The same YAML through mergekit 0.1.5 (its Python API, on CPU, offline) and through hubindex gives the same
tensors: every method both have, mergekit's defaults and idioms, and the recipes hubindex itself writes."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from hubindex.train.merge import load_recipe, merge, parse_recipe

mergekit_config = pytest.importorskip("mergekit.config")
mergekit_merge = pytest.importorskip("mergekit.merge")
mergekit_options = pytest.importorskip("mergekit.options")

TOLERANCE = 1e-5  # max relative L2 error over tensors
BASE, CODE, LEGAL, POETRY = "hubindex-labs/lm-base", "acme/lm-code", "bluefin/lm-legal", "sparrow/lm-poetry"


def _model(ref, **params):
    return {"model": ref, "parameters": params} if params else {"model": ref}


CASES = {
    "linear": {"merge_method": "linear", "models": [_model(CODE, weight=0.7), _model(LEGAL, weight=0.5)]},
    "linear_unnormalized_bf16": {"merge_method": "linear", "dtype": "bfloat16", "parameters": {"normalize": False},
                                 "models": [_model(CODE, weight=0.7), _model(LEGAL, weight=0.5)]},
    # mergekit's README idiom: the base also under models: (its weight is ignored; it is not one more model)
    "task_arithmetic_base_listed_normalize": {
        "merge_method": "task_arithmetic", "base_model": BASE, "parameters": {"normalize": True, "lambda": 1.3},
        "models": [_model(BASE, weight=0.3), _model(CODE, weight=0.6), _model(LEGAL, weight=0.9)]},
    "ties_density_0.3": {"merge_method": "ties", "base_model": BASE, "parameters": {"density": 0.3},
                         "models": [_model(CODE, weight=0.7), _model(LEGAL, weight=0.5), _model(POETRY, weight=0.8)]},
    "ties_rescale_int8_mask": {"merge_method": "ties", "base_model": BASE,
                               "parameters": {"rescale": True, "int8_mask": True, "normalize": False},
                               "models": [_model(CODE, weight=0.7, density=0.4), _model(LEGAL, weight=0.5,
                                                                                       density=0.6)]},
    "dare_ties_density_1": {"merge_method": "dare_ties", "base_model": BASE,
                            "models": [_model(CODE, weight=0.7, density=1.0), _model(LEGAL, weight=0.5)]},
    "dare_linear_density_1": {"merge_method": "dare_linear", "base_model": BASE,
                              "models": [_model(CODE, weight=0.7), _model(LEGAL, weight=0.5)]},
    "slerp_base_listed_second": {"merge_method": "slerp", "base_model": LEGAL, "parameters": {"t": 0.3},
                                 "models": [_model(CODE), _model(LEGAL)]},
    "slerp_base_plus_one_gradient_and_filter_t": {
        "merge_method": "slerp", "base_model": BASE, "models": [_model(CODE)], "out_dtype": "float16",
        "parameters": {"t": [{"filter": "self_attn", "value": [0.0, 0.5, 1.0]}, {"filter": "mlp", "value": 0.7},
                             {"value": [0.2, 0.8]}]}},
    "breadcrumbs_default_density": {"merge_method": "breadcrumbs", "base_model": BASE,
                                    "models": [_model(CODE, weight=0.7), _model(LEGAL, weight=0.5)]},
    "breadcrumbs_density_0.9_per_model_gamma": {
        "merge_method": "breadcrumbs", "base_model": BASE, "parameters": {"density": 0.9},
        "models": [_model(CODE, weight=0.7, gamma=0.05), _model(LEGAL, weight=0.5)]},
    "breadcrumbs_ties": {"merge_method": "breadcrumbs_ties", "base_model": BASE,
                         "models": [_model(CODE, weight=0.7, density=0.8), _model(LEGAL, weight=0.5, density=0.9)]},
    "model_stock_base_listed": {"merge_method": "model_stock", "base_model": BASE,
                                "models": [_model(BASE), _model(CODE), _model(LEGAL), _model(POETRY)]},
    "model_stock_filter_wise": {"merge_method": "model_stock", "base_model": BASE,
                                "parameters": {"filter_wise": True}, "models": [_model(CODE), _model(LEGAL)]},
    "task_arithmetic_gradient_weight_dtypes": {
        "merge_method": "task_arithmetic", "base_model": BASE, "dtype": "float32", "out_dtype": "bfloat16",
        "tokenizer_source": "base",
        "models": [_model(CODE, weight=[0.2, 1.0]), _model(LEGAL, weight=[{"filter": "embed", "value": 0.1},
                                                                          {"value": 0.6}])]},
}


def _absolute(data: object, root: Path) -> object:
    """The recipe with model ids turned into folders under `root`: mergekit reads local paths as they are."""
    if isinstance(data, dict):
        return {k: (str(root / v) if k in ("model", "base_model") or (k == "tokenizer_source" and "/" in v)
                    else _absolute(v, root)) for k, v in data.items()}
    if isinstance(data, list):
        return [_absolute(v, root) for v in data]
    return data


def _tensors(folder: Path) -> dict[str, torch.Tensor]:
    out = {}
    for path in sorted(folder.glob("*.safetensors")):
        out.update(load_file(path))
    return out


def run_mergekit(data: dict, out: Path) -> dict[str, torch.Tensor]:
    logging.getLogger("mergekit").setLevel(logging.ERROR)
    config = mergekit_config.MergeConfiguration.model_validate(data)
    mergekit_merge.run_merge(config, str(out), options=mergekit_options.MergeOptions(device="cpu", quiet=True,
                                                                                     random_seed=0))
    return _tensors(out)


def run_hubindex(data: dict, out: Path) -> dict[str, torch.Tensor]:
    merge(parse_recipe(data), out, quiet=True)
    return _tensors(out)


def worst_relative_l2(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert set(a) == set(b)
    assert all(a[n].dtype == b[n].dtype and a[n].shape == b[n].shape for n in a)
    return max(float((a[n].double() - b[n].double()).norm() / a[n].double().norm().clamp(min=1e-12)) for n in a)


@pytest.mark.parametrize("case", list(CASES))
def test_same_yaml_same_tensors(case, merge_models, tmp_path):
    data = _absolute(CASES[case], merge_models)
    theirs = run_mergekit(data, tmp_path / "mergekit")
    ours = run_hubindex(data, tmp_path / "hubindex")
    assert worst_relative_l2(theirs, ours) <= TOLERANCE
    base = _tensors(merge_models / BASE)
    assert worst_relative_l2(theirs, {n: t.to(theirs[n].dtype) for n, t in base.items()}) > 1e-3  # it can fail


def test_dare_below_density_1_matches_in_distribution(merge_models, tmp_path):
    """Random drops differ (seeded here, torch's global generator there), so compare what DARE promises: about
    `density` of each task vector survives, and rescale keeps each tensor's L1 norm."""
    density = 0.5
    data = _absolute({"merge_method": "dare_linear", "base_model": BASE,
                      "models": [_model(CODE, weight=1.0, density=density)]}, merge_models)
    base, code = _tensors(merge_models / BASE), _tensors(merge_models / CODE)
    for outcome in (run_mergekit(data, tmp_path / "mergekit"), run_hubindex(data, tmp_path / "hubindex")):
        kept = total = 0
        for name, merged in outcome.items():
            tau, delta = code[name] - base[name], merged - base[name]
            if tau.abs().sum() < 1e-4:
                continue
            kept += int(((delta != 0) & (tau != 0)).sum())
            total += int((tau != 0).sum())
            assert float(delta.abs().sum()) == pytest.approx(float(tau.abs().sum()), rel=1e-4)
        assert abs(kept / total - density) < 0.02, kept / total


def test_recipes_hubindex_writes_run_in_mergekit(merge_models, tmp_path):
    """mergekit_config.yml as hubindex writes it (here a SLERP without base_model, as the zoo builds them, and a
    DARE-TIES with hubindex's seed and compute_dtype keys, which mergekit ignores) loads in mergekit and gives the
    same tensors."""
    recipes = {
        "slerp": {"merge_method": "slerp", "models": [_model(CODE), _model(LEGAL)], "parameters": {"t": 0.4},
                  "seed": 11},
        "dare_ties": {"merge_method": "dare_ties", "base_model": BASE, "seed": 5, "compute_dtype": "float32",
                      "models": [_model(CODE, weight=0.6), _model(LEGAL, weight=0.9)]},
    }
    # The zoo's DARE asks for hubindex's 1/density rescale: mergekit must load it (and ignore the key).
    zoo_dare = {**recipes["dare_ties"], "dare_rescale": "inverse_density", "parameters": {"normalize": True}}
    mergekit_config.MergeConfiguration.model_validate(_absolute(zoo_dare, merge_models))
    for name, recipe in recipes.items():
        ours = run_hubindex(_absolute(recipe, merge_models), tmp_path / name)
        written = yaml.safe_load((tmp_path / name / "mergekit_config.yml").read_text())
        assert written.get("base_model")  # SLERP's implicit base is written out: mergekit requires it
        assert name != "dare_ties" or written["compute_dtype"] == "float32"
        assert load_recipe(tmp_path / name / "mergekit_config.yml").inputs()
        theirs = run_mergekit(written, tmp_path / f"{name}-mergekit")
        assert worst_relative_l2(theirs, ours) <= TOLERANCE
