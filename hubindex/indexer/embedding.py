"""Delta Activations planning (owner side) and probe runs (worker side).

`stale` lists catalog models whose embedding is missing or out of date; `delta_activation` computes one model's
embedding from folders alone, so it runs on any worker. A base's probe features are cached per process (keyed on
its revision), so embedding a family computes them once. An adapter is applied in memory (peft) on the model its
base resolution chose.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from hubindex.catalog import Catalog
from hubindex.embed.activations import ProbeModel, load_probe_model, probe_features
from hubindex.embed.methods import EmbeddingMethod, get_method
from hubindex.errors import HubindexError

BASES_CACHED = 4  # probe features of a few bases per process: jobs arrive sorted by base


def local_folder(model_id: str, folder: str | None) -> Path:
    if not folder:
        raise HubindexError(f"{model_id}: no local copy of its weights to run probes on")
    return Path(folder)


def probe_model(model_id: str, folder: str | None, kind: str, applied_on: tuple[str, str | None] | None,
                tokenizer_from: Path | None = None) -> ProbeModel:
    """A model ready for probes; an adapter is applied on `applied_on` = (base id, base folder)."""
    if kind == "adapter":
        if applied_on is None:
            raise HubindexError(f"{model_id}: adapter without a known base model")
        return load_probe_model(local_folder(model_id, folder), local_folder(*applied_on), tokenizer_from)
    return load_probe_model(local_folder(model_id, folder), tokenizer_from=tokenizer_from)


@torch.inference_mode()
def probe_loss(probe: ProbeModel, prompts: tuple[str, ...]) -> float:
    """Mean next-token loss on the probes: how well a model (or adapter on a candidate base) models text."""
    batch = probe.tokenizer(list(prompts), return_tensors="pt", padding=True, truncation=True, max_length=256)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    out = probe.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels)
    return float(out.loss)


@lru_cache(maxsize=BASES_CACHED)
def base_features(base_id: str, folder: str | None, revision: str, method_name: str) -> dict[str, torch.Tensor]:
    """Probe features of a base at a revision (the revision is part of the cache key: new weights, new features)."""
    method = get_method(method_name)
    return probe_features(load_probe_model(local_folder(base_id, folder)), method.probes, method.batch_size)


def delta_activation(method: EmbeddingMethod, model_id: str, folder: str | None, kind: str,
                     applied_on: tuple[str, str | None] | None, base_id: str, base_folder: str | None,
                     base_revision: str) -> np.ndarray:
    try:
        base = base_features(base_id, base_folder, base_revision, method.name)
    except HubindexError as exc:
        raise HubindexError(f"base {base_id}: {exc}") from None
    # The base's tokenizer reads every model's probes (see load_probe_model): same token ids across the family.
    probe = probe_model(model_id, folder, kind, applied_on, local_folder(base_id, base_folder))
    features = probe_features(probe, method.probes, method.batch_size)
    return method.delta(features, base)


def embedding_base(row: dict) -> str | None:
    """The model a Delta Activation is taken against: the family's root, for adapters too. An adapter is applied on
    the base it was trained on (a finetune, maybe) but compared with the root like every other member: against a
    finetune base its own increment is near null on realistic seed 101 (`similar` refuses it), while against the
    root it carries its domain, like the finetunes it is compared with."""
    if row["kind"] == "adapter" and row["family"]:
        return row["family"]
    return row["base"]


def applied_on(catalog: Catalog, row: Mapping) -> str | None:
    """The model an adapter is applied on for its probes (None for a full model)."""
    return catalog.applied_base(row) if row["kind"] == "adapter" else None


def applied_state(catalog: Catalog, row: Mapping) -> tuple[str, str] | None:
    """(model, revision) an adapter's vector must have been taken on, as the catalog stands; None for a full model
    (or an adapter whose base is not indexed)."""
    on = applied_on(catalog, row)
    applied = catalog.model(on) if on else None
    return (applied["id"], applied["revision"]) if applied is not None else None


def stale(catalog: Catalog, method: EmbeddingMethod) -> list[dict]:
    """Models whose embedding is missing or was taken from other weights: another revision of the model or of the
    base it is compared with, another base, or (an adapter) another model it was applied on, which lineage may
    move after the adapter was embedded (an adapter embedded before that was recorded is embedded again once)."""
    todo = []
    for row in catalog.models(ok_only=True):
        against = embedding_base(row)
        if row["status"] != "indexed" or not row["base"] or not against:
            continue
        base = catalog.model(against)
        have = catalog.embedding(row["id"], method.name)
        if base is None:
            continue
        if have is None or have.revision != row["revision"] or have.base_revision != base["revision"] \
                or have.base != against or (have.applied_on, have.applied_revision) != (
                    applied_state(catalog, row) or (None, None)):
            todo.append(row)
    return sorted(todo, key=lambda r: (embedding_base(r), r["id"]))  # by base: each base's features computed once
