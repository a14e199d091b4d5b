"""A safetensors file read by header and byte range.

The `safetensors` library mmaps whole files, which makes every weight it touches count towards resident memory and
trusts offsets only as far as its own checks go. hubindex reads the 8-byte length, validates the JSON header against
the file size (no gaps, no overlaps, sizes that match shapes), then reads one tensor at a time with `os.pread`. The
same header parser serves byte ranges fetched over HTTP.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from hubindex.checkpoint.dtypes import TORCH_DTYPES, itemsize, torch_dtype
from hubindex.errors import CheckpointError

MAX_HEADER_BYTES = 100_000_000  # the limit safetensors itself enforces


@dataclass(frozen=True)
class TensorInfo:
    """One tensor's entry in a header; `start`/`end` are absolute byte offsets in the file."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def parse_header(
    prefix: bytes, file_size: int | None, source: str
) -> tuple[int, dict[str, str], dict[str, TensorInfo]]:
    """Parse and validate a header from the first bytes of a file.

    Returns (data start offset, metadata, tensors). `prefix` must hold at least the 8-byte length and the header.
    `file_size`, when known, is checked against the last tensor's end.
    """
    if len(prefix) < 8:
        raise CheckpointError(f"{source}: truncated safetensors file ({len(prefix)} bytes, no header length)")
    (header_len,) = struct.unpack("<Q", prefix[:8])
    if header_len > MAX_HEADER_BYTES:
        raise CheckpointError(f"{source}: header length {header_len} exceeds {MAX_HEADER_BYTES} bytes")
    if len(prefix) < 8 + header_len:
        raise CheckpointError(f"{source}: truncated safetensors header ({len(prefix) - 8} of {header_len} bytes)")
    try:
        header = json.loads(prefix[8 : 8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{source}: header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{source}: header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(f"{source}: __metadata__ must map strings to strings")
    data_start = 8 + header_len
    tensors: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        tensors[name] = _tensor_info(name, entry, data_start, source)
    _check_layout(tensors, data_start, file_size, source)
    return data_start, metadata, tensors


def _tensor_info(name: str, entry: object, data_start: int, source: str) -> TensorInfo:
    if not isinstance(entry, dict):
        raise CheckpointError(f"{source}: tensor {name!r} entry is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in TORCH_DTYPES:
        raise CheckpointError(f"{source}: tensor {name!r} has unknown dtype {dtype!r}")
    valid_shape = isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)
    if not valid_shape:
        raise CheckpointError(f"{source}: tensor {name!r} has invalid shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
        raise CheckpointError(f"{source}: tensor {name!r} has invalid data_offsets {offsets!r}")
    begin, end = offsets
    expected = math.prod(shape) * itemsize(dtype)
    if begin < 0 or end - begin != expected:
        raise CheckpointError(
            f"{source}: tensor {name!r} offsets {offsets} hold {end - begin} bytes, "
            f"but dtype {dtype} and shape {shape} need {expected}"
        )
    return TensorInfo(name, dtype, tuple(shape), data_start + begin, data_start + end)


def _check_layout(tensors: dict[str, TensorInfo], data_start: int, file_size: int | None, source: str) -> None:
    cursor = data_start
    for info in sorted(tensors.values(), key=lambda t: (t.start, t.end)):
        if info.start != cursor:
            kind = "overlaps the previous tensor" if info.start < cursor else "leaves a gap before it"
            raise CheckpointError(f"{source}: tensor {info.name!r} {kind} (offset {info.start}, expected {cursor})")
        cursor = info.end
    if file_size is not None and cursor != file_size:
        what = "truncated" if cursor > file_size else "has trailing bytes"
        raise CheckpointError(f"{source}: file {what}: tensors end at byte {cursor}, file has {file_size}")


class SafetensorsFile:
    """A local safetensors file: validated header, tensors read one at a time."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            size = self.path.stat().st_size
            with open(self.path, "rb") as handle:
                head = handle.read(8)
                header_len = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
                rest = handle.read(min(header_len, MAX_HEADER_BYTES + 1))
        except OSError as exc:
            raise CheckpointError(f"{self.path}: cannot read ({exc.strerror})") from None
        self.data_start, self.metadata, self.tensors = parse_header(head + rest, size, str(self.path))
        self.size = size

    def read(self, name: str) -> torch.Tensor:
        """Read one tensor into fresh memory (no mmap): resident memory grows by this tensor only."""
        info = self.tensors.get(name)
        if info is None:
            raise CheckpointError(f"{self.path}: no tensor named {name!r}")
        return self.as_tensor(info, self.read_bytes(info))

    def header_bytes(self) -> bytes:
        with open(self.path, "rb") as handle:
            return handle.read(self.data_start)

    def read_bytes(self, info: TensorInfo) -> bytearray:
        buffer = bytearray(info.nbytes)
        self.read_into(info, memoryview(buffer), 0)
        return buffer

    def read_into(self, info: TensorInfo, view: memoryview, offset: int) -> None:
        """Fill `view` with the tensor's bytes starting `offset` bytes into the tensor (pread: no shared cursor)."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            got = 0
            while got < len(view):
                n = os.preadv(fd, [view[got:]], info.start + offset + got)
                if n == 0:
                    raise CheckpointError(f"{self.path}: file ended inside tensor {info.name!r}")
                got += n
        finally:
            os.close(fd)

    @staticmethod
    def as_tensor(info: TensorInfo, buffer: bytearray) -> torch.Tensor:
        dtype = torch_dtype(info.dtype)
        if info.nbytes == 0:
            return torch.empty(info.shape, dtype=dtype)
        return torch.frombuffer(buffer, dtype=torch.uint8).view(dtype).reshape(info.shape)
