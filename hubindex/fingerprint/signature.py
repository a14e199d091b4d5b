"""A checkpoint's weight signature from one streaming pass over its safetensors files (the full read).

Exact statistics of every tensor and the content hash need every byte; the sampled blocks are the same ones a
partial read takes (`builder.sampled_signature`), and both are put together by `builder.assemble`. Each tensor is
read once (`stream.py`: in cache-sized pieces by two workers that hash and reduce each piece as it
arrives, into one of two reused buffers), then its subsampled moments and sampled coordinates are taken. Peak
memory is about two of the largest tensor plus a 4 MiB conversion chunk per worker, whatever the
model size (bench/signature_throughput.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
import xxhash

from hubindex.checkpoint import ModelFolder
from hubindex.checkpoint.dtypes import FLOAT_CODES
from hubindex.errors import CheckpointError
from hubindex.fingerprint.consistency import check_config
from hubindex.fingerprint.sampling import sample_counts, sampled_names, tensor_sample
from hubindex.fingerprint.stats import TensorStats, tensor_stats
from hubindex.fingerprint.stream import FileDigest, stream_tensors


@dataclass
class WeightSignature:
    """What the catalog stores about a checkpoint's weights.

    For an adapter, `samples` and `tensors` describe its effective delta (B·A·scale) on the base tensors it targets,
    sampled at the base tensors' coordinates.
    """

    kind: str  # "model" | "adapter"
    revision: str  # what the catalog keys the weights by: the hub commit (`sha`) when known, else `content_hash`
    layout: str
    params: int
    dtypes: dict[str, int]
    tensors: list[TensorStats]
    samples: dict[str, np.ndarray]  # tensor name -> raw sampled values (fp32)
    sketch: np.ndarray  # CountSketch of the scaled samples
    files: list[dict] = field(default_factory=list)  # name, bytes, xxh3_128
    meta: dict = field(default_factory=dict)  # sampling version; adapter: rank, alpha, targets; partial: estimated
    content_hash: str | None = None  # XXH3-128 over the files' digests; None when not every byte was read
    sha: str | None = None  # the hub commit the weights came from; None for a local folder

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {t.name: tuple(t.shape) for t in self.tensors}

    def sample_vector(self) -> np.ndarray:
        """Samples concatenated in tensor-name order, the form stored in the catalog."""
        parts = [self.samples[name] for name in sorted(self.samples)]
        return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, dtype=np.float32)


def split_samples(vector: np.ndarray, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Inverse of `sample_vector`: cut the stored vector back into per-tensor segments (empty for tensors that are
    not sampled). `shapes`: every floating-point tensor, as the catalog's tensor statistics hold them."""
    out: dict[str, np.ndarray] = {}
    offset = 0
    counts = sample_counts(shapes)
    for name in sorted(shapes):
        count = counts[name]
        out[name] = vector[offset : offset + count]
        offset += count
    if offset != len(vector):
        raise CheckpointError(f"stored samples hold {len(vector)} values, layout expects {offset}")
    return out


def scaled_distance(a: dict[str, np.ndarray], b: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]]) -> float:
    """Estimated L2 distance between two full weight sets from their samples on shared tensors."""
    total = 0.0
    for name in a.keys() & b.keys():
        if not len(a[name]):
            continue
        scale = tensor_sample(name, shapes[name]).scale
        diff = (a[name].astype(np.float64) - b[name].astype(np.float64)) * scale
        total += float(diff @ diff)
    return total**0.5


def compute_signature(folder: ModelFolder) -> WeightSignature:
    from hubindex.fingerprint.builder import assemble  # builder imports this module's WeightSignature

    if folder.kind == "adapter":
        from hubindex.fingerprint.adapter import adapter_signature

        return adapter_signature(folder)
    shapes = {name: info.shape for name, info in folder.tensors.items()}
    if folder.config is not None:
        check_config(folder.config, shapes, str(folder.path))
    chosen = sampled_names({name: info.shape for name, info in folder.tensors.items() if info.dtype in FLOAT_CODES})
    stats: list[TensorStats] = []
    samples: dict[str, np.ndarray] = {}
    dtypes: Counter[str] = Counter()
    digests: list[FileDigest] = []
    for info, tensor, pieces in stream_tensors(folder, digests):
        dtypes[info.dtype] += info.numel
        if info.dtype not in FLOAT_CODES:
            continue  # integer buffers (position ids, masks) carry no learned weights
        stat = tensor_stats(info.name, info.dtype, tensor, pieces)
        if stat.nonfinite:
            raise CheckpointError(f"{folder.path}: tensor {info.name!r} has {stat.nonfinite} NaN/inf values")
        stats.append(stat)
        if info.name in chosen:
            plan = tensor_sample(info.name, info.shape)
            samples[info.name] = plan.pick(tensor.reshape(-1)[plan.start : plan.stop].float().numpy())  # a copy
    content_hash = xxhash.xxh3_128("".join(d.xxh3_128 for d in digests).encode()).hexdigest()
    return assemble("model", shapes, dtypes, stats, samples, [asdict(d) for d in digests], content_hash=content_hash)
