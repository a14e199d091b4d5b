"""Tiny model configurations per architecture and size.

Sizes are chosen so a whole reference zoo trains on 2 CPU cores: `tiny` for tests, `small` for the demo (minutes),
`medium` for evaluations that want more capacity.
"""

from __future__ import annotations

from dataclasses import dataclass

from transformers import GPT2Config, LlamaConfig, PretrainedConfig, Qwen2Config

from hubindex.errors import TrainingError


@dataclass(frozen=True)
class Size:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    seq_len: int
    batch: int
    pretrain_steps: int
    finetune_steps: tuple[int, int]  # range the zoo draws step counts from
    shard_bytes: int  # the zoo writes some checkpoints sharded at this size (about three shards)


SIZES: dict[str, Size] = {
    "tiny": Size(hidden=32, layers=2, heads=4, kv_heads=2, intermediate=64, vocab=384, seq_len=64, batch=16,
                 pretrain_steps=250, finetune_steps=(30, 50), shard_bytes=80_000),
    "small": Size(hidden=64, layers=3, heads=4, kv_heads=2, intermediate=160, vocab=768, seq_len=96, batch=16,
                  pretrain_steps=400, finetune_steps=(50, 90), shard_bytes=400_000),
    "medium": Size(hidden=128, layers=4, heads=8, kv_heads=4, intermediate=320, vocab=1536, seq_len=128, batch=16,
                   pretrain_steps=900, finetune_steps=(100, 180), shard_bytes=2_000_000),
}
ARCHITECTURES = ("llama", "gpt2", "qwen2")
# LoRA targets per architecture: attention and MLP projections, the common choice on the Hub.
LORA_TARGETS = {
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "gpt2": ["c_attn", "c_proj", "c_fc"],
}


def get_size(name: str) -> Size:
    try:
        return SIZES[name]
    except KeyError:
        raise TrainingError(f"unknown size {name!r}; choose one of {', '.join(SIZES)}") from None


def build_config(arch: str, size: Size, vocab_size: int, bos: int, eos: int, pad: int) -> PretrainedConfig:
    """A fresh config; dropout is off so tiny models fit quickly and runs are reproducible."""
    if arch in ("llama", "qwen2"):
        cls = LlamaConfig if arch == "llama" else Qwen2Config
        return cls(vocab_size=vocab_size, hidden_size=size.hidden, intermediate_size=size.intermediate,
                   num_hidden_layers=size.layers, num_attention_heads=size.heads,
                   num_key_value_heads=size.kv_heads, max_position_embeddings=size.seq_len * 4,
                   tie_word_embeddings=False, bos_token_id=bos, eos_token_id=eos, pad_token_id=pad)
    if arch == "gpt2":
        return GPT2Config(vocab_size=vocab_size, n_embd=size.hidden, n_layer=size.layers, n_head=size.heads,
                          n_inner=size.intermediate, n_positions=size.seq_len * 4, resid_pdrop=0.0,
                          embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=bos, eos_token_id=eos, pad_token_id=pad)
    raise TrainingError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
