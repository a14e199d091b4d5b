"""The jobs of an indexing run and their results, as typed, JSON-able models (`pipeline.stage` says how they travel).

A job names what to read (ids, paths, revision keys), never tensors; a result carries compact arrays (a signature's
samples and sketch, an embedding vector) packed as base64 float32.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, Field

from hubindex.pipeline.payload import Packed, SignaturePayload
from hubindex.pipeline.stage import Job, Result
from hubindex.status import ModelStatus


class FingerprintJob(Job):
    stage: ClassVar[str] = "fingerprint"

    model_id: str
    source: str
    folder: str
    stamp: str  # file sizes and mtimes when planned: the result is for exactly these files
    revision: str | None = None  # a hub commit (HF cache snapshot) recorded as the revision, else the weights' hash

    @property
    def key(self) -> str:
        return f"fingerprint:{self.model_id}"


class BasesJob(Job):
    """An adapter with several possible bases: score each candidate by gradient alignment (indexer/adapter_base)."""

    stage: ClassVar[str] = "bases"

    model_id: str
    revision: str
    folder: str | None
    kind: str
    method: str
    candidates: dict[str, str | None]  # candidate id -> its folder
    family: str | None
    base: str | None  # the assignment before probing, kept when no candidate loads
    source: str | None
    scores: dict[str, tuple[float, float]] = Field(default_factory=dict)  # weights' (continuation, offset cos)

    @property
    def key(self) -> str:
        return f"bases:{self.model_id}"


class EmbedJob(Job):
    stage: ClassVar[str] = "embed"

    model_id: str
    revision: str
    folder: str | None
    kind: str
    applied_on: tuple[str, str | None] | None  # an adapter's (base id, folder) it is applied on
    applied_revision: str | None = None  # that base's revision (recorded with the vector: indexer.embedding.stale)
    method: str
    base: str
    base_revision: str
    base_folder: str | None

    @property
    def key(self) -> str:
        return f"embed:{self.method}:{self.model_id}"

    @property
    def tally(self) -> str:
        return f"embed:{self.method}"


class ModelRow(BaseModel):
    """The catalog columns a fingerprint fills (besides those the signature gives)."""

    id: str
    source: str
    path: str
    file_stamp: str
    dtype: str | None
    declared_base: list[str] | None
    declared_relation: str | None
    tags: list[str]
    created_at: datetime | None
    adapter_base: str | None
    architecture: str | None
    model_type: str | None
    status: ModelStatus
    error: str | None
    card_text: str | None = None  # the README's text (front matter removed), for search


class Fingerprinted(BaseModel):
    row: ModelRow
    signature: SignaturePayload


class FingerprintResult(Result):
    stage: Literal["fingerprint"] = "fingerprint"
    job: FingerprintJob
    fingerprint: Fingerprinted | None = None


class BasesResult(Result):
    stage: Literal["bases"] = "bases"
    job: BasesJob
    losses: dict[str, float] | None = None  # probe loss per candidate base that loaded
    alignments: dict[str, float] | None = None  # gradient alignment per candidate base that loaded
    held_out: dict[str, list[float]] | None = None  # the same with each passage left out (adapter_choice.by_alignment)
    simulated: dict[str, float] | None = None  # alignment after simulated Adam steps (adapter_base.simulated_b)
    own: dict[str, list[float]] | None = None  # first step on the candidate's own passages: all, then each left out


class EmbedResult(Result):
    stage: Literal["embed"] = "embed"
    job: EmbedJob
    vector: Packed | None = None
