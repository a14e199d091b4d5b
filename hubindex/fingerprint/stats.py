"""Per-tensor statistics that lineage and bad-input checks use, computed in bounded memory.

L2 norm, mean and the non-finite check cover every element. Higher moments (std, kurtosis: finetuning lowers
kurtosis, continued pretraining raises it, MoTHer's direction signal) use a fixed strided subsample of at most
MOMENT_SAMPLE elements, which estimates them to well under 1 % and keeps the pass close to plain read speed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

CHUNK = 1 << 22  # elements converted to fp32 at a time: 16 MiB
MOMENT_SAMPLE = 1 << 20


@dataclass
class TensorStats:
    name: str
    dtype: str
    shape: list[int]
    numel: int
    l2: float
    mean: float
    std: float
    absmax: float
    kurtosis: float  # non-excess: 3 for a Gaussian
    nonfinite: int

    def as_dict(self) -> dict:
        return asdict(self)


def tensor_stats(name: str, dtype: str, tensor: torch.Tensor) -> TensorStats:
    flat = tensor.reshape(-1)
    numel = flat.numel()
    if numel == 0 or not flat.is_floating_point():
        return TensorStats(name, dtype, list(tensor.shape), numel, 0.0, 0.0, 0.0, 0.0, 0.0, 0)
    total = 0.0
    squares = 0.0
    absmax = 0.0
    for start in range(0, numel, CHUNK):
        chunk = flat[start : start + CHUNK].float()
        total += float(chunk.sum(dtype=torch.float64))
        squares += float(chunk.square().sum(dtype=torch.float64))
        absmax = max(absmax, float(chunk.abs().max()))
    nonfinite = 0
    if not (math.isfinite(total) and math.isfinite(squares) and math.isfinite(absmax)):
        nonfinite = int((~torch.isfinite(flat)).sum())
    step = max(1, numel // MOMENT_SAMPLE)
    sample = flat[::step].double()
    sample = sample[torch.isfinite(sample)]
    centred = sample - sample.mean() if sample.numel() else sample
    m2 = float(centred.square().mean()) if sample.numel() else 0.0
    m4 = float(centred.square().square().mean()) if sample.numel() else 0.0
    kurtosis = m4 / (m2 * m2) if m2 > 0 else 0.0
    l2 = math.sqrt(squares) if math.isfinite(squares) else squares
    return TensorStats(name, dtype, list(tensor.shape), numel, l2, total / numel, math.sqrt(m2), absmax, kurtosis,
                       nonfinite)
