"""A checkpoint's weight signature from one streaming pass over its safetensors files.

Each tensor is read once (pread into a buffer of that tensor's size, then released), which hashes the file bytes
for the revision, computes the tensor's statistics and picks its sampled coordinates. Peak memory is about one
tensor plus a 16 MiB conversion chunk, whatever the model size.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from hubindex.checkpoint import ModelFolder
from hubindex.checkpoint.dtypes import FLOAT_CODES
from hubindex.errors import CheckpointError
from hubindex.fingerprint.consistency import check_config
from hubindex.fingerprint.layout import layout_hash, param_count
from hubindex.fingerprint.sampling import project, tensor_sample
from hubindex.fingerprint.stats import TensorStats, tensor_stats


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
    files: list[dict] = field(default_factory=list)  # name, bytes, blake2b
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
    files: list[dict] = []
    for file in folder.files:
        digest = hashlib.blake2b(digest_size=16)
        digest.update(file.header_bytes())
        for info in sorted(file.tensors.values(), key=lambda t: t.start):
            buffer = file.read_bytes(info)
            digest.update(buffer)
            tensor = file.as_tensor(info, buffer)
            dtypes[info.dtype] += info.numel
            if info.dtype not in FLOAT_CODES:
                continue  # integer buffers (position ids, masks) carry no learned weights
            stat = tensor_stats(info.name, info.dtype, tensor)
            if stat.nonfinite:
                raise CheckpointError(f"{folder.path}: tensor {info.name!r} has {stat.nonfinite} NaN/inf values")
            stats.append(stat)
            plan = tensor_sample(info.name, info.shape)
            samples[info.name] = tensor.reshape(-1)[plan.positions].float().numpy()
            del tensor, buffer
        files.append({"name": file.path.name, "bytes": file.size, "blake2b": digest.hexdigest()})
    revision = hashlib.blake2b("".join(f["blake2b"] for f in files).encode(), digest_size=16).hexdigest()
    float_shapes = {t.name: tuple(t.shape) for t in stats}
    sketch = project({name: (float_shapes[name], values) for name, values in samples.items()})
    return WeightSignature("model", revision, layout_hash(shapes.items()), param_count(shapes.items()), dict(dtypes),
                           stats, samples, sketch, files)
