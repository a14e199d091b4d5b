"""Dependencies: the per-request catalog view, validated model ids, and the bearer token for writes."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from hubindex.api.errors import ServiceError

from hubindex.catalog import Catalog
from hubindex.ids import MODEL_ID_PATTERN, validate_model_id


def get_catalog(request: Request) -> Iterator[Catalog]:
    """This request's own cursor over the server's one read-write catalog (DuckDB: one writer process per file,
    and a connection object must not be shared across threads)."""
    view = request.app.state.catalog.cursor_view()
    try:
        yield view
    finally:
        view.close()


async def model_id(model_id: Annotated[str, Path(description="hub id, `org/name` (the slash is part of the path)",
                                           max_length=200, json_schema_extra={"pattern": MODEL_ID_PATTERN})]) -> str:
    """The documented pattern is checked here (400 with our error body), by the same code as everywhere else.
    Async: a few microseconds of work, not worth a hop to the thread pool."""
    return validate_model_id(model_id)


bearer = HTTPBearer(auto_error=False, description="HUBINDEX_API_TOKEN")


def require_token(request: Request,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
    """Writes need `Authorization: Bearer $HUBINDEX_API_TOKEN`; with no token configured, writes are off."""
    token = request.app.state.settings.token
    if not token:
        raise ServiceError(403, "forbidden", "writes are disabled: start the server with HUBINDEX_API_TOKEN set")
    if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
        raise ServiceError(401, "unauthorized", "missing or wrong bearer token")


CatalogDep = Annotated[Catalog, Depends(get_catalog)]
ModelId = Annotated[str, Depends(model_id)]
