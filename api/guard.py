"""What every answer gets and every request is held to, before any route runs: a cap on the request body (checked
on Content-Length and counted while the body streams in, so an oversized body is never buffered, let alone
parsed) and `X-Content-Type-Options: nosniff`.

A plain ASGI middleware rather than Starlette's BaseHTTPMiddleware: it sees the body as it arrives and can answer
413 before the route reads the rest.
"""

from __future__ import annotations

import json

from fastapi import HTTPException

from hubindex.service_answers import ErrorBody

NOSNIFF = (b"x-content-type-options", b"nosniff")
DEFAULT_MAX_BODY = 256 * 1024  # a job request (64 paths) or an example search (32 short examples) fits easily


class BodyTooLarge(HTTPException):
    """Raised while the body streams in; an HTTPException so FastAPI's body parsing lets it through (errors.py
    answers it as 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit} bytes")
        self.limit = limit


def _too_large(limit: int) -> tuple[dict, bytes]:
    body = ErrorBody(error="too_large", detail=f"request body over {limit} bytes").model_dump_json().encode()
    start = {"type": "http.response.start", "status": 413,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                         (b"connection", b"close"), NOSNIFF]}
    return start, body


class Guard:
    def __init__(self, app, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await self._refuse(send)
            return
        started, seen = False, 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:  # a chunked body that grew past the cap: stop reading it
                    raise BodyTooLarge(self.max_body)
            return message

        async def marked(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []), NOSNIFF]}
            await send(message)

        try:
            await self.app(scope, counted, marked)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(send)

    async def _refuse(self, send) -> None:
        start, body = _too_large(self.max_body)
        await send(start)
        await send({"type": "http.response.body", "body": body})


def validation_errors(errors: list[dict]) -> list[dict]:
    """FastAPI's 422 detail without the `input` each error carries (an error must never echo the request back)
    and with `ctx` made plain JSON."""
    return [{k: (json.loads(json.dumps(v, default=str)) if k == "ctx" else v) for k, v in e.items() if k != "input"}
            for e in errors]
