"""The catalog's closed vocabularies, defined once: a model's status and kind, who chose its base, and the
relation lineage gives it to its parents.

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


class CrawlStatus(StrEnum):
    """A hub repo's crawl outcome at its listed commit (`hub_models.status`, the crawl report's models)."""

    LISTED = "listed"  # metadata read from the listing; weights not fingerprinted yet
    PARTIAL = "partial"  # fingerprinted from range reads of the hub (a partial signature)
    FULL = "full"  # downloaded and indexed like a local folder (`crawl --full`)
    UNCHANGED = "unchanged"  # this commit was crawled before: nothing fetched (report only)
    UNSUPPORTED = "unsupported"
    GATED = "gated"
    MISSING = "missing"
    ERROR = "error"
    INVALID = "invalid"  # an id that is no valid hub id (report only: never recorded)



class BaseSource(StrEnum):
    """Who chose a model's family and base (`models.base_source`)."""

    DECLARED = "declared"  # the card's base_model (or the adapter's config), and it is indexed
    WEIGHTS = "weights"  # nearest by weights (families: relative distance; adapters: shapes and fit)
    PROBE_LOSS = "probe-loss"  # an adapter's ambiguous base decided by the loss on the probes
    DECLARED_CHECKED = "declared-checked"  # the declared base, confirmed by the probe loss among the candidates
    GRADIENT = "gradient"  # an adapter's base: the shortlisted model whose first LoRA step the adapter follows best


class Relation(StrEnum):
    """How a model came from its parents, as lineage infers it."""

    ROOT = "root"
    FINETUNE = "finetune"
    ADAPTER = "adapter"
    MERGE = "merge"
    QUANTIZED = "quantized"
    COPY = "copy"


def ok_sql() -> str:
    """`('indexed', 'weights_only')`: the ok statuses as an SQL list literal."""
    return "(" + ", ".join(f"'{s.value}'" for s in OK_STATUSES) + ")"
