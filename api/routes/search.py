"""`GET /search?q=`: text search over ids, tags and card text; `POST /search/examples`: search by a task."""

from __future__ import annotations

import threading
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials
from hubindex.api.deps import CatalogDep, bearer, require_token
from hubindex.api.errors import ERRORS, ServiceError
from hubindex.api.limits import caller

from hubindex.catalog import Catalog, browse
from hubindex.catalog.answers import SearchHit, SimilarHit
from hubindex.errors import HubindexError
from hubindex.ids import validate_model_id
from hubindex.search_by_examples import ExamplesQuery, TaskExample, base_folder, nearest_to_examples
from hubindex.service_answers import ErrorBody

router = APIRouter(prefix="/search", tags=["search"], responses=ERRORS)


@router.get("", response_model=list[SearchHit], summary="Models whose id, tags or card text hold every term")
def search(catalog: CatalogDep, q: Annotated[str, Query(min_length=1, max_length=browse.MAX_QUERY_CHARS)],
           limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[SearchHit]:
    return browse.search(catalog, q, limit)


_one_task = threading.Lock()  # each request finetunes a model: one at a time, the rest are told to retry
MAX_EXAMPLE_BYTES = 16 * 1024  # UTF-8 bytes over all examples: a byte-level tokenizer makes at most one token each
QUEUED_TIMEOUT = 300  # seconds a queued search waits for a gpu worker, start to finish


def examples_access(request: Request,
                    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
    """The bearer token, unless the server runs with --public-examples; then a per-caller rate limit either way."""
    settings = request.app.state.settings
    if not settings.public_examples:
        require_token(request, credentials)
    wait = request.app.state.examples_limit.admit(caller(request))
    if wait is not None:
        raise ServiceError(429, "rate_limited", f"at most {settings.examples_per_minute} example searches a minute; "
                           f"retry in {wait:.0f} s")


def _queued_embed(catalog: Catalog, base: str, examples: list[TaskExample], method: str) -> np.ndarray:
    """Embed the task on a gpu worker (this server has a broker): the web process never trains."""
    from celery.exceptions import TimeoutError as CeleryTimeout
    from hubindex.workers.tasks import examples as task

    from hubindex.pipeline.payload import Packed

    folder = base_folder(catalog, base)
    pending = task.apply_async(args=[str(folder), base, [e.model_dump() for e in examples], method],
                               expires=QUEUED_TIMEOUT)
    try:
        return Packed.model_validate(pending.get(timeout=QUEUED_TIMEOUT, propagate=True)).array()
    except CeleryTimeout:
        raise ServiceError(503, "unavailable", "no gpu worker embedded the examples in time; retry later") from None
    except Exception as exc:  # the worker's own failure (its log has the traceback)
        raise ServiceError(503, "unavailable", f"the gpu worker could not embed the examples ({type(exc).__name__})"
                           ) from None
    finally:
        pending.forget()


@router.post("/examples", response_model=list[SimilarHit],
             responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 429: {"model": ErrorBody},
                        503: {"model": ErrorBody}},
             dependencies=[Depends(examples_access)],
             summary="Models nearest to a task given as examples (a short finetune of the base embeds it; needs "
                     "the bearer token unless the server runs with --public-examples)")
def search_by_examples(query: ExamplesQuery, catalog: CatalogDep, request: Request) -> list[SimilarHit]:
    validate_model_id(query.base)
    size = sum(len(e.input.encode()) + len(e.output.encode()) for e in query.examples)
    if size > MAX_EXAMPLE_BYTES:
        raise HubindexError(f"examples hold {size} bytes of text; at most {MAX_EXAMPLE_BYTES}")
    if request.app.state.settings.broker_url:
        return nearest_to_examples(catalog, query, embed=_queued_embed)
    if not _one_task.acquire(blocking=False):
        raise ServiceError(503, "unavailable", "another example search is running; retry in a few seconds")
    try:
        return nearest_to_examples(catalog, query)
    finally:
        _one_task.release()
