"""The crawl as stage functions with small, serialisable inputs, so a queue worker can run any of them:

    list_stage(source, query) -> Listed...         one listing call per page, metadata for every model
    fingerprint_stage(source, listed) -> Fetched   partial signature from range reads (or why there is none)
    record_stage(catalog, endpoint, listed, fetched)
    finish_stage(catalog)                          families, lineage and FAISS spaces for what changed

`Listed` is the unit of work: everything the crawl stores about a repo's commit, taken from the listing itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from huggingface_hub.hf_api import ModelInfo
from pydantic import BaseModel

from hubindex.catalog import Catalog
from hubindex.catalog.hub_rows import record_hub
from hubindex.embed.methods import DEFAULT_METHOD
from hubindex.errors import HubindexError, UnsupportedFormatError
from hubindex.hub.partial import PartialResult, partial_signature
from hubindex.hub.source import CrawlQuery, HubAccessError, HubSource
from hubindex.ids import validate_model_id
from hubindex.indexer.metadata import dominant_dtype, metadata_columns
from hubindex.indexer.run import finish, plan_bases

PARTIAL_NOTE = "partial fingerprint from range reads: Delta Activations need the weights (crawl --full)"


class Listed(BaseModel):
    id: str
    sha: str | None
    author: str | None = None
    created_at: datetime | None = None
    last_modified: datetime | None = None
    gated: str | None = None
    private: bool | None = None
    downloads: int | None = None
    likes: int | None = None
    pipeline_tag: str | None = None
    library_name: str | None = None
    tags: list[str] = []
    base_models: list[str] = []
    base_relation: str | None = None
    card: dict = {}
    siblings: list[str] = []


class CrawledModel(BaseModel):
    """What the crawl did with one repo."""

    id: str
    sha: str | None
    status: str  # partial | full | unchanged | unsupported | gated | missing | error | invalid
    reason: str | None = None
    kind: str | None = None
    bytes_total: int = 0  # size of its weight files
    bytes_fetched: int = 0
    requests: int = 0


def _naive(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=None) if value else None


def _base_models(value: object) -> tuple[list[str], str | None]:
    """The Hub's baseModels: {"relation": r, "models": [{"id": ...}]} (or a bare list in older answers)."""
    if isinstance(value, dict):
        models = value.get("models") or []
        return [m["id"] for m in models if isinstance(m, dict) and isinstance(m.get("id"), str)], value.get("relation")
    if isinstance(value, list):
        return [m if isinstance(m, str) else m.get("id") for m in value if isinstance(m, str | dict)], None
    return [], None


def listed_from_info(info: ModelInfo) -> Listed:
    card = info.card_data.to_dict() if hasattr(info.card_data, "to_dict") else dict(info.card_data or {})
    bases, relation = _base_models(info.base_models)
    return Listed(id=info.id, sha=info.sha, author=info.author, created_at=_naive(info.created_at),
                  last_modified=_naive(info.last_modified), gated=None if info.gated is None else str(info.gated),
                  private=info.private, downloads=info.downloads, likes=info.likes, pipeline_tag=info.pipeline_tag,
                  library_name=info.library_name, tags=list(info.tags or []), base_models=bases,
                  base_relation=relation, card=card, siblings=[s.rfilename for s in info.siblings or []])


def list_stage(source: HubSource, query: CrawlQuery) -> Iterator[Listed]:
    for info in source.list_models(query):
        yield listed_from_info(info)


class Fetched(BaseModel):
    model_config = {"arbitrary_types_allowed": True}

    outcome: CrawledModel
    result: PartialResult | None = None


def fingerprint_stage(source: HubSource, listed: Listed) -> Fetched:
    """Partial signature of one repo at its listed commit; bad or unreachable repos give a status and a reason."""
    outcome = CrawledModel(id=listed.id, sha=listed.sha, status="partial")
    try:
        validate_model_id(listed.id)
    except HubindexError as exc:  # a hostile or malformed id never becomes a path or a catalog row
        outcome.status, outcome.reason = "invalid", str(exc)
        return Fetched(outcome=outcome)
    try:
        if not listed.sha:
            raise HubAccessError("error", f"{listed.id}: the listing gave no commit sha")
        if not listed.siblings:  # a listing without file lists: ask for this commit's
            info = source.model_info(listed.id, listed.sha)
            listed.siblings = [s.rfilename for s in info.siblings or []]
        result = partial_signature(source, listed.id, listed.sha, listed.siblings)
    except HubAccessError as exc:
        outcome.status, outcome.reason = exc.status, str(exc)
        return Fetched(outcome=outcome)
    except UnsupportedFormatError as exc:
        outcome.status, outcome.reason = "unsupported", str(exc)
        return Fetched(outcome=outcome)
    except HubindexError as exc:  # corrupt or lying files, hostile file names, configs that contradict weights
        outcome.status, outcome.reason = "error", str(exc)
        return Fetched(outcome=outcome)
    outcome.kind = result.files.kind
    outcome.bytes_total, outcome.bytes_fetched = result.weight_bytes, result.traffic.bytes
    outcome.requests = result.traffic.requests
    return Fetched(outcome=outcome, result=result)


def model_row(endpoint: str, listed: Listed, result: PartialResult) -> dict:
    """The catalog's model columns for a repo fingerprinted from the hub (no local folder)."""
    declared = metadata_columns(listed.card, result.config, result.files.kind)
    return {**declared, "id": listed.id, "source": endpoint, "path": None, "file_stamp": listed.sha,
            "dtype": dominant_dtype(result.signature.dtypes),
            "created_at": listed.created_at or declared["created_at"],
            "status": "weights_only", "error": PARTIAL_NOTE}


def record_stage(catalog: Catalog, endpoint: str, listed: Listed, fetched: Fetched) -> None:
    """Write one repo's outcome: metadata always, the signature when there is one. Idempotent per commit."""
    outcome = fetched.outcome
    if outcome.status == "invalid":
        return  # an id that is not a valid path never reaches the catalog
    if fetched.result is not None:
        catalog.record_model(model_row(endpoint, listed, fetched.result), fetched.result.signature)
    else:
        catalog.record_failure(listed.id, endpoint, None, outcome.status, outcome.reason or outcome.status)
    record_hub(catalog, {
        "id": listed.id, "endpoint": endpoint, "sha": listed.sha, "status": outcome.status, "reason": outcome.reason,
        "author": listed.author, "pipeline_tag": listed.pipeline_tag, "library_name": listed.library_name,
        "gated": listed.gated, "private": listed.private, "created_at": listed.created_at,
        "last_modified": listed.last_modified, "downloads": listed.downloads, "likes": listed.likes,
        "tags": listed.tags, "base_models": listed.base_models, "base_relation": listed.base_relation,
        "card_data": listed.card, "siblings": listed.siblings, "bytes_total": outcome.bytes_total,
        "bytes_fetched": outcome.bytes_fetched, "requests": outcome.requests})


def finish_stage(catalog: Catalog) -> tuple[int, int]:
    """After a batch of records: families and bases from the weights (no probes: partial fingerprints have no
    activations), lineage of the families that changed, FAISS spaces. Returns (families recomputed, spaces)."""
    plan_bases(catalog, DEFAULT_METHOD, probe=False)
    return finish(catalog)
