"""`POST /jobs` (bearer token) and `GET /jobs/{id}`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from hubindex.api import redact
from hubindex.api.deps import require_token
from hubindex.api.errors import ERRORS, WRITE_ERRORS

from hubindex.service_answers import JobRequest, JobStatus

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.post("", response_model=JobStatus, status_code=202, responses=WRITE_ERRORS,
             dependencies=[Depends(require_token)], summary="Index folders (needs the bearer token)")
def submit(body: JobRequest, request: Request) -> JobStatus:
    return _public(request, request.app.state.jobs.submit(body))


@router.get("/{job_id}", response_model=JobStatus, responses=ERRORS, summary="Where a job stands")
def get(job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")], request: Request) -> JobStatus:
    return _public(request, request.app.state.jobs.get(job_id))


def _public(request: Request, job: JobStatus) -> JobStatus:
    settings = request.app.state.settings
    return job if settings.debug else redact.job_status(job, settings.public_roots)
