"""`/health` and `/metrics`."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from hubindex.api.deps import CatalogDep
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hubindex import __version__
from hubindex.service_answers import Health

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health)
def health(catalog: CatalogDep) -> Health:
    return Health(status="ok", version=__version__, db=catalog.path.name, models=catalog.counts())


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
            summary="Prometheus metrics")
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
