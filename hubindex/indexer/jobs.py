"""The units of work of an indexing run and their results, as small JSON-able objects.

A job names what to read (ids, paths, revision keys), never tensors; a result carries compact arrays (a signature's
samples and sketch, an embedding vector) packed as base64 float32. The same objects travel in-process and as queue
messages, so both paths run one piece of code per stage.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Literal

import numpy as np
from pydantic import BaseModel

from hubindex.fingerprint import WeightSignature
from hubindex.fingerprint.stats import TensorStats
from hubindex.hub.source import CrawlQuery
from hubindex.status import ModelStatus

Stage = Literal["fingerprint", "bases", "embed", "crawl"]
STAGES: tuple[Stage, ...] = ("fingerprint", "bases", "embed", "crawl")


class Packed(BaseModel):
    """A numpy array as JSON: dtype, shape and the raw little-endian bytes in base64 (no pickle)."""

    dtype: str
    shape: list[int]
    data: str

    @classmethod
    def of(cls, array: np.ndarray) -> Packed:
        array = np.ascontiguousarray(array)
        little = array.astype(array.dtype.newbyteorder("<"), copy=False)
        return cls(dtype=little.dtype.str, shape=list(array.shape), data=base64.b64encode(little.tobytes()).decode())

    def array(self) -> np.ndarray:
        return np.frombuffer(base64.b64decode(self.data), dtype=np.dtype(self.dtype)).reshape(self.shape).copy()


class FingerprintJob(BaseModel):
    model_id: str
    source: str
    folder: str
    stamp: str  # file sizes and mtimes when planned: the result is for exactly these files
    revision: str | None = None  # a hub commit (HF cache snapshot) recorded as the revision, else the weights' hash

    @property
    def key(self) -> str:
        return f"fingerprint:{self.model_id}"


class BasesJob(BaseModel):
    """An adapter with several possible bases: score each candidate by probe loss."""

    model_id: str
    revision: str
    folder: str | None
    kind: str
    method: str
    candidates: dict[str, str | None]  # candidate id -> its folder
    family: str | None
    base: str | None  # the assignment before probing, kept when no candidate loads
    source: str | None

    @property
    def key(self) -> str:
        return f"bases:{self.model_id}"


class EmbedJob(BaseModel):
    model_id: str
    revision: str
    folder: str | None
    kind: str
    applied_on: tuple[str, str | None] | None  # an adapter's (base id, folder) it is applied on
    method: str
    base: str
    base_revision: str
    base_folder: str | None

    @property
    def key(self) -> str:
        return f"embed:{self.method}:{self.model_id}"


class CrawlRequest(BaseModel):
    """A queued hub crawl: the hub (so workers on other machines use the same one) and the listing's filters."""

    endpoint: str
    query: CrawlQuery = CrawlQuery()


class CrawlJob(BaseModel):
    """Partial fingerprint of one listed repo commit by range reads (`hub.stages.fingerprint_stage`)."""

    model_id: str
    sha: str | None
    endpoint: str
    listed: dict  # hub.stages.Listed, as JSON

    @property
    def key(self) -> str:
        return f"crawl:{self.model_id}@{self.sha}"


Job = FingerprintJob | BasesJob | EmbedJob | CrawlJob
JOB_TYPES: dict[str, type[BaseModel]] = {"fingerprint": FingerprintJob, "bases": BasesJob, "embed": EmbedJob,
                                         "crawl": CrawlJob}


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


class SignaturePayload(BaseModel):
    kind: str
    revision: str
    layout: str
    params: int
    dtypes: dict[str, int]
    tensors: list[dict]
    samples: dict[str, Packed]
    sketch: Packed
    files: list[dict]
    meta: dict
    content_hash: str | None = None
    sha: str | None = None

    @classmethod
    def of(cls, sig: WeightSignature) -> SignaturePayload:
        return cls(kind=sig.kind, revision=sig.revision, layout=sig.layout, params=sig.params, dtypes=sig.dtypes,
                   tensors=[vars(t) for t in sig.tensors], samples={k: Packed.of(v) for k, v in sig.samples.items()},
                   sketch=Packed.of(sig.sketch), files=sig.files, meta=sig.meta, content_hash=sig.content_hash,
                   sha=sig.sha)

    def signature(self) -> WeightSignature:
        return WeightSignature(self.kind, self.revision, self.layout, self.params, dict(self.dtypes),
                               [TensorStats(**t) for t in self.tensors],
                               {k: v.array() for k, v in self.samples.items()}, self.sketch.array(),
                               list(self.files), dict(self.meta), self.content_hash, self.sha)


class Fingerprinted(BaseModel):
    row: ModelRow
    signature: SignaturePayload


class Result(BaseModel):
    """What a job produced: a payload, or the reason it failed for good (status says how to record it)."""

    stage: Stage
    job: dict
    ok: bool
    fingerprint: Fingerprinted | None = None
    losses: dict[str, float] | None = None
    vector: Packed | None = None
    crawled: dict | None = None  # hub.stages.FetchedPayload, as JSON
    status: str | None = None  # on failure: unsupported | error | weights_only
    error: str | None = None

    def job_obj(self) -> Job:
        return JOB_TYPES[self.stage].model_validate(self.job)
