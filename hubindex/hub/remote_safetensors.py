"""A safetensors file on the Hub, read by HTTP Range requests: its header, then only the sampled windows.

The header is one range read of the first 100 kB (a second one when it is longer), validated by the same parser as a
local file (`parse_header`). The signature's sampled coordinates are fixed per (tensor name, shape) and come in
contiguous 16-element windows (`fingerprint/sampling.py`), so their byte ranges are known from the header alone.
Windows closer than COALESCE_GAP bytes are always fetched by one request (a request costs more than a few kB of
payload); beyond that, the gaps between requests are closed smallest first while the file's fetched bytes stay within
BYTE_BUDGET of its size (at hub scale the request count, not the bytes, is the cost and what rate limits count).
Every request is a single range (object stores behind CDNs do not serve multi-range requests); they run in parallel
through huggingface_hub's shared session.
"""

from __future__ import annotations

import bisect
import struct
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from hubindex.checkpoint.dtypes import itemsize, torch_dtype
from hubindex.checkpoint.safetensors_file import MAX_HEADER_BYTES, TensorInfo, parse_header
from hubindex.errors import CheckpointError
from hubindex.fingerprint.sampling import tensor_sample
from hubindex.hub.source import HEADER_PROBE, HubSource, RemoteFile

COALESCE_GAP = 4096  # bytes
BYTE_BUDGET = 0.0005  # fraction of a file's bytes its partial fingerprint may fetch (issue 16: <= 0.05 %)
PARALLEL = 8  # range requests in flight per file


@dataclass
class Traffic:
    """Bytes and requests one model's crawl cost (thread-safe: ranges are fetched in parallel)."""

    bytes: int = 0
    requests: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, nbytes: int, requests: int = 1) -> None:
        with self._lock:
            self.bytes += nbytes
            self.requests += requests


def window_ranges(info: TensorInfo) -> list[tuple[int, int]]:
    """Absolute byte ranges [start, end) of a tensor's sampled windows."""
    size = itemsize(info.dtype)
    plan = tensor_sample(info.name, info.shape)
    return [(info.start + s * size, info.start + e * size) for s, e in plan.windows()]


def coalesce(ranges: Iterable[tuple[int, int]], gap: int = COALESCE_GAP) -> list[tuple[int, int]]:
    """Sorted ranges merged where they touch or lie within `gap` bytes of each other."""
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start - merged[-1][1] <= gap:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def within_budget(ranges: Iterable[tuple[int, int]], budget: int, gap: int = COALESCE_GAP) -> list[tuple[int, int]]:
    """The fewest single ranges that cover `ranges` and total at most `budget` bytes (or just the coalesced ranges
    when those alone exceed it): closing the smallest gaps first is optimal for a byte budget."""
    merged = coalesce(ranges, gap)
    total = sum(e - s for s, e in merged)
    closed: set[int] = set()
    for size, i in sorted((merged[i + 1][0] - merged[i][1], i) for i in range(len(merged) - 1)):
        if total + size > budget:
            break
        total += size
        closed.add(i)
    out: list[list[int]] = []
    for i, (start, end) in enumerate(merged):
        if i and i - 1 in closed:
            out[-1][1] = end
        else:
            out.append([start, end])
    return [(s, e) for s, e in out]


def file_budget(file_size: int, header_bytes: int) -> int:
    return max(0, int(BYTE_BUDGET * file_size) - header_bytes)


def planned_bytes(tensors: Iterable[TensorInfo], gap: int = COALESCE_GAP, budget: int = 0) -> tuple[int, int]:
    """(bytes, requests) a partial fingerprint of these tensors fetches, header excluded; `budget`: bytes the
    ranges may grow to so that fewer requests are made (0: only gaps under `gap` are closed)."""
    ranges = within_budget((r for info in tensors for r in window_ranges(info)), budget, gap)
    return sum(e - s for s, e in ranges), len(ranges)


class RemoteSafetensors:
    """Validated header of a remote file; `samples()` range-reads the sampled windows of chosen tensors."""

    def __init__(self, source: HubSource, file: RemoteFile, traffic: Traffic, label: str) -> None:
        self.source, self.file, self.traffic, self.label = source, file, traffic, label
        prefix = self._read(0, min(HEADER_PROBE, file.size))
        if len(prefix) < 8:
            raise CheckpointError(f"{label}: truncated safetensors file ({file.size} bytes)")
        (header_len,) = struct.unpack("<Q", prefix[:8])
        if header_len > MAX_HEADER_BYTES:
            raise CheckpointError(f"{label}: not a safetensors file (its header length field exceeds the "
                                  f"{MAX_HEADER_BYTES >> 20} MiB limit)")  # the field's value is the file's bytes
        if 8 + header_len > len(prefix):
            prefix += self._read(len(prefix), min(8 + header_len, file.size))
        self.data_start, self.metadata, self.tensors = parse_header(prefix, file.size, label)
        self.prefix = prefix  # small files arrive whole with the header: their windows need no further request

    def _read(self, start: int, end: int) -> bytes:
        data = self.source.read_range(self.file, start, end)
        self.traffic.add(len(data))
        return data

    def _cached_or_read(self, span: tuple[int, int]) -> bytes:
        start, end = span
        have = len(self.prefix)
        if start >= have:
            return self._read(start, end)
        return self.prefix[start:end] + (self._read(have, end) if end > have else b"")

    def samples(self, tensors: list[TensorInfo]) -> dict[str, np.ndarray]:
        """Raw sampled values (fp32) of each tensor, equal to what a full read samples at the same coordinates."""
        wanted = {info.name: window_ranges(info) for info in tensors}
        ranges = within_budget((r for rs in wanted.values() for r in rs), file_budget(self.file.size, len(self.prefix)))
        with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="ranges") as pool:
            chunks = list(pool.map(self._cached_or_read, ranges))
        starts = [s for s, _ in ranges]
        out: dict[str, np.ndarray] = {}
        for info in tensors:
            raw = bytearray()
            for start, end in wanted[info.name]:
                i = bisect.bisect_right(starts, start) - 1
                offset = start - starts[i]
                raw += chunks[i][offset : offset + end - start]
            if not raw:
                out[info.name] = np.zeros(0, dtype=np.float32)
                continue
            values = torch.frombuffer(raw, dtype=torch.uint8).view(torch_dtype(info.dtype))
            out[info.name] = values.float().numpy()
        return out
