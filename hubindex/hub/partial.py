"""A hub model's weight signature from a small fraction of its bytes and a few dozen HTTP requests.

Full models: config.json and the shard index (HEAD + GET each), then only the shards that hold sampled tensors
(`fingerprint.sampling.depth_names`: four depths of each layer stack plus the tensors outside them, decided from the
index's names): a HEAD and a header read each, then one range request per sampled block (`RemoteSafetensors`). The
shapes of the other shards' tensors, which the layout hash, parameter count and sample selection need, are those of
the same tensor in a layer that was read (layers of a stack repeat their shapes); the index's `total_size` checks
the inference, and any shard it does not account for has its header read too. The sampled values are exactly those
a full read takes at the same coordinates (`fingerprint.builder.sampled_signature` builds both), so sample vectors,
sketches, distances and lineage compare with locally indexed models; statistics are estimated from the blocks of
sampled tensors and left empty for the others, and `meta` says so. Adapters are small (a LoRA file is ~0.1-1 % of
its base) and are fetched whole, then fingerprinted like a local one.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hubindex.checkpoint import ModelFolder
from hubindex.checkpoint.safe_read import parse_json
from hubindex.checkpoint.safetensors_file import TensorInfo
from hubindex.errors import CheckpointError
from hubindex.fingerprint.builder import sampled_signature
from hubindex.fingerprint.consistency import check_config
from hubindex.fingerprint.sampling import LAYER, depth_names
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


class RemoteSource:
    """A hub checkpoint as a tensor source (`fingerprint/source.py`): headers of the shards read, tensors of the
    others inferred, blocks fetched by range requests from the shard that holds them."""

    def __init__(self, label: str, shards: dict[str, RemoteSafetensors], inferred: dict[str, TensorInfo]) -> None:
        self.label, self.shards = label, shards
        self.owner = {name: shard for shard in shards.values() for name in shard.tensors}
        self.tensors = {**inferred, **{name: shard.tensors[name] for name, shard in self.owner.items()}}

    def blocks(self, tensors: list[TensorInfo]) -> dict[str, np.ndarray]:
        by_shard: dict[int, list[TensorInfo]] = {}
        for info in tensors:
            if info.name not in self.owner:  # the index's names and the shards read disagree on depths
                raise CheckpointError(f"{self.label}: sampled tensor {info.name!r} is in no shard that was read")
            by_shard.setdefault(id(self.owner[info.name]), []).append(info)
        out: dict[str, np.ndarray] = {}
        for infos in by_shard.values():
            out.update(self.owner[infos[0].name].blocks(infos))
        return out


def shards_to_read(weight_map: dict[str, str]) -> list[str]:
    """The shards holding candidate sampled tensors, in file order."""
    return sorted({weight_map[name] for name in depth_names(weight_map)})


def infer_unread(known: dict[str, TensorInfo], names: list[str], total_size: object) -> dict[str, TensorInfo] | None:
    """Name -> info (offsets unknown, start 0) of the `names` not in `known`, each shaped like the same tensor of a
    layer that was read; None when one has no such twin or the sizes do not add up to the index's `total_size`."""
    twins: dict[tuple[str, str], TensorInfo] = {}
    for info in known.values():
        if match := LAYER.match(info.name):
            twins.setdefault((match["stack"], match["rest"]), info)
    out = {}
    for name in names:
        if name in known:
            continue
        match = LAYER.match(name)
        twin = twins.get((match["stack"], match["rest"])) if match else None
        if twin is None:
            return None
        out[name] = TensorInfo(name, twin.dtype, twin.shape, 0, twin.nbytes)
    accounted = sum(info.nbytes for info in known.values()) + sum(info.nbytes for info in out.values())
    return out if isinstance(total_size, int) and accounted == total_size else None


def partial_signature(source: HubSource, model_id: str, sha: str, siblings: list[str]) -> PartialResult:
    files = repo_files(model_id, siblings)
    traffic = Traffic()
    if files.kind == "adapter":
        return _adapter(source, model_id, sha, files, traffic)
    config = read_json(source, model_id, files.config, sha, traffic)
    weight_map: dict[str, str] = {}
    total_size: object = None
    if files.index:
        index = read_json(source, model_id, files.index, sha, traffic)
        every = shard_names(model_id, index, siblings)
        weight_map, total_size = index["weight_map"], (index.get("metadata") or {}).get("total_size")
        first = shards_to_read(weight_map)
    else:
        every = first = list(files.weights)
    shards: dict[str, RemoteSafetensors] = {}

    def read_headers(names: list[str]) -> None:
        for name in names:
            remote = source.resolve(model_id, name, sha)
            traffic.add(0)  # the HEAD
            shards[name] = RemoteSafetensors(source, remote, traffic, f"{model_id}/{name}")

    read_headers(first)
    known = shard_tensors(model_id, shards, weight_map)
    inferred = infer_unread(known, list(weight_map), total_size) if len(shards) < len(every) else {}
    if inferred is None:  # heterogeneous layers or no total_size: read every header instead of guessing
        read_headers([name for name in every if name not in shards])
        shard_tensors(model_id, shards, weight_map)
        inferred = {}
    return _signature(model_id, sha, config, files, shards, inferred, traffic)


def shard_tensors(model_id: str, shards: dict[str, RemoteSafetensors], weight_map: dict[str, str]
                  ) -> dict[str, TensorInfo]:
    """Every tensor of the shards read, each in one shard and where the index says."""
    known: dict[str, TensorInfo] = {}
    for name, shard in shards.items():
        for tensor, info in shard.tensors.items():
            if tensor in known:
                raise CheckpointError(f"{model_id}: tensor {tensor!r} appears in two shards")
            if weight_map and weight_map.get(tensor) != name:
                raise CheckpointError(f"{model_id}: tensor {tensor!r} is in {name}, the index says "
                                      f"{weight_map.get(tensor)}")
            known[tensor] = info
    return known


def _signature(model_id: str, sha: str, config: dict, files: RepoFiles,
                           shards: dict[str, RemoteSafetensors], inferred: dict[str, TensorInfo],
                           traffic: Traffic) -> PartialResult:
    remote = RemoteSource(model_id, shards, inferred)
    check_config(config, {name: info.shape for name, info in remote.tensors.items()}, model_id)
    digests = [{"name": r.file.name, "bytes": r.file.size, "etag": r.file.etag} for r in shards.values()]
    signature = sampled_signature(remote, sha=sha, files=digests,
                                  meta={"headers_read": len(shards), "shapes_inferred": len(inferred)})
    # unread shards count by their tensors' bytes (their headers, a few kB, are not known)
    weight_bytes = sum(r.file.size for r in shards.values()) + sum(info.nbytes for info in inferred.values())
    return PartialResult(signature, config, files, weight_bytes, traffic)


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
    signature.revision = signature.sha = sha
    signature.meta["fingerprint"] = "whole-adapter"
    return PartialResult(signature, config, files, weight_bytes, traffic)
