"""Error bodies and the handlers that turn library errors into clear 4xx JSON answers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from hubindex.errors import HubindexError, NotFoundError
from hubindex.service import ErrorBody

ERRORS = {400: {"model": ErrorBody, "description": "bad input (invalid id, bad parameter, nothing to compare)"},
          404: {"model": ErrorBody, "description": "model or job not in the catalog"}}
WRITE_ERRORS = {404: {"model": ErrorBody, "description": "a path under the index roots that is not a folder"},
                401: {"model": ErrorBody, "description": "missing or wrong bearer token"},
                403: {"model": ErrorBody, "description": "writes disabled, or a path outside the index roots"},
                503: {"model": ErrorBody, "description": "the job queue cannot be reached"}}


class ServiceError(HubindexError):
    """An error with its own status: auth, writes switched off, a job queue out of reach."""

    def __init__(self, status: int, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.kind = status, kind


def error(status: int, kind: str, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(ErrorBody(detail=detail, error=kind).model_dump(), status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service(_: Request, exc: ServiceError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error(exc.status, exc.kind, str(exc), headers)

    @app.exception_handler(NotFoundError)
    async def not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return error(404, "not_found", str(exc))

    @app.exception_handler(HubindexError)
    async def bad_request(_: Request, exc: HubindexError) -> JSONResponse:
        return error(400, "bad_request", str(exc))
