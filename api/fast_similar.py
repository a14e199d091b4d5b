"""`GET /models/{id}/similar` answered before FastAPI's routing, for the plain question asked again and again.

FastAPI's request handling (routing, dependencies, query validation, middleware) costs about 0.8 ms of CPU per
request, where uvicorn alone costs 0.1 ms and the answer (a lookup in memory and one FAISS search) less than a
millisecond (bench/http_similar.py, notes wt-core4). So this plain ASGI layer answers a `/similar` request whose
id is valid and whose query holds only `k` (1..100 as digits), `by=delta` and `method` (a known one): with the
same function the route calls (`api/routes/models.py`), the same bytes, headers, metrics and nosniff (the Guard
wraps this layer). Anything else (a bad id or parameter, `by=weights`, an error while answering, a browser's
cross-origin call when CORS is on) goes on to FastAPI, which answers it as the documented route does.
"""

from __future__ import annotations

import asyncio
import re
import time
from urllib.parse import parse_qsl

from hubindex.api.routes.models import MAX_K, similar_json, similar_key

from hubindex.errors import HubindexError
from hubindex.ids import validate_model_id

ROUTE = "/models/{model_id:path}/similar"  # the route's template: metrics count both paths under it
_PATH = re.compile(r"/models/(.+)/similar")  # greedy, as Starlette's `path` convertor
_K = re.compile(r"[0-9]{1,3}")
METHODS = ("hubindex", "paper")


def plain_question(scope) -> tuple[str, int, str] | None:
    """(model id, k, method) of a plain `/similar` request, else None (FastAPI answers it)."""
    if scope["method"] != "GET" or scope.get("root_path"):
        return None
    match = _PATH.fullmatch(scope["path"])
    if match is None:
        return None
    try:
        model_id = validate_model_id(match.group(1))
    except HubindexError:
        return None
    k, method, seen = 10, "hubindex", set()
    for name, value in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True):
        if name in seen:
            return None
        seen.add(name)
        if name == "k" and _K.fullmatch(value) and 1 <= int(value) <= MAX_K:
            k = int(value)
        elif name == "method" and value in METHODS:
            method = value
        elif not (name == "by" and value == "delta"):
            return None
    return model_id, k, method


class FastSimilar:
    def __init__(self, app, fastapi_app) -> None:
        self.app, self.state = app, fastapi_app.state
        self._cors = bool(self.state.settings.cors_origins)
        metrics = self.state.metrics
        self._count = metrics.requests.labels("GET", ROUTE, "200")
        self._latency = metrics.latency.labels(ROUTE)

    async def __call__(self, scope, receive, send) -> None:
        question = plain_question(scope) if scope["type"] == "http" else None
        if question is None or (self._cors and any(name == b"origin" for name, _ in scope["headers"])):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = self.state
        body = state.similar_cache.peek(state.catalog, similar_key(state, *question))
        if body is None:  # compute it off the event loop: FAISS releases the GIL, so searches use every core
            try:
                body = await asyncio.get_running_loop().run_in_executor(state.similar_pool, similar_json, state,
                                                                        *question)
            except Exception:  # the route answers errors, as documented (and says what went wrong)
                await self.app(scope, receive, send)
                return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})
        self._count.inc()
        self._latency.observe(time.perf_counter() - started)
