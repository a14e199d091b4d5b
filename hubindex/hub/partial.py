"""A hub model's weight signature from a small fraction of its bytes.

Full models: config.json, the shard index when there is one, each shard's header (range read), then the sampled
windows of every floating-point tensor (coalesced range reads). The sampled values are exactly those a full read
takes at the same coordinates, so sample vectors, sketches, distances and lineage compare with locally indexed
models; per-tensor statistics that need every element are estimated from the samples and marked so in `meta`.
Adapters are small (a LoRA file is ~0.1-1 % of its base) and are fetched whole, then fingerprinted like a local one.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from hubindex.checkpoint import ModelFolder
from hubindex.checkpoint.dtypes import FLOAT_CODES
from hubindex.checkpoint.safe_read import parse_json
from hubindex.errors import CheckpointError
from hubindex.fingerprint.consistency import check_config
from hubindex.fingerprint.estimated import ESTIMATED_FIELDS, estimated_stats
from hubindex.fingerprint.layout import layout_hash, param_count
from hubindex.fingerprint.sampling import project
from hubindex.fingerprint.signature import WeightSignature
from hubindex.hub.remote_safetensors import RemoteSafetensors, Traffic
from hubindex.hub.repo_files import RepoFiles, repo_files, shard_names
from hubindex.hub.source import HubSource

MAX_SMALL_FILE = 64 << 20  # config/index/adapter files read whole; anything larger is not what it claims to be


@dataclass
class PartialResult:
    signature: WeightSignature
    config: dict
    files: RepoFiles
    weight_bytes: int  # total size of the weight files
    traffic: Traffic


def read_small(source: HubSource, model_id: str, filename: str, sha: str, traffic: Traffic) -> bytes:
    file = source.resolve(model_id, filename, sha)
    if file.size > MAX_SMALL_FILE:
        raise CheckpointError(f"{model_id}/{filename}: {file.size} bytes is too large to be a {filename}")
    traffic.add(0)  # the HEAD
    data = source.read_range(file, 0, file.size)
    traffic.add(len(data))
    return data


def read_json(source: HubSource, model_id: str, filename: str, sha: str, traffic: Traffic) -> dict:
    value = parse_json(read_small(source, model_id, filename, sha, traffic), f"{model_id}/{filename}")  # depth-bound
    if not isinstance(value, dict):
        raise CheckpointError(f"{model_id}/{filename}: expected a JSON object")
    return value


def partial_signature(source: HubSource, model_id: str, sha: str, siblings: list[str]) -> PartialResult:
    files = repo_files(model_id, siblings)
    traffic = Traffic()
    if files.kind == "adapter":
        return _adapter(source, model_id, sha, files, traffic)
    config = read_json(source, model_id, files.config, sha, traffic)
    weights = files.weights
    if files.index:
        weights = shard_names(model_id, read_json(source, model_id, files.index, sha, traffic), siblings)
    remotes = []
    for name in weights:
        remote = source.resolve(model_id, name, sha)
        traffic.add(0)
        remotes.append(RemoteSafetensors(source, remote, traffic, f"{model_id}/{name}"))
    tensors = {}
    for remote in remotes:
        for name, info in remote.tensors.items():
            if name in tensors:
                raise CheckpointError(f"{model_id}: tensor {name!r} appears in two shards")
            tensors[name] = info
    shapes = {name: info.shape for name, info in tensors.items()}
    check_config(config, shapes, model_id)
    samples = {}
    for remote in remotes:
        chosen = [info for info in remote.tensors.values() if info.dtype in FLOAT_CODES]
        samples.update(remote.samples(chosen))
    stats = []
    for name in sorted(samples):
        info = tensors[name]
        stat = estimated_stats(name, info.dtype, info.shape, samples[name])
        if stat.nonfinite:
            raise CheckpointError(f"{model_id}: tensor {name!r} has NaN/inf values among its samples")
        stats.append(stat)
    dtypes = Counter()
    for info in tensors.values():
        dtypes[info.dtype] += info.numel
    sketch = project({name: (tensors[name].shape, values) for name, values in samples.items()})
    digests = [{"name": r.file.name, "bytes": r.file.size, "etag": r.file.etag} for r in remotes]
    signature = WeightSignature("model", sha, layout_hash(shapes.items()), param_count(shapes.items()), dict(dtypes),
                                stats, samples, sketch, digests,
                                {"fingerprint": "partial", "stats_estimated": list(ESTIMATED_FIELDS)})
    return PartialResult(signature, config, files, sum(r.file.size for r in remotes), traffic)


def _adapter(source: HubSource, model_id: str, sha: str, files: RepoFiles, traffic: Traffic) -> PartialResult:
    from hubindex.fingerprint.adapter import adapter_signature

    with tempfile.TemporaryDirectory(prefix="hubindex-adapter-") as tmp:
        folder = Path(tmp)
        for name in (files.config, *files.weights):
            (folder / name).write_bytes(read_small(source, model_id, name, sha, traffic))
        opened = ModelFolder.open(folder)
        signature = adapter_signature(opened)
        config = dict(opened.config or {})
        weight_bytes = sum((folder / n).stat().st_size for n in files.weights)
    signature.revision = sha
    signature.meta["fingerprint"] = "whole-adapter"
    return PartialResult(signature, config, files, weight_bytes, traffic)
