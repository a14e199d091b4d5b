"""Typed rows the catalog hands out: its readers get named, typed fields (statuses, kinds and relations as the enums
of `hubindex.status`), never tuples or dicts keyed by column name.

Frozen slotted dataclasses, not pydantic models: the catalog builds one per row read, up to the whole catalog for
the atlas, and a dataclass costs a fraction of a validated model. Values come from our own tables (written through
the same vocabularies), so converting a column to its enum is the only check made here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import numpy as np

from hubindex.status import CrawlStatus, ModelKind, ModelStatus, Relation


def _kind(value: str | None) -> ModelKind | None:
    return None if value is None else ModelKind(value)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a model sits: its family and kind (what a list of hits shows beside each id)."""

    family: str | None
    kind: ModelKind | None

    @classmethod
    def of(cls, family: str | None, kind: str | None) -> Placement:
        return cls(family, _kind(kind))


@dataclass(frozen=True, slots=True)
class DeltaTarget:
    """What `similar --by delta` reads of the asking model: its state and its embedding by one method."""

    status: ModelStatus
    error: str | None
    family: str | None
    vector: np.ndarray | None  # None: no embedding by this method
    norm: float | None


@dataclass(frozen=True, slots=True)
class ModelBrief:
    """id, kind, status, family and tags: what views of the whole catalog (the atlas) read of every model."""

    id: str
    kind: ModelKind | None
    status: ModelStatus
    family: str | None
    tags: list[str]


@dataclass(frozen=True, slots=True)
class LineageEdge:
    """A model's parents as lineage inferred them, without the evidence."""

    model_id: str
    family: str
    parents: list[str]
    relation: Relation
    confidence: float


@dataclass(frozen=True, slots=True)
class LineageRecord(LineageEdge):
    """A model's lineage with the evidence behind it."""

    evidence: dict


@dataclass(frozen=True, slots=True)
class StoredParent:
    """One parent candidate ranked when lineage ran (best first), as `/parents` answers it."""

    candidate: str
    score: float
    distance: float | None
    allowed: bool
    evidence: dict


@dataclass(frozen=True, slots=True)
class EmbeddingRecord:
    """A model's Delta Activations by one method's current recipe, against a base at a revision."""

    model_id: str
    method: str
    revision: str  # the model's revision it was computed from
    base: str
    base_revision: str
    vector: np.ndarray | None  # None when read without vectors (norms only)
    norm: float
    recipe: str


@dataclass(frozen=True, slots=True)
class MemberEmbedding(EmbeddingRecord):
    """An embedding with its model's family, as the FAISS spaces and the atlas group them."""

    family: str | None


# Hub crawl state (`hub_models`, `hub_crawl_cursors`). Named tuples: the crawler unpacks them like the pairs and
# quadruples they replace.
class SeenCommit(NamedTuple):
    """The commit a hub repo was last crawled at, and how that went."""

    sha: str | None
    status: CrawlStatus


class ListingCursor(NamedTuple):
    """Where an interrupted listing continues, and how many repos it had recorded."""

    next_url: str
    listed: int


class PartialRepo(NamedTuple):
    """A repo whose current commit has only a partial signature: what `crawl --full` downloads."""

    id: str
    sha: str
    weight_bytes: int
    created_at: datetime | None
