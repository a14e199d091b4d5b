"""Test helpers: small synthetic checkpoints written with hubindex's own writer."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from hubindex.checkpoint import PlannedTensor, ShardedWriter
from hubindex.checkpoint.dtypes import CODES

CONFIG = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 16}

# The second test zoo: another seed, one family, three domains (stripped of metadata in the fixture).
STRIPPED_ZOO = {"seed": 8, "families": 1, "domains": ("sports", "finance", "poetry")}
# A third: all three families (two Llama-like bases of one shape), three domains, stripped: adapters must find
# their base among look-alike roots from the weights and activations alone.
MULTI_FAMILY_ZOO = {"seed": 9, "families": 3, "domains": ("code", "weather", "medical")}

# Python source for a child process: `reset_peak()` sets the kernel's high-water mark (VmHWM) to the current RSS,
# `peak_growth_kib()` returns how far it rose since. ru_maxrss cannot be reset, so import peaks would hide the
# work being measured.
PEAK_RSS_SNIPPET = """
def _status_kib(key):
    return int(next(l for l in open("/proc/self/status") if l.startswith(key)).split()[1])
def reset_peak():
    global _rss_at_reset
    _rss_at_reset = _status_kib("VmRSS:")
    open("/proc/self/clear_refs", "w").write("5")
def peak_growth_kib():
    return _status_kib("VmHWM:") - _rss_at_reset
"""


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
