"""Which weight coordinates a signature samples: a few tensors, one contiguous block of whole rows read from each,
windows of 16 values sampled inside it.

Sampling version 2 (`SAMPLING_VERSION`). A crawler pays per HTTP request, so the samples are laid out for range
reads: `sampled_names` picks about 40 tensors of a checkpoint by name (every tensor of four depths per layer stack,
first, 1/3, 2/3 and last, plus the tensors outside the layer stacks), and `tensor_sample` gives each of them one
block of whole rows to read (about BLOCK values, at a row fixed by the tensor's name and shape; a tensor of at most
BLOCK values is read whole): one range request per tensor. Inside the block, about 2 log2(n) windows of WINDOW
values are kept (n: the tensor's size), as version 1 kept them over the whole tensor: the lineage engine's
order-statistics tests (evidence.increment_tail, grid_share) are calibrated on that count per tensor and on windows
spread over many rows, and a tensor read whole keeps exactly version 1's coordinates. Every model with the same
tensor names samples the same coordinates, so sampled values of two models compare directly, and an adapter's
effective delta is sampled at exactly its base's coordinates (its targets at the same depths, since depth is
counted from the layer indices).

Scaling each sampled value by sqrt(numel / samples) makes the L2 distance of two sample vectors an estimate of the L2
distance of the full weights (of the sampled tensors). A CountSketch of the scaled samples gives every layout a
fixed-size vector for FAISS.

Version 1 (before) took the windows at random positions of every tensor: ~2,400 range requests for a 321 MiB
checkpoint. Signatures of different versions are never compared: migration 009 marks version-1 rows stale.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

SAMPLING_VERSION = 2
BLOCK = 65536  # values read per tensor (128 kB of bf16; whole rows): small models (hidden 128, MLP 512) read whole
WINDOW = 16  # consecutive values kept together: within one row, so one quantization scale
MAX_TENSORS = 44  # sampled tensors per checkpoint: one range request each (issue 16: <= 64 requests in all)
DEPTHS = (0.0, 1 / 3, 2 / 3, 1.0)  # where in each layer stack whole layers are sampled
SKETCH_DIM = 1024  # CountSketch size: ~4 % relative error on squared distances, enough to shortlist
# A layer stack and the layer's index: model.layers.3., transformer.h.3., encoder.block.3., bert.encoder.layer.3.
LAYER = re.compile(r"^(?P<stack>(?:.*?\.)?(?:layers|layer|h|blocks|block))\.(?P<index>\d+)\.(?P<rest>.+)$")


def _seed(*parts: object) -> int:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


@dataclass(frozen=True)
class TensorSample:
    """The block [start, stop) of a tensor's flat elements that is read, the sorted flat positions inside it that
    are kept, and the factor that scales them to full-tensor magnitude."""

    start: int
    stop: int
    positions: np.ndarray  # int64, sorted, within [start, stop)
    scale: float

    @property
    def count(self) -> int:
        return len(self.positions)

    def pick(self, block: np.ndarray) -> np.ndarray:
        """The kept values from the block's values (flat, as read from [start, stop))."""
        return block.reshape(-1)[self.positions - self.start]


@lru_cache(maxsize=8192)
def tensor_sample(name: str, shape: tuple[int, ...]) -> TensorSample:
    """Where a tensor is sampled when it is among the sampled tensors (`sampled_names`)."""
    numel = math.prod(shape)
    if numel == 0:
        return TensorSample(0, 0, np.zeros(0, dtype=np.int64), 1.0)
    start, stop = 0, numel
    if numel > BLOCK:  # whole rows, at least one
        row = math.prod(shape[1:]) if len(shape) > 1 else 1
        rows = max(1, BLOCK // row)
        first = int(np.random.default_rng(_seed("block", name, shape)).integers(0, numel // row - rows + 1))
        start, stop = first * row, (first + rows) * row
    first_slot = start // WINDOW
    slots = -(-stop // WINDOW) - first_slot
    wanted = 2 * max(1, math.ceil(math.log2(numel + 1)))  # version 1's count: about log n per tensor
    rng = np.random.default_rng(_seed("sample", name, shape))
    chosen = np.arange(slots) if wanted >= slots else np.sort(rng.choice(slots, size=wanted, replace=False))
    positions = ((first_slot + chosen)[:, None] * WINDOW + np.arange(WINDOW)[None, :]).reshape(-1)
    positions = positions[(positions >= start) & (positions < stop)].astype(np.int64)
    positions.flags.writeable = False  # shared through the cache
    return TensorSample(start, stop, positions, math.sqrt(numel / len(positions)))


def depth_names(names: Iterable[str]) -> list[str]:
    """The tensors of the sampled depths (first, 1/3, 2/3, last layer of each layer stack) and every tensor outside
    the layer stacks: the candidates `sampled_names` chooses from, decided from names alone (a crawler knows which
    shards to read from the shard index's names)."""
    names = list(names)
    stacks: dict[str, int] = {}
    for name in names:
        if match := LAYER.match(name):
            stacks[match["stack"]] = max(stacks.get(match["stack"], 0), int(match["index"]) + 1)
    chosen = {stack: {round(d * (count - 1)) for d in DEPTHS} for stack, count in stacks.items()}
    return [n for n in names if not (m := LAYER.match(n)) or int(m["index"]) in chosen[m["stack"]]]


def sampled_names(shapes: Mapping[str, tuple[int, ...]]) -> frozenset[str]:
    """The tensors a signature samples, from the names (and, only when over MAX_TENSORS, the shapes) of all of a
    checkpoint's floating-point tensors. Depth is counted from the largest layer index of each stack, so an
    adapter targeting every layer samples its targets at its base's depths."""
    names = depth_names(shapes)
    if len(names) > MAX_TENSORS:  # norms and biases go first (adapters never target them), then by a fixed hash
        names = [n for n in names if len(shapes[n]) > 1] or names
    if len(names) > MAX_TENSORS:
        names = sorted(names, key=lambda n: _seed("pick", n))[:MAX_TENSORS]
    return frozenset(names)


def sample_counts(shapes: Mapping[str, tuple[int, ...]]) -> dict[str, int]:
    """Values each tensor contributes to the stored sample vector (0 for tensors that are not sampled)."""
    chosen = sampled_names(shapes)
    return {name: tensor_sample(name, tuple(shape)).count if name in chosen else 0 for name, shape in shapes.items()}


@lru_cache(maxsize=8192)
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
        if not len(values):
            continue
        plan = tensor_sample(name, tuple(shape))
        buckets, signs = _count_sketch(name, tuple(shape), plan.count)
        np.add.at(out, buckets, signs * values.astype(np.float64) * plan.scale)
    return out.astype(np.float32)
