"""What a model folder declares about itself: config, card and adapter config. Evidence, not truth."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime
from pathlib import Path

from hubindex.card import read_card
from hubindex.checkpoint import ModelFolder
from hubindex.checkpoint.folder import ADAPTER_CONFIG
from hubindex.checkpoint.safe_read import RefusedFile
from hubindex.errors import CheckpointError

CARD_TEXT_CHARS = 20_000  # enough for search; a hostile multi-megabyte README is not stored whole


def file_stamp(folder: Path) -> str:
    """Sizes and mtimes of every file that affects the index: equal stamps mean nothing to re-read."""
    entries = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file())
    return json.dumps(entries, separators=(",", ":"))


def _as_list(value: object) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def parse_timestamp(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
        except ValueError:
            return None
    return None


def declared_metadata(folder: ModelFolder) -> dict:
    """Catalog columns read from config.json, README.md front matter and adapter_config.json."""
    try:
        card, body = read_card(folder.path)
    except RefusedFile:
        raise  # a FIFO, a link out of the folder, an alias bomb: hostile, so the model is recorded as bad
    except CheckpointError:
        card, body = {}, ""  # a broken card is missing evidence, not a broken model
    return metadata_columns(card, folder.config or {}, folder.kind, body)


def metadata_columns(card: dict, config: dict, kind: str, body: str = "") -> dict:
    """The declared columns from a card (front matter and text) and a (model or adapter) config, wherever they
    were read."""
    row: dict = {
        "declared_base": _as_list(card.get("base_model")),
        "declared_relation": card.get("base_model_relation") if isinstance(card.get("base_model_relation"), str)
        else None,
        "tags": [str(t) for t in card.get("tags", [])] if isinstance(card.get("tags"), list) else [],
        "created_at": parse_timestamp(card.get("created_at")),
        "adapter_base": None,
        "architecture": None,
        "model_type": None,
        "card_text": body[:CARD_TEXT_CHARS] or None,
    }
    if kind == "adapter":
        base = config.get("base_model_name_or_path")
        row["adapter_base"] = base if isinstance(base, str) and base else None
        row["model_type"] = "peft-" + str(config.get("peft_type", "lora")).lower()
        return row
    architectures = config.get("architectures")
    if isinstance(architectures, list) and architectures:
        row["architecture"] = str(architectures[0])
    row["model_type"] = config.get("model_type") if isinstance(config.get("model_type"), str) else None
    return row


def dominant_dtype(dtypes: dict[str, int]) -> str | None:
    counts = Counter({k: v for k, v in dtypes.items() if v})
    return counts.most_common(1)[0][0] if counts else None


def has_adapter_config(path: Path) -> bool:
    return (path / ADAPTER_CONFIG).exists()
