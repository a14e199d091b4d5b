"""The Hub as a source of models, through `huggingface_hub` only: its shared HTTP session and its retry/backoff
(`http_backoff` retries 408/429/5xx, timeouts and dropped connections, waiting `Retry-After` / `RateLimit` when the
Hub sends them), `hf_raise_for_status` and its exception classes for the Hub's X-Error-Code, `get_hf_file_metadata`
for files (LFS files: a 302 to a signed CDN URL, which gets no Authorization header), `snapshot_download` for whole
checkpoints. There is no second HTTP client here. Every request has connect and read timeouts.

Configuration is huggingface_hub's: HF_ENDPOINT (or `endpoint=`), HF_TOKEN, HF_HUB_ETAG_TIMEOUT,
HF_HUB_DOWNLOAD_TIMEOUT, HF_HOME.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

import httpx2
from huggingface_hub import HfApi, constants, get_hf_file_metadata, hf_hub_url, snapshot_download
from huggingface_hub.errors import (
    BadRequestError,
    DisabledRepoError,
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers, hf_raise_for_status, http_backoff, parse_datetime

from hubindex.errors import HubindexError
from hubindex.ids import validate_model_id, validate_repo_filename

# Everything the metadata-first crawl stores, requested in the listing itself: one API call per page of models.
# The Hub returns only the fields asked for (author too).
EXPAND = ["author", "sha", "lastModified", "createdAt", "cardData", "baseModels", "tags", "siblings", "downloads",
          "likes", "gated", "private", "pipeline_tag", "library_name", "safetensors"]
HEADER_PROBE = 100_000  # first range read of a safetensors file; most headers fit (huggingface_hub uses the same)
CREATED_FLOOR = datetime(2022, 3, 2, 23, 29, 4)  # the Hub's createdAt for every repo created before it
TRANSIENT_STATUS = (408, 429, 500, 502, 503, 504)


class HubAccessError(HubindexError):
    """The Hub refused or lost a repo for good (for this commit): `status` is gated, missing or error."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


class TransientHubError(HubAccessError, ConnectionError):
    """Timeouts, dropped connections, 429/5xx after huggingface_hub's own retries: worth trying again later (a
    ConnectionError, so queue workers retry it with backoff)."""

    def __init__(self, message: str) -> None:
        super().__init__("error", message)


def access_error(exc: Exception, what: str) -> HubAccessError:
    """Classify a huggingface_hub/httpx failure by the Hub's X-Error-Code, as huggingface_hub's exception classes
    carry it (hf_raise_for_status): never by the bare status code, since the Hub answers 401 for missing repos."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    code = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, GatedRepoError):  # a subclass of RepositoryNotFoundError: test it first
        return HubAccessError("gated", f"{what}: gated repo (HTTP {code}); set HF_TOKEN with access to it")
    if isinstance(exc, RepositoryNotFoundError):
        return HubAccessError("missing", f"{what}: repository not found, private or deleted (HTTP {code})")
    if isinstance(exc, DisabledRepoError):
        return HubAccessError("missing", f"{what}: repository disabled on the hub")
    if isinstance(exc, RevisionNotFoundError):
        return HubAccessError("missing", f"{what}: revision not found (the repo changed after listing)")
    if isinstance(exc, EntryNotFoundError):
        return HubAccessError("error", f"{what}: file listed by the hub but not found (HTTP 404)")
    if isinstance(exc, httpx2.TransportError | TimeoutError | ConnectionError):
        return TransientHubError(f"{what}: {type(exc).__name__}: {first}")
    if code in TRANSIENT_STATUS:
        return TransientHubError(f"{what}: HTTP {code} after retries: {first}")
    if isinstance(exc, BadRequestError | HfHubHTTPError):
        if code == 403:
            return HubAccessError("gated", f"{what}: forbidden (HTTP 403): {first}")
        return HubAccessError("error", f"{what}: HTTP {code}: {first}")
    return HubAccessError("error", f"{what}: {type(exc).__name__}: {first}")


def timeouts() -> tuple[httpx2.Timeout, httpx2.Timeout]:
    """(metadata, download) timeouts from HF_HUB_ETAG_TIMEOUT and HF_HUB_DOWNLOAD_TIMEOUT, read now (huggingface_hub
    reads them once at import). Connect and read are bounded on every request, so a half-open connection or a
    stalled body raises a timeout that http_backoff retries, and a crawl never hangs."""
    def seconds(name: str, default: float) -> float:
        try:
            return float(os.environ.get(name) or default)
        except ValueError:
            return default

    meta = seconds("HF_HUB_ETAG_TIMEOUT", constants.DEFAULT_ETAG_TIMEOUT)
    download = seconds("HF_HUB_DOWNLOAD_TIMEOUT", constants.DEFAULT_DOWNLOAD_TIMEOUT)
    return (httpx2.Timeout(meta, connect=meta), httpx2.Timeout(download, connect=meta))


@dataclass(frozen=True)
class CrawlQuery:
    """Which models a crawl lists: the Hub's own filters, evaluated server-side."""

    author: str | None = None
    search: str | None = None
    base_model: str | None = None  # children of this id, by the Hub's derived `base_model:<id>` tag
    pipeline_tag: str | None = None
    library: str | None = None
    limit: int | None = None
    since: datetime | None = None  # only models modified at or after this time


@dataclass(frozen=True)
class RemoteFile:
    """A resolved repo file: where to range-read it, its size and content tag."""

    name: str
    url: str
    location: str
    size: int
    etag: str | None
    commit: str | None


def go_online() -> None:
    """Undo the CLI's default HF_HUB_OFFLINE=1 for a command that must reach the hub (huggingface_hub reads the
    variable once, at import, into `constants`)."""
    os.environ["HF_HUB_OFFLINE"] = "0"
    constants.HF_HUB_OFFLINE = False


class HubSource:
    def __init__(self, endpoint: str | None = None, token: str | bool | None = None) -> None:
        if constants.is_offline_mode():
            raise HubindexError("HF_HUB_OFFLINE is set: crawling needs the hub (unset it to crawl)")
        # HF_ENDPOINT is read here, not only when huggingface_hub was imported (it caches it in `constants`).
        self.api = HfApi(endpoint=endpoint or os.environ.get("HF_ENDPOINT") or None, token=token)
        self.endpoint = self.api.endpoint.rstrip("/")
        self.token = token
        self.meta_timeout, self.download_timeout = timeouts()
        self._locations: dict[str, str] = {}  # resolve URL -> a fresh signed CDN URL after one expired

    # ---- metadata
    def _get(self, url: str, what: str, params: dict | None = None) -> httpx2.Response:
        """One API GET with huggingface_hub's backoff and error mapping, bounded by the metadata timeout."""
        try:
            response = http_backoff("GET", url, params=params, headers=self._headers(), timeout=self.meta_timeout)
            hf_raise_for_status(response)
        except Exception as exc:
            raise access_error(exc, what) from None
        return response

    def listing_params(self, query: CrawlQuery) -> dict:
        """The query string HfApi.list_models sends for these filters (expand: the fields the crawl stores)."""
        # The Hub tags every model with its library and with `base_model:<id>` for each declared base.
        filters = [f"base_model:{validate_model_id(query.base_model)}"] if query.base_model else []
        filters += [query.library] if query.library else []
        params: dict = {"author": query.author, "search": query.search, "filter": filters or None,
                        "pipeline_tag": query.pipeline_tag,
                        "sort": "lastModified" if query.since else None,
                        "limit": min(query.limit, 1000) if query.limit else None, "expand": EXPAND}
        return {k: v for k, v in params.items() if v is not None}

    def list_pages(self, query: CrawlQuery, resume: str | None = None) -> Iterator[tuple[list[dict], str | None]]:
        """Pages of the listing (the Hub's JSON, the fields huggingface_hub's ModelInfo reads) with the URL of the
        next page (the Hub's cursor, from `Link: <...>; rel="next"`, as huggingface_hub's paginate follows it): a
        crawl that stores it can resume there. Newest change first when `since` is set (stops at older ones)."""
        url, params = (resume, None) if resume else (f"{self.endpoint}/api/models", self.listing_params(query))
        while url:
            response = self._get(url, f"listing models at {self.endpoint}", params)
            nxt = response.links.get("next", {}).get("url")
            infos = [item for item in response.json() if isinstance(item, dict) and isinstance(item.get("id"), str)]
            if query.since:
                since = query.since.isoformat()  # the Hub's UTC timestamps compare as text
                fresh = [i for i in infos if not i.get("lastModified") or i["lastModified"][:19] >= since[:19]]
                if len(fresh) < len(infos):
                    yield fresh, None  # sorted by lastModified: everything after this is older
                    return
            yield infos, nxt
            url, params = nxt, None

    def list_models(self, query: CrawlQuery) -> Iterator[dict]:
        """Models matching the query, at most `limit`."""
        seen = 0
        for infos, _ in self.list_pages(query):
            for info in infos:
                if query.limit is not None and seen >= query.limit:
                    return
                seen += 1
                yield info

    def model_info(self, repo_id: str, revision: str | None = None) -> dict:
        """One repo's metadata pinned at a revision (sha), with the same expand fields as the listing, as the Hub's
        JSON (HfApi's model_info does not retry: the same request goes through http_backoff)."""
        path = f"{self.endpoint}/api/models/{validate_model_id(repo_id)}"
        if revision:
            path += f"/revision/{revision}"
        info = self._get(path, repo_id, {"expand": EXPAND}).json()
        if not isinstance(info, dict) or not isinstance(info.get("id"), str):
            raise HubAccessError("error", f"{repo_id}: the hub answered model_info with no repo id")
        return info

    def first_commit_date(self, repo_id: str, revision: str) -> datetime | None:
        """When the repo's first commit was made: its real creation time (the Hub floors createdAt at
        2022-03-02T23:29:04Z; the commit history, as HfApi.list_repo_commits reads it, keeps real dates)."""
        url: str | None = f"{self.endpoint}/api/models/{validate_model_id(repo_id)}/commits/{revision}"
        oldest = None
        while url:
            response = self._get(url, f"{repo_id} commit history")
            for item in response.json():
                oldest = parse_datetime(item["date"]).replace(tzinfo=None)
            url = response.links.get("next", {}).get("url")
        return oldest

    # ---- files
    def _headers(self) -> dict[str, str]:
        return build_hf_headers(token=self.token)

    def resolve(self, repo_id: str, filename: str, revision: str) -> RemoteFile:
        """HEAD the file (with retries) for its size, ETag, commit and final location (a signed CDN URL after the
        Hub's 302 for LFS files, whose size and ETag come in X-Linked-Size and X-Linked-Etag)."""
        url = hf_hub_url(validate_model_id(repo_id), validate_repo_filename(filename), revision=revision,
                         endpoint=self.endpoint)
        try:
            meta = get_hf_file_metadata(url, token=self.token, endpoint=self.endpoint, retry_on_errors=True,
                                        timeout=self.meta_timeout)
        except Exception as exc:
            raise access_error(exc, f"{repo_id}/{filename}") from None
        if meta.size is None:
            raise HubAccessError("error", f"{repo_id}/{filename}: the hub sent no file size")
        return RemoteFile(filename, url, meta.location or url, meta.size, meta.etag, meta.commit_hash)

    def read_range(self, file: RemoteFile, start: int, end: int) -> bytes:
        """Bytes [start, end) of a file by one single-range HTTP request (object stores behind CDNs ignore
        multi-range ones) through huggingface_hub's session and backoff (429 + Retry-After, 5xx, dropped
        connections and timeouts are retried). A signed CDN URL that expired or is refused is resolved again once."""
        if end <= start:
            return b""
        location = self._locations.get(file.url, file.location)
        for attempt in (0, 1):
            # Authorization only goes to the Hub itself, never to a CDN that a redirect pointed at.
            on_hub = _same_origin(location, self.endpoint)
            headers = self._headers() if on_hub else {}
            headers["Range"] = f"bytes={start}-{end - 1}"
            headers["Accept-Encoding"] = "identity"
            try:
                response = http_backoff("GET", location, headers=headers, timeout=self.download_timeout)
                if not on_hub and response.status_code in (400, 403) and attempt == 0:
                    location = self._fresh_location(file)
                    continue
                hf_raise_for_status(response)
            except HubAccessError:
                raise
            except Exception as exc:
                raise access_error(exc, f"{file.name} bytes {start}-{end - 1}") from None
            break
        data = response.content
        if response.status_code == 200:  # the server ignored Range: keep only what was asked (and count it all)
            data = data[start:end]
        if len(data) != end - start:
            raise TransientHubError(f"{file.name}: asked for {end - start} bytes at {start}, got {len(data)}")
        return data

    def _fresh_location(self, file: RemoteFile) -> str:
        try:
            meta = get_hf_file_metadata(file.url, token=self.token, endpoint=self.endpoint, retry_on_errors=True,
                                        timeout=self.meta_timeout)
        except Exception as exc:
            raise access_error(exc, file.name) from None
        self._locations[file.url] = meta.location or file.url
        return self._locations[file.url]

    def snapshot(self, repo_id: str, revision: str, local_dir: Path, patterns: list[str]) -> Path:
        """The files matching `patterns` into `local_dir`; interrupted downloads resume from their .incomplete.
        snapshot_download bounds its reads by HF_HUB_DOWNLOAD_TIMEOUT (set here from the environment)."""
        constants.HF_HUB_DOWNLOAD_TIMEOUT = self.download_timeout.read  # read by hf_hub_download at call time
        constants.HF_HUB_ETAG_TIMEOUT = self.meta_timeout.read
        try:
            return Path(snapshot_download(validate_model_id(repo_id), revision=revision, local_dir=local_dir,
                                          allow_patterns=patterns, endpoint=self.endpoint, token=self.token,
                                          max_workers=2, etag_timeout=self.meta_timeout.read))
        except Exception as exc:
            raise access_error(exc, repo_id) from None


def _same_origin(url: str, endpoint: str) -> bool:
    a, b = urlparse(url), urlparse(endpoint)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)
