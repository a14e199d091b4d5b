"""Signature of a PEFT LoRA adapter's effective delta, computed from the adapter file alone.

delta W = B @ A * scale (scale = alpha / r, or alpha / sqrt(r) with rsLoRA; transposed for fan_in_fan_out layers
such as GPT-2's Conv1D). Only the sampled block of delta W (a few whole rows, `fingerprint/sampling.py`) is computed,
as a small matrix product, so no merged model (or full delta matrix) is ever written or held. The sampled targets
are those at the base's sampled depths (depth counts from the layer indices, which an adapter shares with its base).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict

import numpy as np
import torch

from hubindex.checkpoint import ModelFolder
from hubindex.errors import CheckpointError, UnsupportedFormatError
from hubindex.fingerprint.builder import assemble
from hubindex.fingerprint.sampling import sampled_names, tensor_sample
from hubindex.fingerprint.signature import WeightSignature
from hubindex.fingerprint.stats import TensorStats
from hubindex.fingerprint.stream import FileDigest, stream_tensors

_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<part>[AB])(?:\.[^.]+)?\.weight$")


def _pattern_value(patterns: dict, module: str, default: float) -> float:
    for key, value in (patterns or {}).items():
        if module == key or module.endswith("." + key) or re.fullmatch(key, module):
            return float(value)
    return default


def adapter_pairs(folder: ModelFolder) -> dict[str, tuple[str, str]]:
    """Base module name -> (lora_A tensor name, lora_B tensor name)."""
    parts: dict[str, dict[str, str]] = {}
    for name in folder.tensors:
        match = _KEY.match(name)
        if match:
            parts.setdefault(match["module"], {})[match["part"]] = name
    pairs = {}
    for module, found in parts.items():
        if set(found) != {"A", "B"}:
            raise CheckpointError(f"{folder.path}: LoRA module {module} lacks lora_{'B' if 'A' in found else 'A'}")
        pairs[module] = (found["A"], found["B"])
    if not pairs:
        raise CheckpointError(f"{folder.path}: adapter holds no lora_A/lora_B tensors")
    return pairs


def adapter_signature(folder: ModelFolder) -> WeightSignature:
    config = folder.config or {}
    peft_type = str(config.get("peft_type", "LORA")).upper()
    if peft_type != "LORA":
        raise UnsupportedFormatError(f"{folder.path}: PEFT type {peft_type} is not supported (LoRA only)")
    if config.get("use_dora"):
        raise UnsupportedFormatError(f"{folder.path}: DoRA adapters are not supported yet")
    rank_default = int(config.get("r", 8))
    alpha_default = float(config.get("lora_alpha", rank_default))
    fan_in_fan_out = bool(config.get("fan_in_fan_out", False))
    stats: list[TensorStats] = []
    blocks: dict[str, np.ndarray] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    digests: list[FileDigest] = []
    for _ in stream_tensors(folder, digests):
        pass  # hashes the adapter file; its tensors are small and read again by name below
    for module, (a_name, b_name) in sorted(adapter_pairs(folder).items()):
        lora_a, lora_b = folder.read(a_name).double(), folder.read(b_name).double()
        if lora_a.ndim != 2 or lora_b.ndim != 2 or lora_a.shape[0] != lora_b.shape[1]:
            raise CheckpointError(
                f"{folder.path}: {module}: lora_A {tuple(lora_a.shape)} and lora_B {tuple(lora_b.shape)} don't chain"
            )
        if not (torch.isfinite(lora_a).all() and torch.isfinite(lora_b).all()):
            raise CheckpointError(f"{folder.path}: {module}: LoRA weights hold NaN/inf values")
        rank = int(_pattern_value(config.get("rank_pattern"), module, rank_default))
        alpha = _pattern_value(config.get("alpha_pattern"), module, alpha_default)
        scale = alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank
        out_dim, in_dim = lora_b.shape[0], lora_a.shape[1]
        shape = (in_dim, out_dim) if fan_in_fan_out else (out_dim, in_dim)
        name = f"{module}.weight"
        plan = tensor_sample(name, shape)
        first, last = plan.start // shape[1], plan.stop // shape[1]  # a block is whole rows of W
        # fan_in_fan_out: W[p, q] = (B @ A)[q, p], so rows of W are columns of B @ A
        block = ((lora_b @ lora_a[:, first:last]).T if fan_in_fan_out else lora_b[first:last] @ lora_a) * scale
        # ||B A||_F^2 = sum((B^T B) * (A A^T)): the exact delta norm without forming B A.
        frob = float(((lora_b.T @ lora_b) * (lora_a @ lora_a.T)).sum()) * scale * scale
        sampled = block.reshape(-1).numpy()
        centred = sampled - sampled.mean()
        m2 = float(np.mean(centred**2))
        kurt = float(np.mean(centred**4)) / (m2 * m2) if m2 > 0 else 0.0
        numel = shape[0] * shape[1]
        stats.append(TensorStats(name, "F32", list(shape), numel, math.sqrt(max(frob, 0.0)), float(sampled.mean()),
                                 math.sqrt(m2), float(np.abs(sampled).max(initial=0.0)), kurt, 0))
        blocks[name] = plan.pick(sampled).astype(np.float32)
        shapes[name] = shape
    chosen = sampled_names(shapes)
    meta = {"rank": rank_default, "alpha": alpha_default, "targets": sorted(shapes),
            "declared_base": config.get("base_model_name_or_path")}
    return assemble("adapter", shapes, {"F32": 0}, stats, {n: v for n, v in blocks.items() if n in chosen},
                    [asdict(d) for d in digests], content_hash=digests[0].xxh3_128, meta=meta,
                    params=sum(t.numel for t in folder.files[0].tensors.values()))  # the adapter's own size
