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
from operator import itemgetter
from typing import Any, ClassVar, NamedTuple

import numpy as np

from hubindex.status import OK_STATUSES, BaseSource, CrawlStatus, ModelKind, ModelStatus, Relation


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
    applied_on: str | None  # an adapter: the model it was applied on (None for a full model)
    applied_revision: str | None  # that model's revision


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
    _NAMES: ClassVar[tuple[str, ...]]  # the fields but `extra`, in order (set by `_columns`)
    _FIELDS: ClassVar[frozenset[str]]
    extra: dict

    def __getitem__(self, key: str) -> Any:
        if key in self._FIELDS:
            return getattr(self, key)
        return self.extra[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._NAMES
        yield from self.extra

    def __len__(self) -> int:
        return len(self._NAMES) + len(self.extra)

    @classmethod
    def from_rows(cls, columns: list[str], rows: list[tuple]) -> list:
        """Records from a query's column names and value tuples: named columns as fields (a field the query did
        not select is None), the others in `extra`. One positional call per row: keyword arguments cost several
        times more, and the whole catalog is read this way (families, lineage)."""
        at = {name: i for i, name in enumerate(columns)}
        pick = itemgetter(*(at.get(name, len(columns)) for name in cls._NAMES))  # len(columns): the None pad
        others = [(name, i) for name, i in at.items() if name not in cls._FIELDS]
        return [cls(*pick((*row, None)), {name: row[i] for name, i in others}) for row in rows]


def _columns(cls: type[ColumnMapping]) -> type[ColumnMapping]:
    cls._NAMES = tuple(f.name for f in fields(cls) if f.name != "extra")
    cls._FIELDS = frozenset(cls._NAMES)
    return cls


_STATUSES = {s.value: s for s in ModelStatus}  # a dict lookup: a twentieth of an Enum call, once per row read
_KINDS = {k.value: k for k in ModelKind}
_SOURCES = {s.value: s for s in BaseSource}
_RELATIONS = {r.value: r for r in Relation}
_CRAWL_STATUSES = {s.value: s for s in CrawlStatus}


@_columns
@dataclass(slots=True, eq=False)
class ModelRecord(ColumnMapping):
    """One row of `models`: a model at its indexed revision, its declared metadata and where lineage placed it.

    Not frozen, unlike the other records: a frozen dataclass sets each of its 26 fields through
    object.__setattr__, five times the cost of this one's constructor on whole-catalog reads. Treat it as
    read-only all the same (the catalog writes through its own methods)."""

    id: str
    revision: str | None  # None for a model recorded only as a failure
    source: str  # the root folder it was found under, or the hub's endpoint
    path: str | None  # its folder (None for a hub repo read by range requests)
    kind: ModelKind | None
    status: ModelStatus
    error: str | None
    architecture: str | None
    model_type: str | None
    layout: str | None
    params: int | None
    dtype: str | None
    files: list[dict] | None  # None when read without it (`Catalog.models()`)
    file_stamp: str | None
    declared_base: list[str] | None
    declared_relation: str | None
    adapter_base: str | None
    tags: list[str] | None
    created_at: datetime | None
    family: str | None
    base: str | None
    base_source: BaseSource | None
    indexed_at: datetime
    card_text: str | None  # None when read without it (`Catalog.models()`)
    base_margin: float | None
    base_alignment: float | None  # the gradient alignment of the adapter's base (migration 013)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Enums from the stored strings (StrEnum: equal to, and hashing like, the strings older readers compare).
        self.status = _STATUSES[self.status]
        if self.kind is not None:
            self.kind = _KINDS[self.kind]
        if self.base_source is not None:
            self.base_source = _SOURCES[self.base_source]
        if isinstance(self.files, str):
            self.files = json.loads(self.files)

    @property
    def ok(self) -> bool:
        """Has a signature (indexed, or weights only)."""
        return self.status in OK_STATUSES


@_columns
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


@_columns
@dataclass(slots=True, eq=False)
class TensorStatRecord(ColumnMapping):
    """One row of `tensor_stats`: a tensor's dtype, shape and summary statistics (None where it has no values to
    summarize). Readable by column too, for the lineage engine's readers."""

    name: str
    dtype: str
    shape: list[int]
    numel: int
    l2: float | None
    mean: float | None
    std: float | None
    absmax: float | None
    kurtosis: float | None
    extra: dict = field(default_factory=dict)


@_columns
@dataclass(slots=True, eq=False)
class HubRecord(ColumnMapping):
    """One row of `hub_models`: what a crawl saw of a hub repo at a commit, and how fingerprinting it went. Readable
    by column too (the crawl's tests and callers written against the dicts handed out before)."""

    id: str
    endpoint: str
    sha: str | None
    status: CrawlStatus
    reason: str | None
    author: str | None
    pipeline_tag: str | None
    library_name: str | None
    gated: str | None  # "false" | "auto" | "manual", as the Hub says
    private: bool | None
    created_at: datetime | None
    last_modified: datetime | None
    downloads: int | None
    likes: int | None
    tags: list[str] | None
    base_models: list[str] | None
    base_relation: str | None
    card_data: dict | None  # None when read without it (`hub_rows`)
    siblings: list[str] | None
    bytes_total: int | None
    bytes_fetched: int | None
    requests: int | None
    crawled_at: datetime
    created_source: str | None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.status = _CRAWL_STATUSES[self.status]
        if isinstance(self.card_data, str):
            self.card_data = json.loads(self.card_data) if self.card_data else {}
