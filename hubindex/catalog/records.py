"""Typed rows the catalog hands out: its readers get named, typed fields (statuses, kinds and relations as the enums
of `hubindex.status`), never tuples or dicts keyed by column name.

Frozen slotted dataclasses, not pydantic models: the catalog builds one per row read, up to the whole catalog for
the atlas, and a dataclass costs a fraction of a validated model. Values come from our own tables (written through
the same vocabularies), so converting a column to its enum is the only check made here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np

from hubindex.status import BaseSource, CrawlStatus, ModelKind, ModelStatus, Relation


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


class ColumnMapping(Mapping):
    """Read-only `row["column"]` access to a record, for code written against the dicts the catalog used to hand
    out: the lineage engine (`Family.rows`: ~140 reads by key, edited by other hands) and rows its tests build as
    dicts. New code reads attributes. Columns the record does not name yet (added by a later migration) are kept
    in `extra`, so reading them by key keeps working until they get a field."""

    __slots__ = ()
    extra: dict

    def __getitem__(self, key: str) -> Any:
        if key in self._names():
            return getattr(self, key)
        return self.extra[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._names()
        yield from self.extra

    def __len__(self) -> int:
        return len(self._names()) + len(self.extra)

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        names = cls.__dict__.get("_NAMES")
        if names is None:
            names = tuple(f.name for f in fields(cls) if f.name != "extra")
            type.__setattr__(cls, "_NAMES", names)
        return names

    @classmethod
    def from_row(cls, row: dict) -> Any:
        """A record from a `SELECT *` row (column -> value): named columns as fields, the rest in `extra`."""
        names = set(cls._names())
        return cls(**{k: v for k, v in row.items() if k in names},
                   extra={k: v for k, v in row.items() if k not in names})


@dataclass(frozen=True, slots=True, eq=False)
class ModelRecord(ColumnMapping):
    """One row of `models`: a model at its indexed revision, its declared metadata and where lineage placed it."""

    id: str
    source: str  # the root folder it was found under, or the hub's endpoint
    status: ModelStatus
    indexed_at: datetime
    revision: str | None = None  # None for a model recorded only as a failure
    path: str | None = None  # its folder (None for a hub repo read by range requests)
    kind: ModelKind | None = None
    error: str | None = None
    architecture: str | None = None
    model_type: str | None = None
    layout: str | None = None
    params: int | None = None
    dtype: str | None = None
    file_stamp: str | None = None
    declared_base: list[str] | None = None
    declared_relation: str | None = None
    adapter_base: str | None = None
    tags: list[str] | None = None
    created_at: datetime | None = None
    family: str | None = None
    base: str | None = None
    base_source: BaseSource | None = None
    base_margin: float | None = None
    files: list[dict] | None = None  # None when read without it (`Catalog.models()`)
    card_text: str | None = None  # idem
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Enums from the stored strings (StrEnum: equal to, and hashing like, the strings older readers compare).
        object.__setattr__(self, "status", ModelStatus(self.status))
        object.__setattr__(self, "kind", _kind(self.kind))
        if self.base_source is not None:
            object.__setattr__(self, "base_source", BaseSource(self.base_source))
        if isinstance(self.files, str):
            object.__setattr__(self, "files", json.loads(self.files) if self.files else [])

    @property
    def ok(self) -> bool:
        """Has a signature (indexed, or weights only)."""
        return self.status.ok


@dataclass(frozen=True, slots=True, eq=False)
class SignatureRecord(ColumnMapping):
    """A model's stored weight signature: sampled coordinates, layout sketch, the sampler's meta and tensor shapes."""

    model_id: str
    revision: str
    kind: ModelKind
    layout: str
    samples: np.ndarray  # float32
    sketch: np.ndarray  # float32
    meta: dict
    shapes: dict[str, tuple[int, ...]]  # tensor name -> shape, from `tensor_stats`
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ModelKind(self.kind))
        object.__setattr__(self, "samples", np.asarray(self.samples, dtype=np.float32))
        object.__setattr__(self, "sketch", np.asarray(self.sketch, dtype=np.float32))
        if not isinstance(self.meta, dict):
            object.__setattr__(self, "meta", json.loads(self.meta) if self.meta else {})


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
