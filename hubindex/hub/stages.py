"""The crawl as stage functions with small, serialisable inputs, so a queue worker can run any of them:

    list_stage(source, query) -> Listed...         one listing call per page, metadata for every model
    fingerprint_stage(source, listed) -> Fetched   partial signature from range reads (or why there is none)
    record_stage(catalog, endpoint, listed, fetched)
    finish_stage(catalog)                          families, lineage and FAISS spaces for what changed

`Listed` is the unit of work: everything the crawl stores about a repo's commit, taken from the listing itself.

What reads weights (partial signatures, the indexer's metadata and stages: torch) is imported inside the functions
that read them, so a metadata-only crawl lists and records without loading torch (~0.5 GB and seconds of CPU).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel

from hubindex.catalog import Catalog
from hubindex.catalog.hub_rows import record_hub
from hubindex.embed.methods import DEFAULT_METHOD
from hubindex.errors import HubindexError, UnsupportedFormatError
from hubindex.hub.source import CREATED_FLOOR, CrawlQuery, HubAccessError, HubSource, TransientHubError
from hubindex.ids import validate_model_id

if TYPE_CHECKING:
    from hubindex.hub.partial import PartialResult

PARTIAL_NOTE = "partial fingerprint from range reads: Delta Activations need the weights (crawl --full)"


class Listed(BaseModel):
    id: str
    sha: str | None
    author: str | None = None
    created_at: datetime | None = None
    created_source: str | None = None  # hub (createdAt) | hub_floor (the Hub's 2022-03-02 floor) | ...
    last_modified: datetime | None = None
    gated: str | None = None  # the Hub's gated: "false" | "auto" | "manual"
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
    status: str  # partial | full | unchanged | listed | unsupported | gated | missing | error | invalid
    reason: str | None = None
    created_at: datetime | None = None  # the best creation time found, and where it came from:
    created_source: str | None = None  # hub | first_commit | card | hub_floor
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


def gated_value(value: object) -> str | None:
    """The Hub's gated (False | "auto" | "manual") as a stored string; None when the Hub did not say."""
    if value is None:
        return None
    if value is False or value == "False":
        return "false"
    return "manual" if value is True or value == "True" else str(value)


def created_from_hub(value: datetime | None) -> tuple[datetime | None, str | None]:
    """createdAt and its source: `hub_floor` when it is the Hub's floor (the repo is older, by an unknown amount)."""
    created = _naive(value)
    if created is None:
        return None, None
    return created, "hub_floor" if created <= CREATED_FLOOR else "hub"


def _hub_time(value: object) -> datetime | None:
    """A Hub timestamp ("2024-01-02T03:04:05.000Z") as a naive UTC datetime (fromisoformat: C-fast for listings
    of a million repos; huggingface_hub's parse_datetime goes through strptime)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=None)
    except ValueError:
        return None


def listed_fields(item: dict) -> dict:
    """One repo of a listing page (or a model_info answer) as Listed's fields, from the Hub's JSON (the field names
    huggingface_hub's ModelInfo reads: cardData, baseModels, createdAt, lastModified, siblings[].rfilename).
    Plain values: a metadata-only crawl writes them without building a model object per repo."""
    card = item.get("cardData") if isinstance(item.get("cardData"), dict) else {}
    bases, relation = _base_models(item.get("baseModels"))
    created, source = created_from_hub(_hub_time(item.get("createdAt")))
    siblings = item.get("siblings") or []
    return {"id": item["id"], "sha": item.get("sha"), "author": item.get("author"), "created_at": created,
            "created_source": source, "last_modified": _hub_time(item.get("lastModified")),
            "gated": gated_value(item.get("gated")), "private": item.get("private"),
            "downloads": item.get("downloads"), "likes": item.get("likes"), "pipeline_tag": item.get("pipeline_tag"),
            "library_name": item.get("library_name"), "tags": [t for t in item.get("tags") or [] if isinstance(t, str)],
            "base_models": bases, "base_relation": relation, "card": card,
            "siblings": [s["rfilename"] for s in siblings if isinstance(s, dict) and isinstance(s.get("rfilename"),
                                                                                            str)]}


def listed_from_item(item: dict) -> Listed:
    return Listed(**listed_fields(item))


def list_stage(source: HubSource, query: CrawlQuery) -> Iterator[Listed]:
    for item in source.list_models(query):
        yield listed_from_item(item)


def creation_time(source: HubSource, listed: Listed) -> tuple[datetime | None, str | None]:
    """A real creation time for a repo whose createdAt is the Hub's floor: its first commit's date, else a date
    its card declares before the floor, else the floor itself (source `hub_floor`)."""
    if listed.created_source != "hub_floor" or not listed.sha:
        return listed.created_at, listed.created_source
    try:
        first = source.first_commit_date(listed.id, listed.sha)
    except TransientHubError:
        raise
    except HubAccessError:
        first = None
    if first is not None:
        return first, "first_commit"
    from hubindex.indexer.metadata import parse_timestamp  # torch (see the docstring)

    card = parse_timestamp(listed.card.get("created_at"))
    if card is not None and card <= CREATED_FLOOR:
        return card, "card"
    return listed.created_at, listed.created_source


@dataclass
class Fetched:
    """A repo's outcome and its partial read (in-process only: `crawl_jobs.FetchedPayload` is what travels)."""

    outcome: CrawledModel
    result: PartialResult | None = None


def fingerprint_stage(source: HubSource, listed: Listed) -> Fetched:
    """Partial signature of one repo at its listed commit; bad or unreachable repos give a status and a reason.

    Permanent problems (gated, missing, unsupported, corrupt) are outcomes; transient ones (timeouts, dropped
    connections, 429/5xx beyond huggingface_hub's retries) raise TransientHubError, a ConnectionError that queue
    workers retry."""
    outcome = CrawledModel(id=listed.id, sha=listed.sha, status="partial", created_at=listed.created_at,
                           created_source=listed.created_source)
    try:
        validate_model_id(listed.id)
    except HubindexError as exc:  # a hostile or malformed id never becomes a path or a catalog row
        outcome.status, outcome.reason = "invalid", str(exc)
        return Fetched(outcome=outcome)
    try:
        outcome.created_at, outcome.created_source = creation_time(source, listed)
        if not listed.sha:
            raise HubAccessError("error", f"{listed.id}: the listing gave no commit sha")
        from hubindex.hub.partial import partial_signature  # torch (see the docstring)

        if not listed.siblings:  # a listing without file lists: ask for this commit's
            listed.siblings = listed_from_item(source.model_info(listed.id, listed.sha)).siblings
        result = partial_signature(source, listed.id, listed.sha, listed.siblings)
    except TransientHubError:
        raise
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


def model_row(endpoint: str, listed: Listed, result: PartialResult, created_at: datetime | None = None) -> dict:
    """The catalog's model columns for a repo fingerprinted from the hub (no local folder)."""
    from hubindex.indexer.metadata import dominant_dtype, metadata_columns  # torch (see the docstring)

    declared = metadata_columns(listed.card, result.config, result.files.kind)
    return {**declared, "id": listed.id, "source": endpoint, "path": None, "file_stamp": listed.sha,
            "dtype": dominant_dtype(result.signature.dtypes),
            "created_at": created_at or listed.created_at or declared["created_at"],
            "status": "weights_only", "error": PARTIAL_NOTE}


def record_stage(catalog: Catalog, endpoint: str, listed: Listed, fetched: Fetched) -> None:
    """Write one repo's outcome: metadata always, the signature when there is one. Idempotent per commit."""
    outcome = fetched.outcome
    if outcome.status == "invalid":
        return  # an id that is not a valid path never reaches the catalog
    created_at = outcome.created_at or listed.created_at
    if fetched.result is not None:
        catalog.record_model(model_row(endpoint, listed, fetched.result, created_at), fetched.result.signature)
    else:
        catalog.record_failure(listed.id, endpoint, None, outcome.status, outcome.reason or outcome.status)
    record_hub(catalog, {
        "id": listed.id, "endpoint": endpoint, "sha": listed.sha, "status": outcome.status, "reason": outcome.reason,
        "author": listed.author, "pipeline_tag": listed.pipeline_tag, "library_name": listed.library_name,
        "gated": listed.gated, "private": listed.private, "created_at": created_at,
        "created_source": outcome.created_source or listed.created_source,
        "last_modified": listed.last_modified, "downloads": listed.downloads, "likes": listed.likes,
        "tags": listed.tags, "base_models": listed.base_models, "base_relation": listed.base_relation,
        "card_data": listed.card, "siblings": listed.siblings, "bytes_total": outcome.bytes_total,
        "bytes_fetched": outcome.bytes_fetched, "requests": outcome.requests})


def finish_stage(catalog: Catalog) -> tuple[int, int]:
    """After a batch of records: families and bases from the weights (no probes: partial fingerprints have no
    activations), lineage of the families that changed, FAISS spaces. Returns (families recomputed, spaces)."""
    from hubindex.indexer.stages import finish, plan_bases  # the lineage engine, torch (see the docstring)

    plan_bases(catalog, DEFAULT_METHOD, probe=False)
    return finish(catalog)
