"""Error bodies and the handlers that turn library errors into clear 4xx JSON answers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from hubindex.api.guard import BodyTooLarge, validation_errors
from hubindex.api.redact import scrub

from hubindex.errors import HubindexError, NotFoundError
from hubindex.service_answers import ErrorBody

ERRORS = {400: {"model": ErrorBody, "description": "bad input (invalid id, bad parameter, nothing to compare)"},
          404: {"model": ErrorBody, "description": "model or job not in the catalog"}}
WRITE_ERRORS = {404: {"model": ErrorBody, "description": "a path under the index roots that is not a folder"},
                401: {"model": ErrorBody, "description": "missing or wrong bearer token"},
                403: {"model": ErrorBody, "description": "writes disabled, or a path outside the index roots"},
                413: {"model": ErrorBody, "description": "request body over the server's limit"},
                503: {"model": ErrorBody, "description": "the job queue cannot be reached"}}


class ServiceError(HubindexError):
    """An error with its own status: auth, writes switched off, a job queue out of reach."""

    def __init__(self, status: int, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.kind = status, kind


def error(status: int, kind: str, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(ErrorBody(detail=detail, error=kind).model_dump(), status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_errors(exc.errors())}, status_code=422)  # never the input back

    @app.exception_handler(BodyTooLarge)
    async def too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        return error(413, "too_large", str(exc.detail), {"Connection": "close"})

    @app.exception_handler(ServiceError)
    async def service(_: Request, exc: ServiceError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.status == 429:
            headers = {"Retry-After": "60"}
        return error(exc.status, exc.kind, str(exc), headers)

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        return error(404, "not_found", _public(request, str(exc)))

    @app.exception_handler(HubindexError)
    async def bad_request(request: Request, exc: HubindexError) -> JSONResponse:
        return error(400, "bad_request", _public(request, str(exc)))


def _public(request: Request, message: str) -> str:
    """Library errors quote paths (for the CLI user, who owns them); a public server names no server path."""
    settings = request.app.state.settings
    return message if settings.debug else scrub(message, [str(r) for r in settings.public_roots]) or message
