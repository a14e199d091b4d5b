"""The one place a `WeightSignature` is put together, whatever read the weights.

`assemble` turns per-tensor statistics and sampled blocks into a signature (layout hash, parameter count, sketch,
sampling version); the full local pass (`signature.compute_signature`), adapters (`adapter.adapter_signature`) and
`sampled_signature` all end here. `sampled_signature` reads only the sampled blocks from a tensor source (local
pread or hub range requests, `fingerprint/source.py`), so a local partial fingerprint and a hub one are the same
computation on the same bytes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import numpy as np

from hubindex.checkpoint.dtypes import FLOAT_CODES
from hubindex.errors import CheckpointError
from hubindex.fingerprint.estimated import ESTIMATED_FIELDS, estimated_stats
from hubindex.fingerprint.layout import layout_hash, param_count
from hubindex.fingerprint.sampling import SAMPLING_VERSION, project, sampled_names, tensor_sample
from hubindex.fingerprint.signature import WeightSignature
from hubindex.fingerprint.source import TensorSource
from hubindex.fingerprint.stats import TensorStats


def assemble(kind: str, shapes: Mapping[str, tuple[int, ...]], dtypes: Mapping[str, int], stats: list[TensorStats],
             samples: dict[str, np.ndarray], files: list[dict], *, content_hash: str | None = None,
             sha: str | None = None, meta: dict | None = None, params: int | None = None) -> WeightSignature:
    """`shapes`: every tensor (layout; parameters unless `params` is given); `stats`: one per floating-point tensor,
    whose names decide which are sampled; `samples`: exactly those. The catalog keys the signature by the hub commit
    when there is one, else by the content hash."""
    float_shapes = {t.name: tuple(t.shape) for t in stats}
    if set(samples) != sampled_names(float_shapes):
        raise CheckpointError(f"samples of {sorted(set(samples) ^ sampled_names(float_shapes))[:3]} do not match "
                              "the sampled tensors")  # a builder bug, never the checkpoint's: said loudly
    revision = sha or content_hash
    if revision is None:
        raise ValueError("a signature needs a content hash or a hub commit")
    sketch = project({name: (float_shapes[name], values) for name, values in samples.items()})
    return WeightSignature(kind, revision, layout_hash(shapes.items()),
                           param_count(shapes.items()) if params is None else params, dict(dtypes),
                           sorted(stats, key=lambda t: t.name), samples, sketch, files,
                           {**(meta or {}), "sampling": SAMPLING_VERSION}, content_hash=content_hash, sha=sha)


def unsampled_stats(name: str, dtype: str, shape: tuple[int, ...]) -> TensorStats:
    """A tensor known from its header only: shape and size, no values read (NULL statistics in the catalog)."""
    numel = int(np.prod(shape, dtype=np.int64)) if shape else 1
    return TensorStats(name, dtype, list(shape), numel, None, None, None, None, None, 0)


def sampled_signature(source: TensorSource, *, sha: str | None = None, content_hash: str | None = None,
                      files: list[dict] | None = None, meta: dict | None = None) -> WeightSignature:
    """A model's signature from its sampled blocks alone: sampled values equal a full read's at the same
    coordinates; statistics of sampled tensors are estimated from their whole blocks, others are left empty."""
    floats = {name: info for name, info in source.tensors.items() if info.dtype in FLOAT_CODES}
    chosen = sampled_names({name: info.shape for name, info in floats.items()})
    blocks = source.blocks([floats[name] for name in sorted(chosen)])
    samples = {name: tensor_sample(name, floats[name].shape).pick(block) for name, block in blocks.items()}
    stats = []
    for name, info in floats.items():
        if name not in chosen:
            stats.append(unsampled_stats(name, info.dtype, info.shape))
            continue
        stat = estimated_stats(name, info.dtype, info.shape, blocks[name])  # every value read, not only those kept
        if stat.nonfinite:
            raise CheckpointError(f"{source.label}: tensor {name!r} has NaN/inf values among its samples")
        stats.append(stat)
    dtypes: Counter[str] = Counter()
    for info in source.tensors.values():
        dtypes[info.dtype] += info.numel
    return assemble("model", {name: info.shape for name, info in source.tensors.items()}, dtypes, stats, samples,
                    files or [], content_hash=content_hash, sha=sha,
                    meta={"fingerprint": "partial", "stats_estimated": list(ESTIMATED_FIELDS), **(meta or {})})
