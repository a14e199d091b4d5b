"""The atlas: the web page at `/` (static files shipped in the package) and the two answers only it needs,
`/atlas/forest` (every model's parents in one request) and `/atlas/map` (a family's embeddings in 2-D).

The page reads nothing but the public API; its assets are listed here so no other path can be served.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response
from hubindex.api.deps import CatalogDep
from hubindex.api.errors import ERRORS

from hubindex.atlas import AtlasForest, AtlasMap, family_map, forest_json
from hubindex.catalog import Catalog
from hubindex.errors import NotFoundError

STATIC = Path(__file__).resolve().parent.parent / "static"
ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}
# No inline scripts or styles and nothing from elsewhere: the page needs only its own origin.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'")

router = APIRouter(tags=["atlas"], responses=ERRORS)


@router.get("/", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers={"Content-Security-Policy": CSP})


@router.get("/static/{name}", include_in_schema=False)
def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise NotFoundError(f"no static file {name!r}")
    return FileResponse(STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})


def _cached(request: Request, catalog: Catalog, key: tuple, compute_json) -> Response:
    """Serialized once per catalog state (catalog/cache.py); the answer models still document and type them."""
    return Response(request.app.state.atlas_cache.json(catalog, key, compute_json), media_type="application/json")


@router.get("/atlas/forest", response_model=AtlasForest, summary="Every model's parents, relation and family")
def atlas_forest(catalog: CatalogDep, request: Request) -> Response:
    return _cached(request, catalog, ("forest",), lambda: forest_json(catalog))  # written by DuckDB, columnar


@router.get("/atlas/map", response_model=AtlasMap, summary="A family's Delta Activations in 2-D (PCA, k-means)")
def atlas_map(catalog: CatalogDep, request: Request,
              family: Annotated[str, Query(max_length=200, description="family root id")],
              method: Literal["hubindex", "paper"] = "hubindex") -> Response:
    # The family is only ever a bound SQL parameter, never a path: any string is safe, an unknown one is a 404.
    return _cached(request, catalog, ("map", family, method),
                   lambda: family_map(catalog, family, method).model_dump_json().encode())
