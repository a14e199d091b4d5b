"""The catalog's closed vocabularies, defined once: a model's status and kind.

The catalog writes them, the API answers and the JSON schemas name them, the CLI shows them; a value written by
the indexer or the crawler that is missing here would make every answer listing that model fail validation.
"""

from __future__ import annotations

from enum import StrEnum


class ModelStatus(StrEnum):
    """What the catalog knows of a model. `indexed` and `weights_only` have a signature; the rest say why not."""

    INDEXED = "indexed"  # fingerprint and Delta Activations
    WEIGHTS_ONLY = "weights_only"  # fingerprint only (adapter without base, probes failed, partial hub fingerprint)
    ERROR = "error"  # corrupt, truncated or inconsistent files
    UNSUPPORTED = "unsupported"  # no safetensors weights (pickle only, GGUF, ...)
    GATED = "gated"  # hub repo that needs an access token
    MISSING = "missing"  # hub repo deleted or renamed (HTTP 404)
    INVALID = "invalid"  # an id that is not a valid hub id (the crawler does not record those, but may report them)

    @property
    def ok(self) -> bool:
        return self in OK_STATUSES


OK_STATUSES: tuple[ModelStatus, ...] = (ModelStatus.INDEXED, ModelStatus.WEIGHTS_ONLY)


class ModelKind(StrEnum):
    MODEL = "model"  # a full checkpoint
    ADAPTER = "adapter"  # a LoRA (or other PEFT) adapter applied on a base


def ok_sql() -> str:
    """`('indexed', 'weights_only')`: the ok statuses as an SQL list literal."""
    return "(" + ", ".join(f"'{s.value}'" for s in OK_STATUSES) + ")"
