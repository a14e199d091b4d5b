"""Stream a checkpoint's tensors with reading, hashing and full-pass statistics done in cache-sized pieces.

The signature pass is memory-bound: a separate hashing pass and a separate statistics pass would each stream the
whole checkpoint through DRAM again (measured: 3x a plain read). Instead each tensor is split into PIECE-byte
pieces; a worker reads a piece into the tensor's buffer with pread, then hashes it and reduces it (min, max, sum
of squares) while it is still in cache. Workers (one per core, up to 8) take pieces in turn. On a 2-core machine
the pass costs about 2-2.7x a warm plain read (bench/signature_throughput.py): the fp32 conversion behind the
exact L2 norm is the remaining cost; separate passes measured 30x.

Two tensor buffers, each the size of the largest tensor, are allocated once (anonymous mmap) and reused: the
workers fill one while the caller finishes the other (samples, subsampled moments). Reusing them keeps the
allocator from growing its heap tensor after tensor and avoids page-faulting fresh memory on every read.

A file's content hash is XXH3-128 over its header and the XXH3-128 of each piece in order: any changed byte
changes it, and pieces hash in parallel.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import torch
import xxhash

from hubindex.checkpoint import ModelFolder
from hubindex.checkpoint.dtypes import FLOAT_CODES, torch_dtype
from hubindex.checkpoint.safetensors_file import SafetensorsFile, TensorInfo
from hubindex.fingerprint.stats import PieceStats, piece_stats

PIECE = 4 << 20
WORKERS = max(2, min(8, os.cpu_count() or 2))  # readers; the pass is memory-bound beyond a few


@dataclass
class FileDigest:
    name: str
    bytes: int
    xxh3_128: str


def _piece(file: SafetensorsFile, info: TensorInfo, buffer: mmap.mmap, begin: int, end: int
           ) -> tuple[bytes, PieceStats | None]:
    view = memoryview(buffer)[begin:end]
    file.read_into(info, view, begin)
    digest = xxhash.xxh3_128_digest(view)
    stats = piece_stats(torch.frombuffer(view, dtype=torch.uint8).view(torch_dtype(info.dtype))) \
        if info.dtype in FLOAT_CODES and end > begin else None
    return digest, stats


def stream_tensors(folder: ModelFolder, digests: list[FileDigest]
                   ) -> Iterator[tuple[TensorInfo, torch.Tensor, list[PieceStats]]]:
    """Yield (info, tensor, piece statistics) in file order. The tensor's memory is reused: copy what you keep.

    `digests` gets one entry per file once that file has been read completely.
    """
    order = [(f, info) for f in folder.files for info in sorted(f.tensors.values(), key=lambda t: t.start)]
    largest = max((info.nbytes for _, info in order), default=0)
    buffers = [mmap.mmap(-1, max(largest, 1)) for _ in range(2)]
    hashers = {f.path: xxhash.xxh3_128(f.header_bytes()) for f in folder.files}
    remaining = {f.path: len(f.tensors) for f in folder.files}
    for f in folder.files:
        if not f.tensors:
            digests.append(FileDigest(f.path.name, f.size, hashers[f.path].hexdigest()))
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="signature") as pool:

        def submit(i: int) -> list[Future]:
            if i >= len(order):
                return []
            file, info = order[i]
            return [pool.submit(_piece, file, info, buffers[i % 2], begin, min(begin + PIECE, info.nbytes))
                    for begin in range(0, info.nbytes, PIECE)]

        # Two tensors in flight: workers fill tensor i+1 while the caller finishes tensor i, so no worker idles at
        # a tensor boundary; tensor i+2 reuses tensor i's buffer once the caller is done with it.
        in_flight = [submit(0), submit(1)]
        for i, (file, info) in enumerate(order):
            results = [future.result() for future in in_flight[0]]
            hasher = hashers[file.path]
            for digest, _ in results:
                hasher.update(digest)
            remaining[file.path] -= 1
            if remaining[file.path] == 0:
                digests.append(FileDigest(file.path.name, file.size, hasher.hexdigest()))
            dtype = torch_dtype(info.dtype)
            if info.nbytes == 0:
                tensor = torch.empty(info.shape, dtype=dtype)
            else:
                view = memoryview(buffers[i % 2])[: info.nbytes]
                tensor = torch.frombuffer(view, dtype=torch.uint8).view(dtype).reshape(info.shape)
            yield info, tensor, [s for _, s in results if s is not None]
            del tensor
            in_flight = [in_flight[1], submit(i + 2)]
