"""The Hub as a source of models, through `huggingface_hub` only: its HfApi, its shared HTTP session and its
retry/backoff (`http_backoff` retries 408/429/5xx and connection errors, waiting `Retry-After` when the Hub sends
it). There is no second HTTP client here.

Configuration is huggingface_hub's: HF_ENDPOINT (or `endpoint=`), HF_TOKEN, HF_HUB_DOWNLOAD_TIMEOUT, HF_HOME.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

from huggingface_hub import HfApi, constants, get_hf_file_metadata, hf_hub_url, snapshot_download
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.hf_api import ModelInfo
from huggingface_hub.utils import build_hf_headers, hf_raise_for_status, http_backoff

from hubindex.errors import HubindexError
from hubindex.ids import validate_model_id, validate_repo_filename

# Everything the metadata-first crawl stores, requested in the listing itself: one API call per page of models.
EXPAND = ["sha", "lastModified", "createdAt", "cardData", "baseModels", "tags", "siblings", "downloads", "likes",
          "gated", "private", "pipeline_tag", "library_name", "safetensors"]
HEADER_PROBE = 100_000  # first range read of a safetensors file; most headers fit (huggingface_hub uses the same)


class HubAccessError(HubindexError):
    """The Hub refused or lost a repo: `status` is gated (401/403), missing (404) or error (anything else)."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


def access_error(exc: Exception, what: str) -> HubAccessError:
    """Classify a huggingface_hub/httpx failure into the reason a crawl records."""
    code = getattr(getattr(exc, "response", None), "status_code", None)
    if code in (401, 403):
        return HubAccessError("gated", f"{what}: gated or private (HTTP {code}); set HF_TOKEN with access")
    if code == 404:
        return HubAccessError("missing", f"{what}: not found on the hub (HTTP 404)")
    return HubAccessError("error", f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")


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

    # ---- metadata
    def list_models(self, query: CrawlQuery) -> Iterator[ModelInfo]:
        """Models matching the query, newest change first when `since` is set (the listing stops at older ones)."""
        # The Hub tags every model with its library and with `base_model:<id>` for each declared base.
        filters = [f"base_model:{validate_model_id(query.base_model)}"] if query.base_model else []
        filters += [query.library] if query.library else []
        listing = self.api.list_models(author=query.author, search=query.search, filter=filters or None,
                                       pipeline_tag=query.pipeline_tag,
                                       sort="last_modified" if query.since else None, limit=query.limit,
                                       expand=EXPAND)
        try:
            for info in listing:
                if query.since and info.last_modified and info.last_modified.replace(tzinfo=None) < query.since:
                    return  # sorted by lastModified: everything after this is older
                yield info
        except HfHubHTTPError as exc:
            raise access_error(exc, f"listing models at {self.endpoint}") from None

    def model_info(self, repo_id: str, revision: str | None = None) -> ModelInfo:
        """One repo's metadata pinned at a revision (sha), with the same expand fields as the listing.

        HfApi.model_info does not retry, so the same request goes through huggingface_hub's http_backoff.
        """
        path = f"{self.endpoint}/api/models/{validate_model_id(repo_id)}"
        if revision:
            path += f"/revision/{revision}"
        try:
            response = http_backoff("GET", path, params={"expand": EXPAND}, headers=self._headers())
            hf_raise_for_status(response)
        except Exception as exc:
            raise access_error(exc, repo_id) from None
        return ModelInfo(**response.json())

    # ---- files
    def _headers(self) -> dict[str, str]:
        return build_hf_headers(token=self.token)

    def resolve(self, repo_id: str, filename: str, revision: str) -> RemoteFile:
        """HEAD the file (with retries) for its size, ETag, commit and final location (a CDN after a redirect)."""
        url = hf_hub_url(validate_model_id(repo_id), validate_repo_filename(filename), revision=revision,
                         endpoint=self.endpoint)
        try:
            meta = get_hf_file_metadata(url, token=self.token, endpoint=self.endpoint, retry_on_errors=True)
        except Exception as exc:
            raise access_error(exc, f"{repo_id}/{filename}") from None
        if meta.size is None:
            raise HubAccessError("error", f"{repo_id}/{filename}: the hub sent no file size")
        return RemoteFile(filename, url, meta.location or url, meta.size, meta.etag, meta.commit_hash)

    def read_range(self, file: RemoteFile, start: int, end: int) -> bytes:
        """Bytes [start, end) of a file by one HTTP Range request through huggingface_hub's session, with its
        backoff (429 + Retry-After, 5xx, dropped connections are retried)."""
        if end <= start:
            return b""
        # Authorization only goes to the Hub itself, never to a CDN that a redirect pointed at.
        headers = self._headers() if _same_origin(file.location, self.endpoint) else {}
        headers["Range"] = f"bytes={start}-{end - 1}"
        headers["Accept-Encoding"] = "identity"
        try:
            response = http_backoff("GET", file.location, headers=headers)
            hf_raise_for_status(response)
        except Exception as exc:
            raise access_error(exc, f"{file.name} bytes {start}-{end - 1}") from None
        data = response.content
        if response.status_code == 200:  # the server ignored Range: keep only what was asked (and count it all)
            data = data[start:end]
        if len(data) != end - start:
            raise HubAccessError("error", f"{file.name}: asked for {end - start} bytes at {start}, got {len(data)}")
        return data

    def snapshot(self, repo_id: str, revision: str, local_dir: Path, patterns: list[str]) -> Path:
        """The files matching `patterns` into `local_dir`; interrupted downloads resume from their .incomplete."""
        try:
            return Path(snapshot_download(validate_model_id(repo_id), revision=revision, local_dir=local_dir,
                                          allow_patterns=patterns, endpoint=self.endpoint, token=self.token,
                                          max_workers=2))
        except Exception as exc:
            raise access_error(exc, repo_id) from None


def _same_origin(url: str, endpoint: str) -> bool:
    a, b = urlparse(url), urlparse(endpoint)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)
