"""`--db FILE` or `--api URL`: query commands read the catalog directly, or ask a running `hubindex serve`.

Both give the same typed answer (the server returns the same pydantic models), so --json prints the same JSON.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
from pydantic import TypeAdapter, ValidationError

from hubindex.errors import HubindexError
from hubindex.ids import validate_model_id


def db_or_api(command):
    """--db (not required when --api is given) and --api URL (env HUBINDEX_API)."""
    command = click.option("--api", metavar="URL", envvar="HUBINDEX_API", default=None,
                           help="Ask a running `hubindex serve` at URL instead of opening --db (env HUBINDEX_API).")(
        command)
    return click.option("--db", type=click.Path(path_type=Path, dir_okay=False), default=None,
                        help="DuckDB catalog file (FAISS indexes live beside it in FILE.faiss/).")(command)


def need_db(db: Path | None, api: str | None) -> Path | None:
    if (db is None) == (api is None):
        raise click.UsageError("give exactly one of --db FILE and --api URL")
    return db


def model_path(model_id: str, suffix: str = "") -> str:
    """The URL path of a model resource; the id is validated first so it cannot steer the URL elsewhere."""
    return f"/models/{quote(validate_model_id(model_id), safe='/')}{suffix}"


def fetch(api: str, path: str, answer: Any, params: dict | None = None, body: dict | None = None) -> Any:
    """GET `path`, or POST `body` as JSON with the bearer token in HUBINDEX_API_TOKEN when there is one."""
    import httpx

    try:
        with httpx.Client(base_url=api.rstrip("/"), timeout=120) as client:
            if body is not None:
                token = os.environ.get("HUBINDEX_API_TOKEN")
                response = client.post(path, json=body, timeout=600,
                                       headers={"Authorization": f"Bearer {token}"} if token else None)
            else:
                response = client.get(path, params={k: v for k, v in (params or {}).items() if v is not None})
    except httpx.HTTPError as exc:
        raise HubindexError(f"cannot reach {api}: {exc}") from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = response.text[:200]
        raise HubindexError(f"{api} answered {response.status_code}: {detail}")
    try:
        return TypeAdapter(answer).validate_python(response.json())
    except (ValueError, ValidationError) as exc:
        raise HubindexError(f"{api} sent an answer that is not a {answer}: {exc}") from None
