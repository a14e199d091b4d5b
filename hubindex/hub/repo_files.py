"""Which files of a hub repo hold its weights, decided from the file list alone (before anything is fetched).

Only safetensors are ever read: a repo whose weights exist only as pickle files (`.bin`, `.pt`, ...) or GGUF, a model
without config.json and a repo with no weight file at all are unsupported, decided without requesting any of its
files (the outcome holds until the repo's commit changes). File names are validated first: a listing is data a repo
owner controls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hubindex.checkpoint.folder import ADAPTER_CONFIG, ADAPTER_WEIGHTS, PICKLE_SUFFIXES
from hubindex.checkpoint.writer import INDEX_FILE, SINGLE_FILE
from hubindex.errors import CheckpointError, UnsupportedFormatError
from hubindex.ids import validate_repo_filename


@dataclass(frozen=True)
class RepoFiles:
    kind: Literal["model", "adapter"]
    weights: list[str]  # safetensors files to read (shards: filled in from the index)
    index: str | None  # shard index to read first
    config: str  # config.json or adapter_config.json


def repo_files(model_id: str, siblings: list[str]) -> RepoFiles:
    names = {validate_repo_filename(n) for n in siblings}
    if ADAPTER_CONFIG in names:
        if ADAPTER_WEIGHTS not in names:
            _no_safetensors(model_id, names, ADAPTER_WEIGHTS)
        return RepoFiles("adapter", [ADAPTER_WEIGHTS], None, ADAPTER_CONFIG)
    if INDEX_FILE not in names and SINGLE_FILE not in names:
        _no_safetensors(model_id, names, SINGLE_FILE)
    if "config.json" not in names:
        raise UnsupportedFormatError(f"{model_id}: no config.json beside the safetensors weights; hubindex needs a "
                                     "transformers config to read a model")
    if INDEX_FILE in names:
        return RepoFiles("model", [], INDEX_FILE, "config.json")
    return RepoFiles("model", [SINGLE_FILE], None, "config.json")


def _no_safetensors(model_id: str, names: set[str], wanted: str) -> None:
    pickles = sorted(n for n in names if n.endswith(PICKLE_SUFFIXES))
    if pickles:
        raise UnsupportedFormatError(f"{model_id}: weights only in pickle format ({', '.join(pickles)}); "
                                     "hubindex reads safetensors only and never unpickles")
    gguf = sorted(n for n in names if n.endswith(".gguf"))
    if gguf:
        raise UnsupportedFormatError(f"{model_id}: weights only in GGUF ({', '.join(gguf[:3])}"
                                     f"{', ...' if len(gguf) > 3 else ''}); hubindex reads safetensors only")
    raise UnsupportedFormatError(f"{model_id}: no weight files ({wanted} is not in the repo)")


def shard_names(model_id: str, index: dict, siblings: list[str]) -> list[str]:
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise CheckpointError(f"{model_id}/{INDEX_FILE}: no weight_map")
    shards = sorted(set(weight_map.values()))
    for shard in shards:
        if not isinstance(shard, str) or "/" in shard or not shard.endswith(".safetensors"):
            raise CheckpointError(f"{model_id}/{INDEX_FILE}: invalid shard file name {shard!r}")
        validate_repo_filename(shard)
        if shard not in siblings:
            raise CheckpointError(f"{model_id}/{INDEX_FILE}: shard {shard} is not in the repo")
    return shards
