"""`hubindex serve`: the query service (FastAPI under uvicorn); this process owns the catalog file."""

from __future__ import annotations

from pathlib import Path

import click
from hubindex.cli.options import DB_OPTION


@click.command()
@DB_OPTION
@click.option("--host", default="127.0.0.1", show_default=True, help="Listen address (loopback unless told).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--index-root", "index_roots", multiple=True, type=click.Path(path_type=Path, file_okay=False,
              exists=True), help="POST /jobs may index folders under this root (repeatable; none: jobs off).")
@click.option("--cors-origin", "cors_origins", multiple=True, help="Allow browser calls from this origin "
              "(repeatable; default: CORS off).")
@click.option("--public-examples", is_flag=True, default=None, help="Let anyone POST /search/examples (each call "
              "finetunes a model; default: the bearer token is needed).")
@click.option("--debug", is_flag=True, default=None, help="Answers show server paths (local use only).")
@click.option("--log-level", default="warning", show_default=True)
def serve(db: Path, host: str, port: int, index_roots: tuple[Path, ...], cors_origins: tuple[str, ...],
          public_examples: bool | None, debug: bool | None, log_level: str) -> None:
    """Serve the catalog over HTTP. Writes (POST /jobs) need HUBINDEX_API_TOKEN; HUBINDEX_BROKER_URL sends jobs to
    the Celery workers. The server opens the catalog read-write: stop it before `hubindex index --db` on the file."""
    import uvicorn
    from hubindex.api.app import create_app, settings_from_env

    settings = settings_from_env(db, index_roots=list(index_roots) or None, cors_origins=list(cors_origins) or None,
                                 public_examples=public_examples or None, debug=debug or None)
    app = create_app(db, settings)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"atlas: http://{shown}:{port}/  (API docs: /docs; Ctrl-C stops the server)")
    uvicorn.run(app, host=host, port=port, log_level=log_level)
