"""Per-tensor statistics that lineage and bad-input checks use, computed in bounded memory at memory speed.

L2 norm, absmax and the non-finite check cover every element: absmax and NaN/inf come from one min/max pass over
the stored dtype (NaN propagates through it, an infinity is its own extreme); the L2 norm from chunks converted
into one reused fp32 buffer (cache-sized, no fresh allocations). Mean, std and kurtosis (MoTHer's direction
signal) use a fixed strided subsample of at most MOMENT_SAMPLE elements: kurtosis to about 1 %.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import torch

CHUNK = 1 << 20  # elements per fp32 conversion: 4 MiB, stays in cache while it is reduced
MOMENT_SAMPLE = 1 << 16
_scratch = threading.local()


def _buffer() -> torch.Tensor:
    if getattr(_scratch, "buffer", None) is None:
        _scratch.buffer = torch.empty(CHUNK, dtype=torch.float32)
    return _scratch.buffer


@dataclass
class TensorStats:
    name: str
    dtype: str
    shape: list[int]
    numel: int
    l2: float | None  # None: a tensor known from its header only (a partial read that did not sample it)
    mean: float | None
    std: float | None
    absmax: float | None
    kurtosis: float | None  # non-excess: 3 for a Gaussian
    nonfinite: int


@dataclass(frozen=True)
class PieceStats:
    """Full-pass reductions of one piece of a tensor, combined by `tensor_stats`."""

    low: float
    high: float
    squares: float


def piece_stats(values: torch.Tensor) -> PieceStats:
    """min, max and sum of squares of a piece, reduced while it is in cache. NaN propagates through min/max."""
    flat = values.reshape(-1)
    low, high = torch.aminmax(flat)
    squares = 0.0
    scratch = _buffer()
    for start in range(0, flat.numel(), CHUNK):
        part = flat[start : start + CHUNK]
        chunk = scratch[: part.numel()]
        chunk.copy_(part)
        squares += float(torch.dot(chunk, chunk))
    return PieceStats(float(low), float(high), squares)


def tensor_stats(name: str, dtype: str, tensor: torch.Tensor, pieces: list[PieceStats] | None = None) -> TensorStats:
    """Statistics of a whole tensor; `pieces` are its full-pass reductions when the reader already made them."""
    flat = tensor.reshape(-1)
    numel = flat.numel()
    if numel == 0 or not flat.is_floating_point():
        return TensorStats(name, dtype, list(tensor.shape), numel, 0.0, 0.0, 0.0, 0.0, 0.0, 0)
    if pieces is None:
        pieces = [piece_stats(flat)]
    absmax = max(max(abs(p.low), abs(p.high)) for p in pieces)
    if not math.isfinite(absmax):
        nonfinite = int((~torch.isfinite(flat)).sum())
        return TensorStats(name, dtype, list(tensor.shape), numel, math.nan, math.nan, math.nan, absmax, math.nan,
                           nonfinite)
    squares = sum(p.squares for p in pieces)
    step = max(1, numel // MOMENT_SAMPLE)
    sample = flat[::step].double()
    mean = float(sample.mean())
    squared = (sample - mean).square()
    m2 = float(squared.mean())
    kurtosis = float(squared.square().mean()) / (m2 * m2) if m2 > 0 else 0.0
    return TensorStats(name, dtype, list(tensor.shape), numel, math.sqrt(squares), mean, math.sqrt(m2), absmax,
                       kurtosis, 0)
