"""`GET /search?q=`: text search over ids, tags and card text; `POST /search/examples`: search by a task."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Query
from hubindex.api.deps import CatalogDep
from hubindex.api.errors import ERRORS, ServiceError

from hubindex.catalog import browse
from hubindex.catalog.answers import SearchHit, SimilarHit
from hubindex.embed.task import ExamplesQuery, nearest_to_examples
from hubindex.ids import validate_model_id
from hubindex.service import ErrorBody

router = APIRouter(prefix="/search", tags=["search"], responses=ERRORS)


@router.get("", response_model=list[SearchHit], summary="Models whose id, tags or card text hold every term")
def search(catalog: CatalogDep, q: Annotated[str, Query(min_length=1, max_length=browse.MAX_QUERY_CHARS)],
           limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[SearchHit]:
    return browse.search(catalog, q, limit)


_one_task = threading.Lock()  # each request finetunes a model: one at a time, the rest are told to retry


@router.post("/examples", response_model=list[SimilarHit], responses={503: {"model": ErrorBody}},
             summary="Models nearest to a task given as examples (a short finetune of the base embeds it)")
def search_by_examples(query: ExamplesQuery, catalog: CatalogDep) -> list[SimilarHit]:
    validate_model_id(query.base)
    if not _one_task.acquire(blocking=False):
        raise ServiceError(503, "unavailable", "another example search is running; retry in a few seconds")
    try:
        return nearest_to_examples(catalog, query)
    finally:
        _one_task.release()
