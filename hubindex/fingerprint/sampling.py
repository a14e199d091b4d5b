"""Which weight coordinates a signature samples, fixed per tensor (name, shape).

Every model with the same tensor gets the same coordinates, so sampled values of two models compare directly, and an
adapter's effective delta can be sampled at exactly the base tensor's coordinates. Coordinates come in contiguous
windows so a crawler can fetch them with few HTTP range reads. A tensor with n elements gets about 2*log2(n)
windows: big tensors are sampled sparsely, small ones (norms) almost fully, and a 7B model keeps ~200k samples.

Scaling each sampled value by sqrt(numel / samples) makes the L2 distance of two sample vectors an estimate of the L2
distance of the full weights. A CountSketch of the scaled samples gives every layout a fixed-size vector for FAISS.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

WINDOW = 16  # elements per window: 32 bytes of bf16, one cheap range
SKETCH_DIM = 1024  # CountSketch size: ~4 % relative error on squared distances, enough to shortlist


def _seed(*parts: object) -> int:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


@dataclass(frozen=True)
class TensorSample:
    """Flat positions sampled from one tensor and the factor that scales them to full-tensor magnitude."""

    positions: np.ndarray  # int64, sorted
    scale: float

    @property
    def count(self) -> int:
        return len(self.positions)

    def windows(self) -> list[tuple[int, int]]:
        """Contiguous [start, end) element ranges covering the positions, for range reads."""
        if not self.count:
            return []
        breaks = np.flatnonzero(np.diff(self.positions) != 1) + 1
        starts = np.concatenate([[0], breaks])
        ends = np.concatenate([breaks, [self.count]])
        return [(int(self.positions[s]), int(self.positions[e - 1]) + 1) for s, e in zip(starts, ends, strict=True)]


@lru_cache(maxsize=4096)
def tensor_sample(name: str, shape: tuple[int, ...]) -> TensorSample:
    numel = math.prod(shape)
    if numel == 0:
        return TensorSample(np.zeros(0, dtype=np.int64), 1.0)
    slots = math.ceil(numel / WINDOW)
    wanted = 2 * max(1, math.ceil(math.log2(numel + 1)))
    rng = np.random.default_rng(_seed("sample", name, shape))
    chosen = np.arange(slots) if wanted >= slots else np.sort(rng.choice(slots, size=wanted, replace=False))
    positions = (chosen[:, None] * WINDOW + np.arange(WINDOW)[None, :]).reshape(-1)
    positions = positions[positions < numel].astype(np.int64)
    return TensorSample(positions, math.sqrt(numel / len(positions)))


@lru_cache(maxsize=4096)
def _count_sketch(name: str, shape: tuple[int, ...], count: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(_seed("sketch", name, shape))
    buckets = rng.integers(0, SKETCH_DIM, size=count)
    signs = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=count)
    return buckets, signs


def project(segments: dict[str, tuple[tuple[int, ...], np.ndarray]]) -> np.ndarray:
    """CountSketch of scaled samples: {tensor name: (shape, raw sampled values)} -> SKETCH_DIM floats.

    Inner products and L2 distances are preserved in expectation, so FAISS L2 on sketches shortlists neighbours
    whose exact sampled distance is then computed.
    """
    out = np.zeros(SKETCH_DIM, dtype=np.float64)
    for name, (shape, values) in segments.items():
        plan = tensor_sample(name, tuple(shape))
        buckets, signs = _count_sketch(name, tuple(shape), plan.count)
        np.add.at(out, buckets, signs * values.astype(np.float64) * plan.scale)
    return out.astype(np.float32)
