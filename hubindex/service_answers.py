"""Typed answers of the query service beyond catalog queries: health, errors and index jobs.

Plain data shared by the API, the CLI client and the workers (no HTTP, no queue here); exported to schemas/.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from hubindex.catalog.answers import UtcDatetime
from hubindex.pipeline.run import IndexReport
from hubindex.status import ModelStatus


class Health(BaseModel):
    """`GET /health`: the service is up and its catalog answers."""

    status: Literal["ok"]
    version: str
    db: str = Field(description="catalog file name (not its path)")
    models: dict[ModelStatus, int] = Field(description="models per status")


class ErrorBody(BaseModel):
    """Every error the service answers itself (FastAPI's own 422 keeps its documented shape)."""

    detail: str
    error: Literal["bad_request", "not_found", "unauthorized", "forbidden", "unavailable", "too_large",
                   "rate_limited"]


class JobRequest(BaseModel):
    """`POST /jobs`: index local folders (under the server's index roots) into the server's catalog."""

    kind: Literal["index"] = "index"
    paths: list[Annotated[str, Field(min_length=1, max_length=4096, pattern=r"^[^\x00]+$")]] = Field(
        min_length=1, max_length=64, description="hub-like roots or model folders, under the server's index roots")
    methods: list[Literal["hubindex", "paper"]] = Field(default=["hubindex"], min_length=1, max_length=2)
    embed: bool = True
    prune: bool = False


class JobStatus(BaseModel):
    """`GET /jobs/{id}`: where a job stands; `result` once it succeeded, `error` once it failed."""

    id: str
    state: Literal["queued", "running", "succeeded", "failed"]
    backend: Literal["thread", "celery"]
    request: JobRequest
    submitted_at: UtcDatetime
    started_at: UtcDatetime | None = None
    finished_at: UtcDatetime | None = None
    result: IndexReport | None = None
    error: str | None = None
