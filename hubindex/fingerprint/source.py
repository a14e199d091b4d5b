"""Where a signature's sampled blocks come from: a tensor source is every tensor's header entry plus a way to read
byte ranges of them. A local checkpoint reads them with pread (`LocalSource`); a hub repo with HTTP range requests
(`hubindex.hub.partial.RemoteSource`). `fingerprint.builder.sampled_signature` builds the same
signature from either.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from hubindex.checkpoint import ModelFolder
from hubindex.checkpoint.dtypes import itemsize, torch_dtype
from hubindex.checkpoint.safetensors_file import TensorInfo
from hubindex.fingerprint.sampling import tensor_sample


class TensorSource(Protocol):
    label: str
    tensors: dict[str, TensorInfo]  # every tensor of the checkpoint (name, dtype, shape, byte offsets)

    def blocks(self, tensors: list[TensorInfo]) -> dict[str, np.ndarray]:
        """Each tensor's sampled block (`tensor_sample`) as fp32 values."""
        ...


def block_range(info: TensorInfo) -> tuple[int, int]:
    """Absolute byte range [start, end) of a tensor's sampled block."""
    plan, size = tensor_sample(info.name, info.shape), itemsize(info.dtype)
    return info.start + plan.start * size, info.start + plan.stop * size


def decode(raw: bytes | bytearray | memoryview, dtype: str) -> np.ndarray:
    """Stored little-endian values of a safetensors dtype as a new fp32 array."""
    if not len(raw):
        return np.zeros(0, dtype=np.float32)
    values = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(torch_dtype(dtype))
    return values.float().numpy()


class LocalSource:
    """A local checkpoint folder's sampled blocks, one pread per tensor."""

    def __init__(self, folder: ModelFolder) -> None:
        self.label, self.tensors = str(folder.path), dict(folder.tensors)
        self._files = {name: file for file in folder.files for name in file.tensors}

    def blocks(self, tensors: list[TensorInfo]) -> dict[str, np.ndarray]:
        out = {}
        for info in tensors:
            start, end = block_range(info)
            buffer = bytearray(end - start)
            self._files[info.name].read_into(info, memoryview(buffer), start - info.start)
            out[info.name] = decode(buffer, info.dtype)
        return out
