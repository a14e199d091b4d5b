"""A model folder laid out like a Hub repo: full model (single or sharded) or PEFT adapter.

Only safetensors are read. A folder whose weights exist only as pickle files is reported as unsupported and is never
opened, since unpickling runs arbitrary code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from hubindex.checkpoint.safe_read import check_folder
from hubindex.checkpoint.safe_read import read_json as _read_json
from hubindex.checkpoint.safetensors_file import SafetensorsFile, TensorInfo
from hubindex.checkpoint.writer import INDEX_FILE, SINGLE_FILE
from hubindex.errors import CheckpointError, UnsupportedFormatError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
                   "vocab.json", "merges.txt", "chat_template.jinja")


TOKENIZER_JSON = ("tokenizer_config.json", "special_tokens_map.json")  # small enough to check at fingerprint time
_QUANT_METHOD = re.compile(r"[A-Za-z0-9_.-]{1,32}")  # gptq, awq, bitsandbytes, compressed-tensors, fp8, ...


def read_json(path: Path) -> dict:
    """Read a JSON object file of a model folder (regular file, within its cap and depth) naming the file."""
    return _read_json(Path(path), Path(path).parent)


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
        check_folder(path)  # no FIFO, device, socket, link out of the folder or oversized file, before any read
        if (path / ADAPTER_CONFIG).exists():
            kind: Literal["model", "adapter"] = "adapter"
            config = read_json(path / ADAPTER_CONFIG)
            names = _require_safetensors(path, [ADAPTER_WEIGHTS])
        else:
            kind = "model"
            config = read_json(path / "config.json") if require_config or (path / "config.json").exists() else None
            names = _weight_file_names(path)
        files = [SafetensorsFile(path / name, path) for name in names]
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

    @property
    def quantization(self) -> str | None:
        """The quant_method of a `quantization_config` in config.json ("unknown" when it names none), else None."""
        found = (self.config or {}).get("quantization_config") if self.kind == "model" else None
        if found is None:
            return None
        method = found.get("quant_method") if isinstance(found, dict) else None
        return method if isinstance(method, str) and _QUANT_METHOD.fullmatch(method) else "unknown"

    def tokenizer_problem(self) -> str | None:
        """Why Delta Activations cannot load this folder's tokenizer, as far as reading its small files tells."""
        if not self.tokenizer_files():
            return "no tokenizer files: Delta Activations need one"
        for name in TOKENIZER_JSON:
            if (self.path / name).exists():
                try:
                    read_json(self.path / name)
                except CheckpointError as exc:
                    return f"tokenizer does not load: {exc}"
        return None

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
