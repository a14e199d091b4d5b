"""Model cards: README.md with YAML front matter, as the Hub reads them (base_model, base_model_relation, tags)."""

from __future__ import annotations

from pathlib import Path

import yaml

from hubindex.checkpoint.safe_read import parse_yaml, read_capped
from hubindex.errors import CheckpointError

RELATIONS = ("adapter", "merge", "quantized", "finetune")  # the values the Hub accepts for base_model_relation


def read_card(folder: Path) -> tuple[dict, str]:
    """Return (front matter, body). A folder without README.md has an empty card."""
    path = Path(folder) / "README.md"
    if not path.exists():
        return {}, ""
    text = read_capped(path, Path(folder)).decode(errors="replace")  # a regular file inside the folder, capped
    if not text.startswith("---"):
        return {}, text
    end = text.find("\n---", 3)
    if end < 0:
        raise CheckpointError(f"{path}: front matter opened with '---' but never closed")
    meta = parse_yaml(text[3:end], f"{path}: front matter") or {}
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: front matter is not a mapping")
    return meta, text[end + 4 :].lstrip("\n")


def card_text(meta: dict, body: str) -> str:
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).strip()
    return f"---\n{front}\n---\n\n{body.strip()}\n"


def write_card(folder: Path, meta: dict, body: str) -> None:
    (Path(folder) / "README.md").write_text(card_text(meta, body))


def lineage_meta(parents: list[str], relation: str | None) -> dict:
    """The card keys that declare lineage: one id, or a list for merges."""
    if not parents:
        return {}
    meta: dict = {"base_model": parents[0] if len(parents) == 1 else list(parents)}
    if relation in RELATIONS:
        meta["base_model_relation"] = relation
    return meta
