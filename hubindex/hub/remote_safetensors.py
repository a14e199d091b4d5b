"""A safetensors file on the Hub, read by HTTP Range requests: its header, then only the sampled blocks.

The header is one range read of the first 100 kB (a second one when it is longer), validated by the same parser as a
local file (`parse_header`). A signature samples one contiguous block per sampled tensor (`fingerprint/sampling.py`),
so its byte ranges are known from the header alone: one request per block, blocks closer than COALESCE_GAP bytes
share one (a request costs more than a few kB of payload). Every request is a single range (object stores behind
CDNs do not serve multi-range requests); a file's requests run in parallel through huggingface_hub's shared session.
"""

from __future__ import annotations

import bisect
import struct
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from hubindex.checkpoint.safetensors_file import MAX_HEADER_BYTES, TensorInfo, parse_header
from hubindex.errors import CheckpointError
from hubindex.fingerprint.source import block_range, decode
from hubindex.hub.source import HEADER_PROBE, HubSource, RemoteFile

COALESCE_GAP = 4096  # bytes
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


def coalesce(ranges: Iterable[tuple[int, int]], gap: int = COALESCE_GAP) -> list[tuple[int, int]]:
    """Sorted ranges merged where they touch or lie within `gap` bytes of each other."""
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start - merged[-1][1] <= gap:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def block_requests(tensors: Iterable[TensorInfo], have: int = 0) -> list[tuple[int, int]]:
    """The single-range requests that fetch these tensors' sampled blocks, beyond the first `have` bytes of the file
    (the header probe, which holds a small file whole)."""
    ranges = [(max(s, have), e) for s, e in (block_range(info) for info in tensors) if e > have]
    return coalesce(ranges)


class RemoteSafetensors:
    """Validated header of a remote file; `blocks()` range-reads the sampled blocks of chosen tensors."""

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
        self.prefix = prefix  # small files arrive whole with the header: their blocks need no further request

    def _read(self, start: int, end: int) -> bytes:
        data = self.source.read_range(self.file, start, end)
        self.traffic.add(len(data))
        return data

    def blocks(self, tensors: list[TensorInfo]) -> dict[str, np.ndarray]:
        """Each tensor's sampled block (fp32), equal to what a full read samples at the same coordinates."""
        wanted = {info.name: block_range(info) for info in tensors}
        ranges = block_requests(tensors, len(self.prefix))
        with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="ranges") as pool:
            chunks = list(pool.map(lambda span: self._read(*span), ranges))
        starts = [s for s, _ in ranges]
        out: dict[str, np.ndarray] = {}
        for info in tensors:
            start, end = wanted[info.name]
            raw = self.prefix[start : min(end, len(self.prefix))]
            if end > len(self.prefix):
                begin = max(start, len(self.prefix))
                i = bisect.bisect_right(starts, begin) - 1
                raw += chunks[i][begin - starts[i] : end - starts[i]]
            out[info.name] = decode(raw, info.dtype)
        return out
