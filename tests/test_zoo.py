"""The reference zoo: truth consistent with the files, loadable models, stripping, determinism."""

import json
from collections import Counter

import jsonschema
import pytest
import torch
import yaml
from click.testing import CliRunner
from hubindex.cli.main import cli
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from hubindex.card import read_card
from hubindex.checkpoint import ModelFolder
from hubindex.schemas import schema_for
from hubindex.zoo.spec import plan_zoo
from hubindex.zoo.truth import load_truth


def test_truth_matches_schema_and_has_every_kind(tiny_zoo):
    truth = load_truth(tiny_zoo)
    jsonschema.validate(truth, schema_for("truth"))
    relations = Counter(e["relation"] for e in truth.values())
    assert set(relations) == {"root", "finetune", "adapter", "merge", "copy", "quantized"}
    families = {e["family"] for e in truth.values()}
    assert len(families) >= 2 and len({e["arch"] for e in truth.values()}) >= 2
    for family in families:
        members = {m: e for m, e in truth.items() if e["family"] == family}
        per_domain = Counter(e["domain"] for e in members.values() if e["method"] == "full"
                             and truth[e["parents"][0]]["relation"] == "root")
        assert len(per_domain) >= 6 and min(per_domain.values()) >= 2
        assert any(e["method"] == "lora_merged" for e in members.values())
        grand = [m for m, e in members.items() if e["relation"] == "finetune"
                 and truth[e["parents"][0]]["relation"] == "finetune"]
        assert grand, "no finetune of a finetune"
        merges = [e for e in members.values() if e["relation"] == "merge"]
        assert {e["method"] for e in merges} >= {"task_arithmetic", "ties"}
        assert all(2 <= len(e["parents"]) <= 3 for e in merges)


def test_truth_is_consistent_with_files(tiny_zoo):
    truth = load_truth(tiny_zoo)
    sharded = 0
    for model, entry in truth.items():
        folder = tiny_zoo / model
        assert folder.is_dir(), model
        opened = ModelFolder.open(folder)
        assert opened.kind == ("adapter" if entry["relation"] == "adapter" else "model"), model
        sharded += len(opened.files) > 1
        assert (entry["relation"] == "root") == (not entry["parents"])
        for parent in entry["parents"]:
            assert parent in truth and truth[parent]["family"] == entry["family"]
            assert truth[parent]["created_at"] < entry["created_at"]  # parents are uploaded first
        meta, _ = read_card(folder)
        declared = meta.get("base_model")
        declared = [declared] if isinstance(declared, str) else (declared or [])
        assert declared == entry["parents"], model
        if entry["relation"] == "adapter":
            config = json.loads((folder / "adapter_config.json").read_text())
            assert config["base_model_name_or_path"] == entry["parents"][0]
        if entry["relation"] in ("copy", "quantized"):
            parent_layout = [(n, s) for n, _, s in ModelFolder.open(tiny_zoo / entry["parents"][0]).layout()]
            assert sorted((n, s) for n, _, s in opened.layout()) == sorted(parent_layout)
        if entry["method"] == "bf16":
            assert {t.dtype for t in opened.tensors.values()} == {"BF16"}
    assert sharded >= 4


def test_every_kind_loads_offline_and_generates(tiny_zoo):
    truth = load_truth(tiny_zoo)
    picked = {}
    for model, entry in truth.items():
        picked.setdefault((entry["arch"], entry["method"]), model)
    for (_, method), model in sorted(picked.items()):
        folder = tiny_zoo / model
        if method == "lora":
            base = AutoModelForCausalLM.from_pretrained(tiny_zoo / truth[model]["parents"][0], local_files_only=True)
            net = PeftModel.from_pretrained(base, folder, local_files_only=True)
        else:
            net = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, use_safetensors=True)
        tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        inputs = tok("Q: What is 2 plus 3? A:", return_tensors="pt")
        with torch.no_grad():
            out = net.generate(**inputs, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
        assert out.shape[1] > inputs["input_ids"].shape[1], model
        assert isinstance(tok.decode(out[0]), str)


def test_finetunes_learned_their_domain(tiny_zoo):
    """A domain finetune scores its own domain better than the base does (the zoo is not noise)."""
    from hubindex.corpus import generate

    truth = load_truth(tiny_zoo)
    model = next(m for m, e in truth.items() if e["method"] == "full" and e["domain"] == "code"
                 and truth[e["parents"][0]]["relation"] == "root")
    tok = AutoTokenizer.from_pretrained(tiny_zoo / model)
    text = "\n".join(generate("code", 20, seed=999))
    ids = tok(text, return_tensors="pt")["input_ids"][:, :256]

    def loss(folder):
        net = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
        with torch.no_grad():
            return net(input_ids=ids, labels=ids).loss.item()

    assert loss(tiny_zoo / model) < loss(tiny_zoo / truth[model]["parents"][0]) - 0.05


def test_stripped_zoo_declares_nothing(stripped_zoo):
    truth = load_truth(stripped_zoo)
    assert any(e["parents"] for e in truth.values())
    for model in truth:
        assert model.split("/")[1].startswith("model-")  # no telling names
        folder = stripped_zoo / model
        meta, _body = read_card(folder)
        assert "base_model" not in meta and "base_model_relation" not in meta
        assert set(meta.get("tags", [])) <= {"hubindex"}
        assert not (folder / "mergekit_config.yml").exists()
        for name in ("config.json", "adapter_config.json", "tokenizer_config.json"):
            if (folder / name).exists():
                text = (folder / name).read_text()
                assert all(p.split("/")[1] not in text for p in truth[model]["parents"])
        adapter = folder / "adapter_config.json"
        if adapter.exists():
            assert json.loads(adapter.read_text())["base_model_name_or_path"] is None


def test_two_seeds_give_two_zoos(tiny_zoo, stripped_zoo):
    truth_a, truth_b = load_truth(tiny_zoo), load_truth(stripped_zoo)
    base_a = next(m for m, e in truth_a.items() if e["relation"] == "root" and e["arch"] == "llama")
    base_b = next(m for m, e in truth_b.items() if e["relation"] == "root" and e["arch"] == "llama")
    a, b = ModelFolder.open(tiny_zoo / base_a), ModelFolder.open(stripped_zoo / base_b)
    name = "model.embed_tokens.weight"
    assert a.tensors[name].shape == b.tensors[name].shape
    assert not torch.equal(a.read(name), b.read(name))


def test_plan_is_deterministic_and_seed_dependent():
    first, again, other = plan_zoo(3, "small"), plan_zoo(3, "small"), plan_zoo(4, "small")
    assert [s.digest() for s in first] == [s.digest() for s in again]
    assert [s.digest() for s in first] != [s.digest() for s in other]
    opaque = plan_zoo(3, "small", opaque_names=True)
    # Stripping renames models but trains exactly the same ones.
    assert [(s.method, s.params.get("seed"), s.params.get("steps")) for s in first] == \
           [(s.method, s.params.get("seed"), s.params.get("steps")) for s in opaque]
    assert len({s.family for s in first}) == 3


def test_rebuild_is_a_no_op_and_other_plans_are_refused(tiny_zoo, tmp_path):
    from hubindex.errors import HubindexError
    from hubindex.zoo.build import ZooOptions, build_zoo

    summary = build_zoo(tiny_zoo, ZooOptions(seed=7, size="tiny"))
    assert summary["built_models"] == 0 and summary["models"] == len(load_truth(tiny_zoo))
    with pytest.raises(HubindexError, match="holds another zoo"):
        build_zoo(tiny_zoo, ZooOptions(seed=8, size="tiny"))
    (tmp_path / "stuff.txt").write_text("mine")
    for force in (False, True):  # --force never deletes a folder that is not a zoo
        with pytest.raises(HubindexError, match="not a zoo"):
            build_zoo(tmp_path, ZooOptions(seed=1, size="tiny"), force=force)
    assert (tmp_path / "stuff.txt").read_text() == "mine"


def test_options_compare_as_zoo_json_holds_them_whatever_sequence_the_domains_came_in():
    from hubindex.zoo.build import ZooOptions

    # build_zoo compares a zoo's zoo.json with the options asked for: a tuple must not read as another zoo.
    asked = ZooOptions(seed=9, size="tiny", domains=("code", "weather")).as_dict()
    listed = ZooOptions(seed=9, size="tiny", domains=["code", "weather"]).as_dict()
    assert json.loads(json.dumps(asked)) == asked == listed


def test_zoo_show_json_follows_schema(tiny_zoo):
    result = CliRunner().invoke(cli, ["zoo", "show", str(tiny_zoo), "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    jsonschema.validate(answer, schema_for("zoo_summary"))
    truth = load_truth(tiny_zoo)
    assert answer["models"] == len(truth)
    assert answer["relations"]["merge"] == sum(e["relation"] == "merge" for e in truth.values())

    def count(node):
        return 1 + sum(count(c) for c in node["children"])

    assert sum(count(f["tree"]) for f in answer["families"]) == len(truth)
    text = CliRunner().invoke(cli, ["zoo", "show", str(tiny_zoo)])
    assert text.exit_code == 0 and "family" in text.output


def test_merge_recipe_in_zoo_is_valid_yaml(tiny_zoo):
    truth = load_truth(tiny_zoo)
    model = next(m for m, e in truth.items() if e["method"] == "ties")
    recipe = yaml.safe_load((tiny_zoo / model / "mergekit_config.yml").read_text())
    jsonschema.validate(recipe, schema_for("merge_recipe"))
    assert [m["model"] for m in recipe["models"]] == truth[model]["parents"]
    assert recipe["base_model"] == truth[model]["merge"]["base"]


def test_same_seed_same_weights_whatever_jobs_or_stripping(stripped_zoo, tmp_path):
    """The stripped zoo (built with 2 jobs) and a plain one-job build of the same plan share every weight."""
    from hubindex.zoo.build import ZooOptions, build_zoo
    from tests.helpers import STRIPPED_ZOO

    plain = tmp_path / "plain"
    build_zoo(plain, ZooOptions(size="tiny", **STRIPPED_ZOO), jobs=1)
    stripped_ids, plain_ids = list(load_truth(stripped_zoo)), list(load_truth(plain))
    assert len(stripped_ids) == len(plain_ids) and stripped_ids != plain_ids
    for s_id, p_id in zip(stripped_ids, plain_ids, strict=True):
        s, p = ModelFolder.open(stripped_zoo / s_id), ModelFolder.open(plain / p_id)
        assert s.tensors.keys() == p.tensors.keys()
        assert all(torch.equal(s.read(n), p.read(n)) for n in s.tensors), (s_id, p_id)
