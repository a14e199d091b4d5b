"""`GET /search?q=`: text search over ids, tags and card text."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from hubindex.api.deps import CatalogDep
from hubindex.api.errors import ERRORS

from hubindex.catalog import browse
from hubindex.catalog.answers import SearchHit

router = APIRouter(prefix="/search", tags=["search"], responses=ERRORS)


@router.get("", response_model=list[SearchHit], summary="Models whose id, tags or card text hold every term")
def search(catalog: CatalogDep, q: Annotated[str, Query(min_length=1, max_length=browse.MAX_QUERY_CHARS)],
           limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[SearchHit]:
    return browse.search(catalog, q, limit)
