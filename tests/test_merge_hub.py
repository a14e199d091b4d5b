"""`hubindex train merge --config` with hub ids, against the test hub server: every gate runs on configs,
safetensors headers and tokenizer files before any weight is downloaded; a passing recipe downloads and merges."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner
from hubindex.cli.main import cli
from safetensors.torch import load_file

from hubindex.card import read_card, write_card
from tests.helpers import write_checkpoint
from tests.hub_server import HubServer

BASE, CODE, LEGAL = "hubindex-labs/lm-base", "acme/lm-code", "bluefin/lm-legal"
MB = 1 << 20


@pytest.fixture()
def hub_root(merge_models, tmp_path):
    """The merge models plus repos that each fail one gate (copies with one thing changed)."""
    root = tmp_path / "hub"
    shutil.copytree(merge_models, root)

    def variant(name: str, source: str = CODE) -> Path:
        shutil.copytree(root / source, root / name)
        return root / name

    config = json.loads((root / CODE / "config.json").read_text())
    (variant("bad/vocab") / "config.json").write_text(json.dumps({**config, "vocab_size": 999}))
    (variant("bad/arch") / "config.json").write_text(json.dumps({**config, "model_type": "qwen2"}))
    tokenizer = json.loads((root / CODE / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    a, b = sorted(vocab)[10:12]
    vocab[a], vocab[b] = vocab[b], vocab[a]
    (variant("bad/tokenizer") / "tokenizer.json").write_text(json.dumps(tokenizer))
    shapes = variant("bad/shapes")
    for path in shapes.glob("*.safetensors"):
        path.unlink()
    write_checkpoint(shapes, {"model.embed_tokens.weight": torch.zeros(4096, 16)}, config)
    other_root = variant("other/lm-root", BASE)  # a look-alike base, and a finetune that declares it
    meta, body = read_card(other_root)
    write_card(other_root, {k: v for k, v in meta.items() if k != "base_model"}, body)
    foreign = variant("other/lm-ft")
    meta, body = read_card(foreign)
    write_card(foreign, {**meta, "base_model": "other/lm-root"}, body)
    return root


def recipe(tmp_path: Path, *models: str, method: str = "ties") -> Path:
    path = tmp_path / f"{method}-{len(list(tmp_path.glob('*.yml')))}.yml"
    path.write_text(yaml.safe_dump({"merge_method": method, "base_model": BASE, "parameters": {"density": 0.5},
                                    "models": [{"model": m, "parameters": {"weight": 0.5}} for m in models]}))
    return path


def merge_cli(hub: HubServer, tmp_path: Path, config: Path, out: str):
    return CliRunner().invoke(cli, ["train", "merge", "--config", str(config), "--out", str(tmp_path / out),
                                    "--cache-dir", str(tmp_path / "cache")],
                              env={"HF_HUB_OFFLINE": None, "HF_ENDPOINT": hub.endpoint})


def weight_bytes(hub: HubServer) -> dict[str, int]:
    return {p: n for p, n in hub.traffic.body_bytes.items() if p.endswith(".safetensors")}


@pytest.mark.parametrize(("bad", "message"), [
    ("bad/vocab", "vocab_size 999"),
    ("bad/arch", "architecture 'qwen2'"),
    ("bad/shapes", "tensor names differ"),
    ("bad/tokenizer", "tokenizer vocabulary differs"),
    ("other/lm-ft", "does not lead to the recipe's base_model"),
])
def test_a_failing_gate_stops_before_any_weight_download(hub_root, tmp_path, bad, message):
    with HubServer(hub_root) as hub:
        result = merge_cli(hub, tmp_path, recipe(tmp_path, LEGAL, bad), "out")
    assert result.exit_code == 2, result.output
    assert message in result.output and "before downloading weights" in result.output
    printed = {m: int(n.replace(",", "")) for m, n in re.findall(r"([\w-]+/[\w-]+) ([\d,]+) bytes", result.output)}
    assert set(printed) >= {LEGAL, bad} and all(0 < n < MB for n in printed.values())
    # What the server sent matches what was printed, and no weights were downloaded: only safetensors headers.
    for model, n in printed.items():
        assert hub.traffic.bytes_for(f"/{model}/resolve/") == n
    for path, sent in weight_bytes(hub).items():
        file = hub_root / path.split("/resolve/")[0].lstrip("/") / Path(path).name
        assert sent < file.stat().st_size / 2, path
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_hub_ids_merge_like_local_folders(hub_root, tmp_path):
    config = recipe(tmp_path, CODE, LEGAL)
    with HubServer(hub_root) as hub:
        result = merge_cli(hub, tmp_path, config, "from-hub")
    assert result.exit_code == 0, result.output
    assert "checked 3 hub models before downloading weights" in result.output
    local = yaml.safe_load(config.read_text())
    local["base_model"] = str(hub_root / BASE)
    for m in local["models"]:
        m["model"] = str(hub_root / m["model"])
    (tmp_path / "local.yml").write_text(yaml.safe_dump(local))
    assert CliRunner().invoke(cli, ["train", "merge", "--config", str(tmp_path / "local.yml"), "--out",
                                    str(tmp_path / "from-disk")]).exit_code == 0
    a, b = (load_file(tmp_path / d / "model.safetensors") for d in ("from-hub", "from-disk"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert read_card(tmp_path / "from-hub")[0]["base_model"] == [CODE, LEGAL]
