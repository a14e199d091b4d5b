"""A safetensors file read by header and byte range.

The `safetensors` library mmaps whole files, which makes every weight it touches count towards resident memory and
trusts offsets only as far as its own checks go. hubindex reads the 8-byte length, validates the JSON header against
the file size (no gaps, no overlaps, sizes that match shapes), then reads one tensor at a time with `os.pread`. The
same header parser serves byte ranges fetched over HTTP.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from hubindex.checkpoint.dtypes import ITEMSIZE, SUPPORTED_CODES, torch_dtype
from hubindex.checkpoint.safe_read import RefusedFile, check_not_sparse, open_regular, parse_json, read_prefix
from hubindex.errors import CheckpointError, UnsupportedFormatError

MAX_HEADER_BYTES = 32 << 20  # safetensors allows 100 MB; real headers are well under 1 MB per 1,000 tensors
MAX_TENSORS = 100_000  # per file; the largest real shards hold a few thousand
MAX_RANK = 16
MAX_DIM = (1 << 31) - 1  # the catalog stores dimensions as INT32; no real dimension comes near
# Dtypes of the safetensors format that hubindex does not index (FP8, FP6, FP4, unsigned wide ints, complex): a
# model holding them is recorded as unsupported, not as broken.
FORMAT_ONLY_CODES = frozenset({"F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "U16", "U32", "U64",
                               "C64"})
_NAME_CHARS = 80


def short(name: str) -> str:
    """A tensor name as error messages quote it: bounded, so a hostile name cannot bloat the catalog."""
    return repr(name if len(name) <= _NAME_CHARS else name[:_NAME_CHARS] + "...")


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
    `file_size`, when known, is checked against the last tensor's end. Errors never quote the file's bytes.
    """
    if len(prefix) < 8:
        raise CheckpointError(f"{source}: truncated safetensors file ({len(prefix)} bytes, no header length)")
    (header_len,) = struct.unpack("<Q", prefix[:8])
    if header_len > MAX_HEADER_BYTES:
        raise CheckpointError(f"{source}: not a safetensors file (its header length field exceeds the "
                              f"{MAX_HEADER_BYTES >> 20} MiB limit)")
    if file_size is not None and 8 + header_len > file_size:
        raise CheckpointError(f"{source}: truncated safetensors header (file has {file_size} bytes, "
                              f"its header length field says more)")
    if len(prefix) < 8 + header_len:
        raise CheckpointError(f"{source}: truncated safetensors header ({len(prefix) - 8} of {header_len} bytes)")
    raw = prefix[8 : 8 + header_len]
    if raw.count(b'"data_offsets"') > MAX_TENSORS:  # cheap refusal before parsing a million entries
        raise RefusedFile(f"{source}: header lists more than {MAX_TENSORS} tensors; not parsed")
    try:
        header = parse_json(raw, source, object_limit=MAX_TENSORS + 2)
    except RefusedFile:
        raise
    except CheckpointError as exc:
        raise CheckpointError(str(exc).replace("not valid JSON", "header is not valid JSON")) from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{source}: header is not a JSON object")
    if len(header) > MAX_TENSORS + 1:
        raise RefusedFile(f"{source}: header lists more than {MAX_TENSORS} tensors; not parsed")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(f"{source}: __metadata__ must map strings to strings")
    data_start = 8 + header_len
    tensors: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        tensors[name] = _tensor_info(name, entry, data_start, file_size, source)
    _check_layout(tensors, data_start, file_size, source)
    return data_start, metadata, tensors


def _is_int(value: object) -> bool:
    return type(value) is int  # bool is an int subclass: [true, 3] is not a shape


def _tensor_info(name: str, entry: object, data_start: int, file_size: int | None, source: str) -> TensorInfo:
    if not isinstance(entry, dict):
        raise CheckpointError(f"{source}: tensor {short(name)} entry is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in SUPPORTED_CODES:
        if isinstance(dtype, str) and dtype in FORMAT_ONLY_CODES:
            raise UnsupportedFormatError(f"{source}: tensor {short(name)} has dtype {dtype}, which hubindex does "
                                         f"not index (it reads {', '.join(sorted(SUPPORTED_CODES))})")
        shown = dtype if isinstance(dtype, str) and len(dtype) <= 16 else type(dtype).__name__
        raise CheckpointError(f"{source}: tensor {short(name)} has unknown dtype {shown!r}")
    valid_shape = isinstance(shape, list) and len(shape) <= MAX_RANK \
        and all(_is_int(d) and 0 <= d <= MAX_DIM for d in shape)
    if not valid_shape:
        raise CheckpointError(f"{source}: tensor {short(name)} has an invalid shape (dimensions must be "
                              f"integers from 0 to 2**31 - 1, at most {MAX_RANK} of them)")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) and o >= 0 for o in offsets)):
        raise CheckpointError(f"{source}: tensor {short(name)} has invalid data_offsets")
    begin, end = offsets
    expected = math.prod(shape) * ITEMSIZE[dtype]
    if file_size is not None and expected > file_size:
        raise CheckpointError(f"{source}: tensor {short(name)} of shape {shape} needs {expected} bytes, "
                              f"more than the whole file ({file_size})")
    if end - begin != expected:
        raise CheckpointError(
            f"{source}: tensor {short(name)} offsets {offsets} hold {end - begin} bytes, "
            f"but dtype {dtype} and shape {shape} need {expected}"
        )
    return TensorInfo(name, dtype, tuple(shape), data_start + begin, data_start + end)


def _check_layout(tensors: dict[str, TensorInfo], data_start: int, file_size: int | None, source: str) -> None:
    cursor = data_start
    for info in sorted(tensors.values(), key=lambda t: (t.start, t.end)):
        if info.start != cursor:
            kind = "overlaps the previous tensor" if info.start < cursor else "leaves a gap before it"
            raise CheckpointError(f"{source}: tensor {short(info.name)} {kind} (offset {info.start}, "
                                  f"expected {cursor})")
        cursor = info.end
    if file_size is not None and cursor != file_size:
        what = "truncated" if cursor > file_size else "has trailing bytes"
        raise CheckpointError(f"{source}: file {what}: tensors end at byte {cursor}, file has {file_size}")


class SafetensorsFile:
    """A local safetensors file: validated header, tensors read one at a time.

    Opened through `safe_read` (regular files inside `folder` only, sparse files refused), so a hostile file costs
    at most its header cap to look at, never its claimed size.
    """

    def __init__(self, path: str | os.PathLike[str], folder: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path)
        self.folder = Path(folder) if folder is not None else self.path.parent
        fd, info = open_regular(self.path, self.folder)
        try:
            check_not_sparse(self.path, info)
            head = read_prefix(fd, 8, self.path)
            header_len = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
            want = 8 + min(header_len, MAX_HEADER_BYTES + 1, max(info.st_size - 8, 0))
            prefix = read_prefix(fd, want, self.path) if header_len <= MAX_HEADER_BYTES else head
        finally:
            os.close(fd)
        self.data_start, self.metadata, self.tensors = parse_header(prefix, info.st_size, str(self.path))
        self.size = info.st_size

    def read(self, name: str) -> torch.Tensor:
        """Read one tensor into fresh memory (no mmap): resident memory grows by this tensor only."""
        info = self.tensors.get(name)
        if info is None:
            raise CheckpointError(f"{self.path}: no tensor named {short(name)}")
        return self.as_tensor(info, self.read_bytes(info))

    def header_bytes(self) -> bytes:
        fd, _ = open_regular(self.path, self.folder)
        try:
            return read_prefix(fd, self.data_start, self.path)
        finally:
            os.close(fd)

    def read_bytes(self, info: TensorInfo) -> bytearray:
        buffer = bytearray(info.nbytes)
        self.read_into(info, memoryview(buffer), 0)
        return buffer

    def read_into(self, info: TensorInfo, view: memoryview, offset: int) -> None:
        """Fill `view` with the tensor's bytes starting `offset` bytes into the tensor (pread: no shared cursor)."""
        fd, _ = open_regular(self.path, self.folder)
        try:
            got = 0
            while got < len(view):
                n = os.preadv(fd, [view[got:]], info.start + offset + got)
                if n == 0:
                    raise CheckpointError(f"{self.path}: file ended inside tensor {short(info.name)}")
                got += n
        finally:
            os.close(fd)

    @staticmethod
    def as_tensor(info: TensorInfo, buffer: bytearray) -> torch.Tensor:
        dtype = torch_dtype(info.dtype)
        if info.nbytes == 0:
            return torch.empty(info.shape, dtype=dtype)
        return torch.frombuffer(buffer, dtype=torch.uint8).view(dtype).reshape(info.shape)
