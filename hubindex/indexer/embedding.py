"""Compute Delta Activations for catalog models whose embedding is missing or stale.

Models are grouped by base, so each base's probe features are computed once per method. An adapter is applied in
memory (peft) to the model it declares, else to its family root.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from hubindex.catalog import Catalog
from hubindex.embed.activations import ProbeModel, load_probe_model, probe_features
from hubindex.embed.methods import EmbeddingMethod
from hubindex.errors import HubindexError


def _path(row: dict) -> Path:
    if not row.get("path"):
        raise HubindexError(f"{row['id']}: no local copy of its weights to run probes on")
    return Path(row["path"])


def probe_model_for(catalog: Catalog, row: dict) -> ProbeModel:
    if row["kind"] == "adapter":
        applied = catalog.applied_base(row)
        if applied is None:
            raise HubindexError(f"{row['id']}: adapter without a known base model")
        return load_probe_model(_path(row), _path(catalog.require(applied)))
    return load_probe_model(_path(row))


@torch.inference_mode()
def probe_loss(probe: ProbeModel, prompts: tuple[str, ...]) -> float:
    """Mean next-token loss on the probes: how well a model (or adapter on a candidate base) models text."""
    batch = probe.tokenizer(list(prompts), return_tensors="pt", padding=True, truncation=True, max_length=256)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    out = probe.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels)
    return float(out.loss)


def stale(catalog: Catalog, method: EmbeddingMethod) -> list[dict]:
    todo = []
    for row in catalog.models(ok_only=True):
        if row["status"] != "indexed" or not row["base"]:
            continue
        base = catalog.model(row["base"])
        have = catalog.embedding(row["id"], method.name)
        if base is None:
            continue
        if have is None or have["revision"] != row["revision"] or have["base_revision"] != base["revision"] \
                or have["base"] != row["base"]:
            todo.append(row)
    return todo


def embed_models(catalog: Catalog, method: EmbeddingMethod, rows: list[dict],
                 on_error: Callable[[dict, str], None], advance: Callable[[], None] = lambda: None) -> int:
    done = 0
    by_base: dict[str, list[dict]] = {}
    for row in rows:
        by_base.setdefault(row["base"], []).append(row)
    for base_id, members in sorted(by_base.items()):
        base = catalog.require(base_id)
        try:
            base_features = probe_features(load_probe_model(_path(base)), method.probes, method.batch_size)
        except HubindexError as exc:
            for row in members:
                on_error(row, f"base {base_id}: {exc}")
                advance()
            continue
        for row in members:
            try:
                features = probe_features(probe_model_for(catalog, row), method.probes, method.batch_size)
                catalog.save_embedding(row["id"], method.name, row["revision"], base_id, base["revision"],
                                       method.delta(features, base_features))
                done += 1
            except HubindexError as exc:
                on_error(row, str(exc))
            advance()
    return done
