"""Write a checkpoint tensor by tensor from a plan.

The plan (names, dtypes, shapes) fixes every shard's header before any data is computed, so a merge or a dtype
conversion holds one output tensor at a time, whatever the model's size. Output is the standard Hugging Face layout:
`model.safetensors`, or `model-0000i-of-0000n.safetensors` plus `model.safetensors.index.json`.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from hubindex.checkpoint.dtypes import CODES, itemsize
from hubindex.errors import CheckpointError

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"


@dataclass(frozen=True)
class PlannedTensor:
    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * itemsize(self.dtype)


def split_into_shards(plan: list[PlannedTensor], max_shard_bytes: int | None) -> list[list[PlannedTensor]]:
    """Greedy, order-preserving split; a tensor larger than the limit gets a shard of its own."""
    if not max_shard_bytes:
        return [list(plan)]
    shards: list[list[PlannedTensor]] = [[]]
    size = 0
    for tensor in plan:
        if shards[-1] and size + tensor.nbytes > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(tensor)
        size += tensor.nbytes
    return shards


def _header_bytes(shard: list[PlannedTensor], metadata: dict[str, str]) -> bytes:
    header: dict[str, object] = {"__metadata__": metadata}
    offset = 0
    for tensor in shard:
        header[tensor.name] = {"dtype": tensor.dtype, "shape": list(tensor.shape),
                               "data_offsets": [offset, offset + tensor.nbytes]}
        offset += tensor.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # data section starts 8-byte aligned, as safetensors writes it
    return struct.pack("<Q", len(raw)) + raw


class ShardedWriter:
    """Accepts tensors in plan order and streams them to disk. Use as a context manager."""

    def __init__(self, out_dir: Path, plan: list[PlannedTensor], max_shard_bytes: int | None = None,
                 metadata: dict[str, str] | None = None) -> None:
        names = [t.name for t in plan]
        if len(set(names)) != len(names):
            raise CheckpointError("output plan names a tensor twice")
        self.out_dir = Path(out_dir)
        self.shards = split_into_shards(plan, max_shard_bytes)
        self.metadata = {"format": "pt", **(metadata or {})}
        n = len(self.shards)
        self.files = [SINGLE_FILE] if n == 1 else [f"model-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)]
        self._queue = [(i, t) for i, shard in enumerate(self.shards) for t in shard]
        self._pos = 0
        self._handle = None
        self._open_shard = -1

    def __enter__(self) -> ShardedWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if exc_type is None:
            self._finish()

    def write(self, name: str, tensor: torch.Tensor) -> None:
        if self._pos >= len(self._queue):
            raise CheckpointError(f"tensor {name!r} is not in the output plan")
        shard_index, planned = self._queue[self._pos]
        if name != planned.name:
            raise CheckpointError(f"tensor {name!r} written out of order; expected {planned.name!r}")
        if CODES.get(tensor.dtype) != planned.dtype or tuple(tensor.shape) != planned.shape:
            raise CheckpointError(
                f"tensor {name!r} is {CODES.get(tensor.dtype)} {tuple(tensor.shape)}, "
                f"plan says {planned.dtype} {planned.shape}"
            )
        if shard_index != self._open_shard:
            if self._handle is not None:
                self._handle.close()
            self._handle = open(self.out_dir / self.files[shard_index], "wb")  # noqa: SIM115 - closed on switch/exit
            self._handle.write(_header_bytes(self.shards[shard_index], self.metadata))
            self._open_shard = shard_index
        data = tensor.detach().contiguous().cpu()
        if data.numel():
            self._handle.write(memoryview(data.view(torch.uint8).reshape(-1).numpy()))
        self._pos += 1

    def _finish(self) -> None:
        if self._pos != len(self._queue):
            missing = self._queue[self._pos][1].name
            raise CheckpointError(f"checkpoint incomplete: tensor {missing!r} was never written")
        if len(self.files) > 1:
            weight_map = {t.name: self.files[i] for i, shard in enumerate(self.shards) for t in shard}
            total = sum(t.nbytes for shard in self.shards for t in shard)
            index = {"metadata": {"total_size": total}, "weight_map": weight_map}
            (self.out_dir / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n")
