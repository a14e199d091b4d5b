"""The FastAPI app: `create_app(db_path)`; `hubindex serve` runs it under uvicorn.

The server is the catalog owner. DuckDB lets one process open a file read-write and then refuses every other
process, so the app opens ONE read-write Catalog for its lifetime and answers each request through its own cursor
(`Catalog.cursor_view`). Work that writes the catalog runs inside this process: in-process index jobs
(api/jobs.py) and the background loops passed as `background` (with a broker, the ingest consumer that applies the
Celery workers' results).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import faiss
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from hubindex.api import errors
from hubindex.api.fast_similar import FastSimilar
from hubindex.api.guard import DEFAULT_MAX_BODY, Guard
from hubindex.api.jobs import make_jobs
from hubindex.api.limits import RateLimit
from hubindex.api.metrics import Metrics, MetricsMiddleware
from hubindex.api.routes import atlas, docs, jobs, lineage, models, search, service

from hubindex import __version__
from hubindex.catalog import Catalog
from hubindex.catalog.cache import AnswerCache
from hubindex.catalog.delta_targets import DeltaTargets
from hubindex.catalog.store import ThreadViews

SIMILAR_ANSWERS, SIMILAR_BYTES = 100_000, 32 * 2**20  # k=10 answers are about 1.6 KB: some 20k of them

# A background loop gets a view of the owner catalog (its own cursor) and a stop event; it returns soon after
# the event is set.
BackgroundLoop = Callable[[Catalog, threading.Event], None]


@dataclass
class Settings:
    db: Path
    token: str | None = None  # HUBINDEX_API_TOKEN: bearer token for writes; None switches writes off
    broker_url: str | None = None  # HUBINDEX_BROKER_URL: enqueue jobs on Celery workers instead of a thread
    index_roots: list[Path] = field(default_factory=list)  # POST /jobs may only index paths under these
    cors_origins: list[str] = field(default_factory=list)  # CORS is off unless origins are named
    max_body: int = DEFAULT_MAX_BODY  # HUBINDEX_MAX_BODY_BYTES: larger request bodies get 413 before parsing
    debug: bool = False  # HUBINDEX_DEBUG / --debug: answers show server paths (never on a public server)
    public_examples: bool = False  # HUBINDEX_PUBLIC_EXAMPLES / --public-examples: examples search without the token
    examples_per_minute: int = 6  # HUBINDEX_EXAMPLES_PER_MINUTE: per caller (token or address)

    @property
    def public_roots(self) -> list[Path]:
        """Folders whose paths answers show relative (index roots, the catalog's folder)."""
        return [r.resolve() for r in self.index_roots] + [self.db.resolve().parent]


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes", "on")


def settings_from_env(db: Path, **overrides) -> Settings:
    env = os.environ
    roots = [Path(p) for p in env.get("HUBINDEX_INDEX_ROOTS", "").split(os.pathsep) if p]
    origins = [o for o in env.get("HUBINDEX_CORS_ORIGINS", "").split(",") if o]
    base = Settings(db=Path(db), token=env.get("HUBINDEX_API_TOKEN") or None,
                    broker_url=env.get("HUBINDEX_BROKER_URL") or None, index_roots=roots, cors_origins=origins,
                    max_body=int(env.get("HUBINDEX_MAX_BODY_BYTES") or DEFAULT_MAX_BODY),
                    debug=_flag(env.get("HUBINDEX_DEBUG")), public_examples=_flag(env.get("HUBINDEX_PUBLIC_EXAMPLES")),
                    examples_per_minute=int(env.get("HUBINDEX_EXAMPLES_PER_MINUTE") or 6))
    for key, value in overrides.items():
        if value is not None:
            setattr(base, key, value)
    return base


def create_app(db_path: str | Path, settings: Settings | None = None,
               background: Iterable[BackgroundLoop] = ()) -> FastAPI:
    settings = settings or settings_from_env(Path(db_path))
    loops = list(background)
    if settings.broker_url:  # this server owns the catalog: it applies what the Celery workers compute
        from hubindex.workers.ingest import run_owner

        loops.append(run_owner)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        catalog = Catalog(settings.db)  # the one read-write connection of this process
        # One FAISS thread: a request searches one vector, where an OpenMP team only adds wake-ups (on the shared
        # 2-core machine /similar took 4.6x longer with the default team: bench/http_similar.py, notes wt-query).
        faiss.omp_set_num_threads(1)
        app.state.catalog = catalog
        app.state.views = ThreadViews(catalog)
        # /similar searches FAISS off the event loop (the search releases the GIL): one thread per core
        app.state.similar_pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="similar")
        app.state.jobs = make_jobs(settings, catalog, app.state.metrics)
        stop = threading.Event()
        # Background loops that write the catalog (e.g. the workers' ingest consumer) run here, in the owner.
        # Each gets its own cursor view (a DuckDB connection object must not be shared across threads).
        threads = [threading.Thread(target=loop, args=(catalog.cursor_view(), stop), name=f"hubindex-bg-{i}",
                                    daemon=True) for i, loop in enumerate(loops)]
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=10)
            app.state.jobs.shutdown()
            app.state.similar_pool.shutdown(wait=True)
            app.state.delta_targets.close()
            catalog.close()

    app = FastAPI(title="hubindex", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Query a model hub's index: similar models, lineage, merge candidates, search.")
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.atlas_cache = AnswerCache()
    # /similar: the asking models' rows in memory, and the answers to popular questions (catalog/cache.py)
    app.state.delta_targets = DeltaTargets()
    app.state.similar_cache = AnswerCache(max_answers=SIMILAR_ANSWERS, max_bytes=SIMILAR_BYTES)
    app.state.examples_limit = RateLimit(settings.examples_per_minute)
    errors.install(app)
    for module in (models, lineage, search, jobs, service, atlas, docs):
        app.include_router(module.router)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    # The guard wraps the whole stack, Starlette's error middleware included, so even a 500 carries nosniff and
    # no body over the cap reaches a parser.
    # Plain /similar questions skip FastAPI's routing (api/fast_similar.py), inside the guard like every answer.
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: Guard(FastSimilar(build(), app), settings.max_body)
    return app
