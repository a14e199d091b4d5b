"""Loading inputs and writing trained models as standard Hugging Face folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from hubindex.card import write_card
from hubindex.checkpoint import ModelFolder
from hubindex.checkpoint.dtypes import CONFIG_NAMES
from hubindex.errors import CheckpointError


def load_model(folder: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a full model and its tokenizer in fp32, offline, safetensors only, no remote code."""
    checked = ModelFolder.open(folder)
    if checked.kind != "model":
        raise CheckpointError(f"{folder}: is a PEFT adapter; give the full model it was trained from")
    if not checked.tokenizer_files():
        raise CheckpointError(f"{folder}: no tokenizer files (tokenizer.json) to train with")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True,
                                                     use_safetensors=True, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{folder}: transformers cannot load it ({exc})") from None
    return model, tokenizer


def save_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out: Path, card: dict, body: str,
               max_shard_bytes: int | None = None) -> None:
    """save_pretrained handles tied weights and sharding; we add the tokenizer and a card that declares lineage."""
    kwargs = {"max_shard_size": max_shard_bytes} if max_shard_bytes else {}
    model.save_pretrained(out, **kwargs)
    tokenizer.save_pretrained(out)
    write_card(out, card, body)


def copy_side_files(source: ModelFolder, out: Path) -> None:
    """Config and tokenizer travel with weights written by streaming (merges, conversions)."""
    for name in ("config.json", "generation_config.json"):
        if (source.path / name).is_file():
            shutil.copyfile(source.path / name, out / name)
    for path in source.tokenizer_files():
        shutil.copyfile(path, out / path.name)


def set_config_dtype(folder: Path, code: str) -> None:
    """Record the dtype weights were written in, so loaders pick the right default."""
    path = Path(folder) / "config.json"
    config = json.loads(path.read_text())
    config["dtype"] = CONFIG_NAMES.get(code, config.get("dtype"))
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
