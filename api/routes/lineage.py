"""`GET /lineage`: every model's parents, relation and confidence (the whole graph, e.g. for the atlas page)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from hubindex.api.deps import CatalogDep
from hubindex.api.errors import ERRORS

from hubindex.lineage import queries
from hubindex.lineage.answers import LineageEntry

router = APIRouter(prefix="/lineage", tags=["lineage"], responses=ERRORS)


@router.get("", response_model=list[LineageEntry], summary="Lineage of every model (optionally one family)")
def lineage(catalog: CatalogDep, family: Annotated[str | None, Query(max_length=200)] = None) -> list[LineageEntry]:
    return queries.entries(catalog, family)
