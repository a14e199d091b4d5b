"""Re-saves that keep the weights' identity: dtype conversion and an 8-bit quantized re-save, both streamed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from hubindex.card import lineage_meta, write_card
from hubindex.checkpoint import ModelFolder, PlannedTensor, ShardedWriter
from hubindex.checkpoint.dtypes import CONFIG_NAMES, FLOAT_CODES, code_for, torch_dtype
from hubindex.checkpoint.staging import staged_dir
from hubindex.train.outputs import copy_side_files, set_config_dtype


def quantize_int8_rows(weight: torch.Tensor) -> torch.Tensor:
    """Symmetric round-to-nearest int8 per output row, dequantized: what an 8-bit re-save keeps of a matrix."""
    w = weight.float()
    scale = w.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127.0
    return (w / scale).round().clamp(-127, 127) * scale


def _stream(source: Path, out: Path, dtype: str, transform: Callable[[str, torch.Tensor], torch.Tensor],
            card: dict, body: str, max_shard_bytes: int | None, overwrite: bool) -> None:
    folder = ModelFolder.open(source)
    plan = [PlannedTensor(n, dtype if d in FLOAT_CODES else d, s) for n, d, s in folder.layout()]
    with staged_dir(Path(out), overwrite) as staging:
        with ShardedWriter(staging, plan, max_shard_bytes) as writer:
            for item in plan:
                tensor = transform(item.name, folder.read(item.name))
                writer.write(item.name, tensor.to(torch_dtype(item.dtype)))
        copy_side_files(folder, staging)
        set_config_dtype(staging, dtype)
        write_card(staging, card, body)


def convert_dtype(source: Path, out: Path, dtype: str, source_id: str, max_shard_bytes: int | None = None,
                  overwrite: bool = False) -> None:
    """A plain re-save in another dtype (e.g. bf16): the same model, so the card names the original."""
    code = code_for(dtype)
    card = {"library_name": "transformers", **lineage_meta([source_id], None), "tags": ["hubindex", dtype]}
    body = f"# {Path(out).name}\n\n`{source_id}` re-saved in {CONFIG_NAMES.get(code, code)}."
    _stream(Path(source), Path(out), code, lambda _n, t: t, card, body, max_shard_bytes, overwrite)


def quantize_int8(source: Path, out: Path, source_id: str, max_shard_bytes: int | None = None,
                  overwrite: bool = False) -> None:
    """8-bit round-to-nearest of every matrix, stored dequantized in fp16 so transformers loads it unchanged."""

    def transform(name: str, tensor: torch.Tensor) -> torch.Tensor:
        is_matrix = tensor.ndim == 2 and tensor.is_floating_point() and "embed" not in name and "wte" not in name
        return quantize_int8_rows(tensor) if is_matrix else tensor

    card = {"library_name": "transformers", **lineage_meta([source_id], "quantized"),
            "tags": ["hubindex", "8-bit", "quantized"]}
    body = f"# {Path(out).name}\n\n`{source_id}` quantized to 8 bits per row (round-to-nearest), stored as fp16."
    _stream(Path(source), Path(out), "F16", transform, card, body, max_shard_bytes, overwrite)
