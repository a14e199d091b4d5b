"""A model folder laid out like a Hub repo: full model (single or sharded) or PEFT adapter.

Only safetensors are read. A folder whose weights exist only as pickle files is reported as unsupported and is never
opened, since unpickling runs arbitrary code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from hubindex.checkpoint.safetensors_file import SafetensorsFile, TensorInfo
from hubindex.checkpoint.writer import INDEX_FILE, SINGLE_FILE
from hubindex.errors import CheckpointError, UnsupportedFormatError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
                   "vocab.json", "merges.txt", "chat_template.jinja")


def read_json(path: Path) -> dict:
    """Read a JSON object file with an error that names the file."""
    try:
        value = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path.parent}: missing {path.name}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return value


@dataclass
class ModelFolder:
    """Validated view of a checkpoint folder. Open with `ModelFolder.open(path)`."""

    path: Path
    kind: Literal["model", "adapter"]
    config: dict | None
    files: list[SafetensorsFile]
    tensors: dict[str, TensorInfo]
    _owner: dict[str, SafetensorsFile]

    @classmethod
    def open(cls, path: str | Path, require_config: bool = True) -> ModelFolder:
        path = Path(path)
        if not path.is_dir():
            raise CheckpointError(f"{path}: not a model folder (no such directory)")
        if (path / ADAPTER_CONFIG).exists():
            kind: Literal["model", "adapter"] = "adapter"
            config = read_json(path / ADAPTER_CONFIG)
            names = _require_safetensors(path, [ADAPTER_WEIGHTS])
        else:
            kind = "model"
            config = read_json(path / "config.json") if require_config or (path / "config.json").exists() else None
            names = _weight_file_names(path)
        files = [SafetensorsFile(path / name) for name in names]
        owner: dict[str, SafetensorsFile] = {}
        for file in files:
            for name in file.tensors:
                if name in owner:
                    raise CheckpointError(f"{path}: tensor {name!r} appears in two shards")
                owner[name] = file
        if (path / INDEX_FILE).exists():
            _check_index(path, owner)
        tensors = {name: f.tensors[name] for name, f in owner.items()}
        return cls(path, kind, config, files, tensors, owner)

    def read(self, name: str) -> torch.Tensor:
        try:
            return self._owner[name].read(name)
        except KeyError:
            raise CheckpointError(f"{self.path}: no tensor named {name!r}") from None

    def layout(self) -> list[tuple[str, str, tuple[int, ...]]]:
        """Names, dtypes and shapes in file order: what merges and fingerprints compare."""
        return [(t.name, t.dtype, t.shape) for f in self.files for t in f.tensors.values()]

    @property
    def nbytes(self) -> int:
        return sum(f.size for f in self.files)

    def tokenizer_files(self) -> list[Path]:
        return self.tokenizer_files_in(self.path)

    @staticmethod
    def tokenizer_files_in(path: Path) -> list[Path]:
        return [Path(path) / n for n in TOKENIZER_FILES if (Path(path) / n).is_file()]


def _require_safetensors(path: Path, names: list[str]) -> list[str]:
    missing = [n for n in names if not (path / n).is_file()]
    if missing:
        pickles = sorted(p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
        if pickles:
            raise UnsupportedFormatError(
                f"{path}: weights only in pickle format ({', '.join(pickles)}); "
                "hubindex loads safetensors only and never unpickles"
            )
        raise CheckpointError(f"{path}: missing weight file(s) {', '.join(missing)}")
    return names


def _weight_file_names(path: Path) -> list[str]:
    if (path / INDEX_FILE).exists():
        index = read_json(path / INDEX_FILE)
        weight_map = index.get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise CheckpointError(f"{path / INDEX_FILE}: no weight_map")
        shards = sorted(set(weight_map.values()))
        for shard in shards:
            if not isinstance(shard, str) or "/" in shard or "\\" in shard or shard.startswith("."):
                raise CheckpointError(f"{path / INDEX_FILE}: invalid shard file name {shard!r}")
        return _require_safetensors(path, shards)
    if (path / SINGLE_FILE).exists():
        return [SINGLE_FILE]
    return _require_safetensors(path, [SINGLE_FILE])


def _check_index(path: Path, owner: dict[str, SafetensorsFile]) -> None:
    weight_map: dict[str, str] = read_json(path / INDEX_FILE)["weight_map"]
    for name, shard in weight_map.items():
        actual = owner.get(name)
        if actual is None or actual.path.name != shard:
            raise CheckpointError(f"{path}: index places {name!r} in {shard}, but that shard does not hold it")
    extra = sorted(set(owner) - set(weight_map))
    if extra:
        raise CheckpointError(f"{path}: shards hold tensors the index does not list, e.g. {extra[0]!r}")
