"""`hubindex train` through the CLI: determinism, JSONL data, LoRA folders, merges, and clear errors."""

import json

import jsonschema
import pytest
import torch
import yaml
from click.testing import CliRunner
from hubindex.cli.main import cli
from safetensors.torch import load_file

from hubindex.card import read_card
from hubindex.checkpoint import ModelFolder
from hubindex.schemas import schema_for
from hubindex.zoo.truth import load_truth
from tests.test_cli_json import progress_lines


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def ok(*args):
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result


def test_pretrain_is_deterministic_for_a_seed(tmp_path):
    results = {name: ok("train", "pretrain", "--arch", "gpt2", "--size", "tiny", "--steps", "6", "--seed", seed,
                        "--out", tmp_path / "org" / name, *(["--json"] if name == "a" else []))
               for name, seed in (("a", 5), ("b", 5), ("c", 6))}
    answer = json.loads(results["a"].stdout)
    jsonschema.validate(answer, schema_for("trained_model"))
    assert answer["kind"] == "pretrain" and answer["steps"] == 6 and answer["parameters"] > 0
    # Not a terminal: the loop's progress callback becomes plain lines on stderr, the last one the whole run.
    assert progress_lines(results["b"].stderr, "pretrain gpt2")[-1] == (6, 6)
    assert results["a"].stderr == ""  # --json: nothing else on either stream
    a, b, c = (load_file(tmp_path / "org" / n / "model.safetensors") for n in "abc")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


@pytest.fixture()
def base(tiny_zoo):
    truth = load_truth(tiny_zoo)
    return tiny_zoo / next(m for m, e in truth.items() if e["relation"] == "root" and e["arch"] == "llama")


def test_finetune_from_jsonl_declares_its_base(base, tmp_path):
    data = tmp_path / "data.jsonl"
    rows = [{"prompt": f"Translate {i} to words.", "completion": f"number {i}"} for i in range(200)]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "me" / "ft"
    ok("train", "finetune", "--base", base, "--data", data, "--out", out, "--steps", 5)
    meta, _ = read_card(out)
    assert meta["base_model"] == "/".join(base.parts[-2:]) and meta["base_model_relation"] == "finetune"
    before, after = ModelFolder.open(base), ModelFolder.open(out)
    changed = [n for n in before.tensors if not torch.equal(before.read(n), after.read(n))]
    assert len(changed) > len(before.tensors) // 2  # a full finetune moves (almost) every tensor


def test_lora_adapter_and_merged_lora(base, tmp_path):
    ok("train", "finetune", "--base", base, "--domain", "poetry", "--docs", 200, "--out", tmp_path / "o/lora",
       "--lora-rank", 4, "--steps", 5, "--base-id", "someone/base")
    adapter = ModelFolder.open(tmp_path / "o/lora")
    assert adapter.kind == "adapter"
    assert any(n.endswith("lora_A.weight") for n in adapter.tensors)
    config = json.loads((tmp_path / "o/lora/adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "someone/base" and config["r"] == 4
    merged_lora = ok("train", "finetune", "--base", base, "--domain", "poetry", "--docs", 200, "--out",
                     tmp_path / "o/merged", "--lora-rank", 4, "--merge-lora", "--steps", 5, "--json")
    answer = json.loads(merged_lora.stdout)
    jsonschema.validate(answer, schema_for("trained_model"))
    assert answer["kind"] == "lora_merged" and answer["out"] == str(tmp_path / "o/merged")
    merged, original = ModelFolder.open(tmp_path / "o/merged"), ModelFolder.open(base)
    assert merged.kind == "model" and set(merged.tensors) == set(original.tensors)
    name = next(n for n in original.tensors if n.endswith("q_proj.weight"))
    delta = merged.read(name) - original.read(name)
    rank = torch.linalg.matrix_rank(delta, atol=1e-6).item()
    assert 1 <= rank <= 4  # a merged LoRA leaves a low-rank delta


def test_cli_merge_with_flags(tiny_zoo, tmp_path):
    truth = load_truth(tiny_zoo)
    fam = [m for m, e in truth.items() if e["family"] == "lm" and e["method"] == "full"][:2]
    root = next(m for m, e in truth.items() if e["family"] == "lm" and e["relation"] == "root")
    out = tmp_path / "me" / "merged"
    ok("train", "merge", "--method", "ties", "--base", tiny_zoo / root, "--models",
       f"{tiny_zoo / fam[0]},{tiny_zoo / fam[1]}", "--weights", "0.6,0.4", "--density", "0.5", "--out", out)
    recipe = yaml.safe_load((out / "mergekit_config.yml").read_text())
    assert recipe["base_model"] == root and [m["model"] for m in recipe["models"]] == fam
    assert [m["parameters"]["weight"] for m in recipe["models"]] == [0.6, 0.4]
    # The recipe file drives the same merge through --config with a hub root.
    again = ok("train", "merge", "--config", out / "mergekit_config.yml", "--hub-root", tiny_zoo, "--out",
               tmp_path / "m2", "--json")
    answer = json.loads(again.stdout)
    jsonschema.validate(answer, schema_for("merged_model"))
    assert answer["method"] == "ties" and answer["inputs"] == [*fam, root] and answer["tensors"] > 0
    a, b = ModelFolder.open(out), ModelFolder.open(tmp_path / "m2")
    assert all(torch.equal(a.read(n), b.read(n)) for n in a.tensors)


def test_bad_inputs_give_one_clear_line(base, tmp_path):
    bin_only = tmp_path / "org" / "pickled"
    bin_only.mkdir(parents=True)
    (bin_only / "config.json").write_text("{}")
    (bin_only / "pytorch_model.bin").write_bytes(b"\x80\x04junk")
    no_config = tmp_path / "org" / "noconfig"
    no_config.mkdir()
    (no_config / "model.safetensors").write_bytes(b"")
    bad_jsonl = tmp_path / "bad.jsonl"
    bad_jsonl.write_text('{"text": "fine"}\n{"nope": 1}\n')
    cases = [
        (["train", "finetune", "--base", bin_only, "--domain", "code", "--out", tmp_path / "x"], "never unpickles"),
        (["train", "finetune", "--base", no_config, "--domain", "code", "--out", tmp_path / "x"],
         "missing config.json"),
        (["train", "finetune", "--base", base, "--data", bad_jsonl, "--out", tmp_path / "x"], "bad.jsonl:2"),
        (["train", "finetune", "--base", base, "--domain", "astrology", "--out", tmp_path / "x"], "astrology"),
        (["train", "merge", "--method", "ties", "--base", base, "--models", bin_only, "--out", tmp_path / "x"],
         "never unpickles"),
        (["train", "merge", "--method", "linear", "--models", f"{base},{base}", "--weights", "1", "--out",
          tmp_path / "x"], "--weights has 1 values for 2 models"),
        (["train", "pretrain", "--out", base], "already exists"),
    ]
    for args, message in cases:
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (message, result.output)
        assert "Traceback" not in result.output
    assert not (tmp_path / "x").exists()
