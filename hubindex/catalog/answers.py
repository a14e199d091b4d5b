"""Typed answers of the catalog queries: what `hubindex show|similar|index` print with --json (schemas/)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from hubindex.status import BaseSource, ModelKind, ModelStatus

# The catalog stores naive UTC times; answers carry the zone so they are RFC 3339 date-times ("...Z").
UtcDatetime = Annotated[datetime, AfterValidator(lambda d: d if d.tzinfo else d.replace(tzinfo=UTC))]


class SimilarHit(BaseModel):
    model: str
    score: float = Field(description="higher is closer: cosine of deltas, or 1 - relative weight distance")
    by: Literal["delta", "weights"]
    distance: float = Field(description="delta: cosine distance; weights: estimated L2 distance of all weights")
    family: str | None
    kind: ModelKind | None


class FileEntry(BaseModel):
    name: str
    bytes: int
    xxh3_128: str


class TensorEntry(BaseModel):
    name: str
    dtype: str
    shape: list[int]
    numel: int
    l2: float | None
    mean: float | None
    std: float | None
    absmax: float | None
    kurtosis: float | None


class Declared(BaseModel):
    base_model: list[str] | None
    relation: str | None
    adapter_base: str | None


class EmbeddingEntry(BaseModel):
    method: str
    dim: int
    norm: float
    base: str


class ModelView(BaseModel):
    """Everything the catalog holds about one model."""

    id: str
    revision: str | None
    status: ModelStatus
    error: str | None
    source: str
    path: str | None
    kind: ModelKind | None
    architecture: str | None
    model_type: str | None
    layout: str | None
    params: int | None
    dtype: str | None
    files: list[FileEntry]
    declared: Declared
    tags: list[str]
    created_at: UtcDatetime | None
    family: str | None
    base: str | None
    base_source: BaseSource | None
    samples: int = Field(description="sampled weight coordinates in the signature")
    embeddings: list[EmbeddingEntry]
    tensors: list[TensorEntry]


class ModelSummary(BaseModel):
    """One row of a model listing or search: what a table of models shows."""

    id: str
    status: ModelStatus
    kind: ModelKind | None
    architecture: str | None
    model_type: str | None
    params: int | None
    dtype: str | None
    family: str | None
    base: str | None
    tags: list[str]
    created_at: UtcDatetime | None


class ModelPage(BaseModel):
    """`GET /models`: one page of models matching the filters, ordered by id."""

    items: list[ModelSummary]
    total: int = Field(description="models matching the filters, over all pages")
    page: int = Field(ge=1)
    page_size: int = Field(ge=1)


class SearchHit(BaseModel):
    model: ModelSummary
    score: float = Field(description="weighted term matches: id 3, tag 2, card text 1 per query term")
    matched: list[Literal["id", "tags", "card"]] = Field(description="fields in which some query term occurs")
    snippet: str | None = Field(description="card text around the first matching term")


class Reindexed(BaseModel):
    """`hubindex reindex --json`: the FAISS spaces rebuilt from the catalog tables."""

    db: str
    spaces_dir: str
    spaces: dict[str, int] = Field(description="space name -> vectors")
    vectors: int
