"""Remove every declared lineage hint from a model folder, so lineage can only come from the weights."""

from __future__ import annotations

import json
from pathlib import Path

from hubindex.card import read_card, write_card
from hubindex.checkpoint.folder import ADAPTER_CONFIG
from hubindex.train.merge.executor import RECIPE_FILE

LINEAGE_KEYS = ("base_model", "base_model_relation", "datasets")
KEPT_TAGS = frozenset({"hubindex"})  # tags such as a domain, "lora", "merge" or "8-bit" give the answer away


def strip_metadata(folder: Path) -> None:
    folder = Path(folder)
    meta, _ = read_card(folder)
    meta = {k: v for k, v in meta.items() if k not in LINEAGE_KEYS}
    meta["tags"] = [t for t in meta.get("tags", []) if t in KEPT_TAGS]
    meta.pop("library_name", None)  # "peft" would name the relation
    write_card(folder, meta, f"# {folder.name}\n\nA model.")
    (folder / RECIPE_FILE).unlink(missing_ok=True)
    adapter = folder / ADAPTER_CONFIG
    if adapter.exists():
        config = json.loads(adapter.read_text())
        config["base_model_name_or_path"] = None
        adapter.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    for name in ("config.json", "tokenizer_config.json"):
        path = folder / name
        if path.exists():
            config = json.loads(path.read_text())
            if config.pop("_name_or_path", None) is not None or config.pop("name_or_path", None) is not None:
                path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
