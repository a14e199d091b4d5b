"""Pretrain a tiny base model from a fresh config on the project's generated text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from transformers import AutoModelForCausalLM

from hubindex import corpus
from hubindex.checkpoint.staging import staged_dir
from hubindex.progress import ProgressCallback
from hubindex.train.architectures import build_config, get_size
from hubindex.train.data import pack, weighted_mix
from hubindex.train.loop import LoopResult, Recipe, seed_everything, train
from hubindex.train.outputs import save_model
from hubindex.train.tokenizer import train_tokenizer

PRETRAIN_LR = 3e-3
TOKENS_PER_DOC = 50  # rough, to size the generated corpus to about one pass


@dataclass(frozen=True)
class PretrainResult:
    out: Path
    parameters: int
    loop: LoopResult


def pretrain(arch: str, size: str, out: Path, seed: int, steps: int | None = None,
             max_shard_bytes: int | None = None, overwrite: bool = False, quiet: bool = False,
             mix: dict[str, float] | None = None, tie_embeddings: bool | None = None,
             recipe: Recipe | None = None, progress: ProgressCallback | None = None) -> PretrainResult:
    """`mix`: domain weights of the pretraining text (default: every domain evenly); `tie_embeddings`: override
    the architecture's default (Qwen2-like small models tie them)."""
    spec = get_size(size)
    steps = steps or spec.pretrain_steps
    seed_everything(seed)
    n_docs = max(2000, steps * spec.batch * spec.seq_len // TOKENS_PER_DOC)
    texts = weighted_mix(mix, n_docs, seed) if mix else corpus.pretraining_mix(n_docs, seed)
    tokenizer = train_tokenizer(texts, spec.vocab)
    config = build_config(arch, spec, len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id,
                          tokenizer.pad_token_id)
    if tie_embeddings is not None:
        config.tie_word_embeddings = tie_embeddings
    model = AutoModelForCausalLM.from_config(config)
    blocks = pack(texts, tokenizer, spec.seq_len)
    loop = train(model, blocks, steps, PRETRAIN_LR, spec.batch, seed, f"pretrain {arch}", quiet, recipe,
                 progress)
    n_params = sum(p.numel() for p in model.parameters())
    card = {"library_name": "transformers", "pipeline_tag": "text-generation", "license": "apache-2.0",
            "tags": ["hubindex", arch]}
    body = (f"# {Path(out).name}\n\nA {size} {arch} base model ({n_params:,} parameters) pretrained by hubindex "
            f"for {steps} steps on generated text (seed {seed}). Final loss {loop.final_loss:.3f}.")
    with staged_dir(Path(out), overwrite) as staging:
        save_model(model, tokenizer, staging, card, body, max_shard_bytes)
    return PretrainResult(Path(out), n_params, loop)
