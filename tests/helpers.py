"""Test helpers: small synthetic checkpoints written with hubindex's own writer."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from hubindex.checkpoint import PlannedTensor, ShardedWriter
from hubindex.checkpoint.dtypes import CODES

CONFIG = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 16}


def write_checkpoint(folder: Path, tensors: dict[str, torch.Tensor], config: dict | None = None,
                     max_shard_bytes: int | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    plan = [PlannedTensor(n, CODES[t.dtype], tuple(t.shape)) for n, t in tensors.items()]
    with ShardedWriter(folder, plan, max_shard_bytes) as writer:
        for name, tensor in tensors.items():
            writer.write(name, tensor)
    (folder / "config.json").write_text(json.dumps(config or CONFIG))
    return folder


def random_tensors(seed: int, shapes: dict[str, tuple[int, ...]], scale: float = 1.0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {n: torch.randn(s, generator=g) * scale for n, s in shapes.items()}
