"""`/models`: listing, one model, and the questions about it (similar, parents, lineage, merge candidates).

Ids contain a slash, so routes take `{model_id:path}`; the sub-resource routes are declared before the plain one
so `/models/org/name/similar` is not read as a model called `name/similar` (ids have at most two parts).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from hubindex.api import redact
from hubindex.api.deps import CatalogDep, ModelId
from hubindex.api.errors import ERRORS
from pydantic import TypeAdapter

from hubindex.catalog import browse, queries
from hubindex.catalog.answers import ModelPage, ModelView, SimilarHit
from hubindex.catalog.spaces import Spaces
from hubindex.lineage import queries as lineage
from hubindex.lineage.answers import LineageTree, ParentCandidate
from hubindex.merge_candidates import candidates
from hubindex.merge_candidates.answers import MergeCandidates
from hubindex.status import ModelKind, ModelStatus

router = APIRouter(prefix="/models", tags=["models"], responses=ERRORS)
MAX_K = 100
HITS = TypeAdapter(list[SimilarHit])

Method = Literal["hubindex", "paper"]


@router.get("", response_model=ModelPage, summary="List models (filters, pagination)")
def list_models(catalog: CatalogDep,
                family: Annotated[str | None, Query(max_length=200)] = None,
                kind: ModelKind | None = None,
                status: ModelStatus | None = None,
                architecture: Annotated[str | None, Query(max_length=200)] = None,
                tag: Annotated[str | None, Query(max_length=200)] = None,
                page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
                page_size: Annotated[int, Query(ge=1, le=browse.MAX_PAGE_SIZE)] = 50) -> ModelPage:
    return browse.list_models(catalog, page, page_size, family=family, kind=kind, status=status,
                              architecture=architecture, tag=tag)


def similar_key(state, model_id: str, k: int, method: str) -> tuple:
    """The answer cache's key of a delta question: the answer also depends on the FAISS spaces beside the catalog."""
    return Spaces.stamp(state.catalog.spaces_dir), model_id, k, method


def similar_json(state, model_id: str, k: int, method: str, by: str = "delta") -> bytes:
    """The answer's JSON bytes. By delta: the asking model read from memory (catalog/delta_targets.py), one FAISS
    search, and a repeated question answered from the bytes of the last answer while the catalog and its spaces are
    unchanged (catalog/cache.py). api/fast_similar.py answers plain questions with it before FastAPI's routing."""
    def answer() -> bytes:
        return HITS.dump_json(queries.similar(state.views.get(), model_id, k, by, method,
                                              targets=state.delta_targets))

    if by != "delta":
        return answer()
    return state.similar_cache.json(state.catalog, similar_key(state, model_id, k, method), answer)


@router.get("/{model_id:path}/similar", response_model=list[SimilarHit], summary="Nearest models")
async def similar(model_id: ModelId, request: Request, k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
                  by: Literal["delta", "weights"] = "delta", method: Method = "hubindex") -> Response:
    """The hot route: by delta it is a lookup in memory and one FAISS search, answered on the event loop and
    serialized once (no thread-pool hop, no second validation); by weights re-ranks a shortlist over the stored
    samples, so it runs in the thread pool."""
    state = request.app.state
    if by == "weights":
        body = await run_in_threadpool(similar_json, state, model_id, k, method, by)
    else:
        body = similar_json(state, model_id, k, method)
    return Response(body, media_type="application/json")


@router.get("/{model_id:path}/parents", response_model=list[ParentCandidate], summary="Ranked parent candidates")
def parents(model_id: ModelId, catalog: CatalogDep,
            k: Annotated[int, Query(ge=1, le=MAX_K)] = 5) -> list[ParentCandidate]:
    return lineage.parents(catalog, model_id, k)


@router.get("/{model_id:path}/lineage", response_model=LineageTree, summary="Ancestors and descendants")
def lineage_tree(model_id: ModelId, catalog: CatalogDep) -> LineageTree:
    return lineage.tree(catalog, model_id)


@router.get("/{model_id:path}/merge-candidates", response_model=MergeCandidates,
            summary="Models sharing the base, ranked by expected merge benefit, with reasons")
def merge_candidates(model_id: ModelId, catalog: CatalogDep, k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
                     method: Method = "hubindex") -> MergeCandidates:
    return candidates.rank(catalog, model_id, k, method)


@router.get("/{model_id:path}", response_model=ModelView, summary="Everything the catalog holds about a model "
            "(no server paths, unless the server runs with --debug)")
def show(model_id: ModelId, catalog: CatalogDep, request: Request) -> ModelView:
    view = queries.show(catalog, model_id)
    settings = request.app.state.settings
    return view if settings.debug else redact.model_view(view, settings.public_roots)
