"""A checkpoint's weight signature from one streaming pass over its safetensors files.

Each tensor is read once (`stream.py`: in cache-sized pieces by two workers that hash and reduce each piece as it
arrives, into one of two reused buffers), then its subsampled moments and sampled coordinates are taken. Peak
memory is about two of the largest tensor plus a 4 MiB conversion chunk per worker, whatever the
model size (bench/signature_throughput.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np
import xxhash

from hubindex.checkpoint import ModelFolder
from hubindex.checkpoint.dtypes import FLOAT_CODES
from hubindex.errors import CheckpointError
from hubindex.fingerprint.consistency import check_config
from hubindex.fingerprint.layout import layout_hash, param_count
from hubindex.fingerprint.sampling import project, tensor_sample
from hubindex.fingerprint.stats import TensorStats, tensor_stats
from hubindex.fingerprint.stream import FileDigest, stream_tensors


@dataclass
class WeightSignature:
    """What the catalog stores about a checkpoint's weights.

    For an adapter, `samples` and `tensors` describe its effective delta (B·A·scale) on the base tensors it targets,
    sampled at the base tensors' coordinates.
    """

    kind: str  # "model" | "adapter"
    revision: str
    layout: str
    params: int
    dtypes: dict[str, int]
    tensors: list[TensorStats]
    samples: dict[str, np.ndarray]  # tensor name -> raw sampled values (fp32)
    sketch: np.ndarray  # CountSketch of the scaled samples
    files: list[dict] = field(default_factory=list)  # name, bytes, xxh3_128
    meta: dict = field(default_factory=dict)  # adapter: rank, alpha, targets

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {t.name: tuple(t.shape) for t in self.tensors}

    def sample_vector(self) -> np.ndarray:
        """Samples concatenated in tensor-name order, the form stored in the catalog."""
        parts = [self.samples[name] for name in sorted(self.samples)]
        return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, dtype=np.float32)


def split_samples(vector: np.ndarray, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Inverse of `sample_vector`: cut the stored vector back into per-tensor segments."""
    out: dict[str, np.ndarray] = {}
    offset = 0
    for name in sorted(shapes):
        count = tensor_sample(name, shapes[name]).count
        out[name] = vector[offset : offset + count]
        offset += count
    if offset != len(vector):
        raise CheckpointError(f"stored samples hold {len(vector)} values, layout expects {offset}")
    return out


def scaled_distance(a: dict[str, np.ndarray], b: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]]) -> float:
    """Estimated L2 distance between two full weight sets from their samples on shared tensors."""
    total = 0.0
    for name in a.keys() & b.keys():
        scale = tensor_sample(name, shapes[name]).scale
        diff = (a[name].astype(np.float64) - b[name].astype(np.float64)) * scale
        total += float(diff @ diff)
    return total**0.5


def compute_signature(folder: ModelFolder) -> WeightSignature:
    if folder.kind == "adapter":
        from hubindex.fingerprint.adapter import adapter_signature

        return adapter_signature(folder)
    shapes = {name: info.shape for name, info in folder.tensors.items()}
    if folder.config is not None:
        check_config(folder.config, shapes, str(folder.path))
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
        plan = tensor_sample(info.name, info.shape)
        samples[info.name] = tensor.reshape(-1)[plan.positions].float().numpy()  # a copy: the buffer is reused
    files = [asdict(d) for d in digests]
    revision = xxhash.xxh3_128("".join(d.xxh3_128 for d in digests).encode()).hexdigest()
    float_shapes = {t.name: tuple(t.shape) for t in stats}
    sketch = project({name: (float_shapes[name], values) for name, values in samples.items()})
    return WeightSignature("model", revision, layout_hash(shapes.items()), param_count(shapes.items()), dict(dtypes),
                           stats, samples, sketch, files)
