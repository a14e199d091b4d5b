"""Finetune a model: full, LoRA (saved as a PEFT adapter folder), or LoRA merged back into full weights."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from hubindex.card import lineage_meta, write_card
from hubindex.checkpoint.folder import ADAPTER_CONFIG
from hubindex.checkpoint.staging import staged_dir
from hubindex.errors import TrainingError
from hubindex.progress import ProgressCallback
from hubindex.train.architectures import LORA_TARGETS
from hubindex.train.data import pack
from hubindex.train.loop import LoopResult, Recipe, seed_everything, train
from hubindex.train.outputs import load_model, save_model


@dataclass(frozen=True)
class FinetuneResult:
    out: Path
    kind: str  # full | lora | lora_merged
    trainable_parameters: int
    loop: LoopResult


def finetune(base: Path, out: Path, texts: list[str], seed: int, steps: int, lr: float, base_id: str,
             lora_rank: int | None = None, merge_lora: bool = False, domain: str | None = None,
             seq_len: int = 128, batch: int = 16, max_shard_bytes: int | None = None, overwrite: bool = False,
             quiet: bool = False, recipe: Recipe | None = None, lora_targets: list[str] | None = None,
             added_tokens: list[str] | None = None, pad_vocab_to: int | None = None,
             save_dtype: str | None = None, progress: ProgressCallback | None = None) -> FinetuneResult:
    """`added_tokens`: special tokens added to the tokenizer (the embeddings are resized, optionally padded to a
    multiple of `pad_vocab_to`, and each text is wrapped in them so their rows train); `save_dtype`: e.g.
    "bfloat16" to save the trained weights in that dtype, as many hub uploads are."""
    if merge_lora and not lora_rank:
        raise TrainingError("--merge-lora needs --lora-rank")
    if steps < 1 or lr <= 0:
        raise TrainingError("steps must be >= 1 and lr > 0")
    seed_everything(seed)
    model, tokenizer = load_model(Path(base))
    if added_tokens:
        texts = _extend_vocabulary(model, tokenizer, texts, added_tokens, pad_vocab_to)
    max_positions = getattr(model.config, "max_position_embeddings", None) or model.config.n_positions
    blocks = pack(texts, tokenizer, min(seq_len, max_positions))
    kind = "full"
    if lora_rank:
        kind = "lora_merged" if merge_lora else "lora"
        targets = lora_targets or LORA_TARGETS.get(model.config.model_type)
        lora = LoraConfig(r=lora_rank, lora_alpha=2 * lora_rank, lora_dropout=0.0, target_modules=targets,
                          fan_in_fan_out=model.config.model_type == "gpt2", task_type="CAUSAL_LM")
        model = get_peft_model(model, lora)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    loop = train(model, blocks, steps, lr, batch, seed, f"finetune ({kind})", quiet, recipe, progress)
    relation = "adapter" if kind == "lora" else "finetune"
    card = {"library_name": "peft" if kind == "lora" else "transformers", "pipeline_tag": "text-generation",
            "license": "apache-2.0", **lineage_meta([base_id], relation),
            "tags": ["hubindex", *(["lora"] if lora_rank else []), *([domain] if domain else [])]}
    what = {"full": "Full finetune", "lora": "LoRA adapter", "lora_merged": "LoRA finetune merged into"}[kind]
    body = (f"# {Path(out).name}\n\n{what} of `{base_id}` trained by hubindex for {steps} steps at lr {lr:g} "
            f"(seed {seed}){f' on the {domain} domain' if domain else ''}. Final loss {loop.final_loss:.3f}.")
    with staged_dir(Path(out), overwrite) as staging:
        if kind == "lora":
            model.save_pretrained(staging)
            _set_adapter_base(staging, base_id)
            tokenizer.save_pretrained(staging)
            write_card(staging, card, body)
        else:
            if kind == "lora_merged":
                model = model.merge_and_unload()
            if save_dtype:
                model = model.to(getattr(torch, save_dtype))
            save_model(model, tokenizer, staging, card, body, max_shard_bytes)
    return FinetuneResult(Path(out), kind, trainable, loop)


def _set_adapter_base(folder: Path, base_id: str) -> None:
    """PEFT records the local path it loaded; a hub adapter names its base by id."""
    path = folder / ADAPTER_CONFIG
    config = json.loads(path.read_text())
    config["base_model_name_or_path"] = base_id
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _extend_vocabulary(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: list[str],
                       tokens: list[str], pad_to: int | None) -> list[str]:
    """Add chat tokens the way hub finetunes do: resize_token_embeddings (tied heads follow) and train on texts
    that use them."""
    tokenizer.add_special_tokens({"additional_special_tokens": list(tokens)})
    model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=pad_to)
    opening, closing = tokens[0], tokens[-1]
    return [f"{opening}{text}{closing}" for text in texts]
