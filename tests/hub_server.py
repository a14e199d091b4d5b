"""A local stand-in for the part of the Hugging Face Hub HTTP API that `huggingface_hub` calls while crawling.

Serves a hub-like folder (`ROOT/org/name/`, e.g. a reference zoo) on 127.0.0.1:
- `GET /api/models` with `author`, `search`, `filter` (tags, all must match), `pipeline_tag`, `library`, `sort`,
  `limit` and `expand[]`; pages of `page_size` linked by a GitHub-style `Link: <...>; rel="next"` header (cursor);
- `GET /api/models/{id}` and `/api/models/{id}/revision/{rev}` (rev: the repo sha or `main`), and
  `/api/models/{id}/tree/{rev}` (the file list `snapshot_download` reads);
- `HEAD`/`GET /{id}/resolve/{rev}/{file}` with `ETag`, `X-Repo-Commit`, `Content-Length`, `Accept-Ranges` and single
  `Range: bytes=a-b` requests answered 206.

Repos can be gated (401 on files, as the Hub answers without a token) or vanish after listing (404). `faults` inject
what real hubs do: 429 with Retry-After, 5xx, and connections dropped in the middle of a body. Every response body
byte is counted per path, so tests and bench/crawl_bytes.py can see exactly what a crawl fetched.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlencode, urlparse

import yaml

_TIME = "%Y-%m-%dT%H:%M:%S.000Z"  # the Hub's format, which huggingface_hub parses strictly
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


@dataclass
class Fault:
    """Answer `times` requests matching (method, path regex) with `kind`: an HTTP status or "drop" (the body is cut
    after `after_bytes` bytes and the connection closed)."""

    method: str
    path: str
    kind: int | str
    times: int = 1
    retry_after: int | None = None
    after_bytes: int = 64
    ranged: bool | None = None  # match only Range requests (True), only whole-file requests (False), or any
    fired: int = 0


@dataclass
class Repo:
    id: str
    folder: Path
    sha: str
    created_at: datetime
    last_modified: datetime
    card: dict
    files: dict[str, Path]
    gated: bool = False


@dataclass
class Traffic:
    requests: list[tuple[str, str, int, float]] = field(default_factory=list)  # method, path, status, when
    body_bytes: dict[str, int] = field(default_factory=dict)  # path -> bytes sent

    def bytes_for(self, prefix: str) -> int:
        return sum(n for p, n in self.body_bytes.items() if p.startswith(prefix))


def _card(folder: Path) -> dict:
    readme = folder / "README.md"
    if not readme.exists():
        return {}
    text = readme.read_text(errors="replace")
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    meta = yaml.safe_load(text[3:end]) if end > 0 else None
    return meta if isinstance(meta, dict) else {}


def _timestamp(value: object, fallback: float) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
        except ValueError:
            pass
    return datetime.fromtimestamp(fallback, UTC).replace(tzinfo=None)


def load_repo(model_id: str, folder: Path, gated: bool = False) -> Repo:
    files = {p.name: p for p in sorted(folder.iterdir()) if p.is_file()}
    digest = hashlib.sha1()
    for name, path in files.items():
        stat = path.stat()
        digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    card = _card(folder)
    mtime = min((p.stat().st_mtime for p in files.values()), default=0.0)
    created = _timestamp(card.get("created_at"), mtime)
    return Repo(model_id, folder, digest.hexdigest(), created, created, card, files, gated)


def _etag(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class HubServer:
    """`with HubServer(root) as hub:` serves ROOT/org/name/ at `hub.endpoint` until the block ends."""

    def __init__(self, root: Path | None = None, page_size: int = 10, gated: set[str] = frozenset(),
                 vanished: set[str] = frozenset(), faults: list[Fault] | None = None,
                 lean_listing: bool = False) -> None:
        self.repos: dict[str, Repo] = {}
        if root is not None:
            for folder in sorted(Path(root).glob("*/*")):
                if folder.is_dir() and not folder.name.startswith("."):
                    model_id = f"{folder.parent.name}/{folder.name}"
                    self.repos[model_id] = load_repo(model_id, folder, model_id in gated)
        self.page_size = page_size
        self.lean_listing = lean_listing  # listings without file lists: clients must ask model_info per repo
        self.vanished = set(vanished)
        self.faults = list(faults or [])
        self.traffic = Traffic()
        self._etags: dict[Path, str] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, model_id: str, folder: Path, gated: bool = False) -> None:
        self.repos[model_id] = load_repo(model_id, folder, gated)

    def touch(self, model_id: str) -> None:
        """Re-read a repo's files after they changed: a new commit (sha) and lastModified."""
        repo = self.repos[model_id]
        self.repos[model_id] = load_repo(model_id, repo.folder, repo.gated)
        self.repos[model_id].last_modified = datetime.now(UTC).replace(tzinfo=None)
        self._etags.clear()

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- what the API answers
    def etag(self, path: Path) -> str:
        with self._lock:
            if path not in self._etags:
                self._etags[path] = _etag(path)
            return self._etags[path]

    def info(self, repo: Repo, expand: list[str] | None) -> dict:
        bases = repo.card.get("base_model")
        bases = [bases] if isinstance(bases, str) else bases if isinstance(bases, list) else []
        relation = repo.card.get("base_model_relation")
        tags = [str(t) for t in repo.card.get("tags", []) if isinstance(t, str | int)]
        library = repo.card.get("library_name", "peft" if "adapter_config.json" in repo.files else "transformers")
        tags += [library] + (["safetensors"] if any(n.endswith(".safetensors") for n in repo.files) else [])
        for base in bases:
            tags += [f"base_model:{base}"] + ([f"base_model:{relation}:{base}"] if relation else [])
        full = {
            "id": repo.id, "_id": hashlib.md5(repo.id.encode()).hexdigest()[:24], "modelId": repo.id,
            "author": repo.id.split("/")[0], "sha": repo.sha,
            "lastModified": repo.last_modified.strftime(_TIME), "createdAt": repo.created_at.strftime(_TIME),
            "private": False, "gated": "manual" if repo.gated else False, "disabled": False,
            "downloads": len(repo.id) * 7, "likes": len(repo.files), "tags": tags,
            "pipeline_tag": repo.card.get("pipeline_tag", "text-generation"),
            "library_name": library,
            "cardData": repo.card, "baseModels": {"relation": relation, "models": [{"id": b} for b in bases]}
            if bases else None,
            "siblings": [{"rfilename": name} for name in repo.files],
        }
        if not expand:
            return full
        return {"id": repo.id, "_id": full["_id"], **{key: full[key] for key in expand if key in full}}

    def listing(self, params: dict[str, list[str]]) -> list[Repo]:
        repos = list(self.repos.values())
        if author := params.get("author", [None])[0]:
            repos = [r for r in repos if r.id.split("/")[0] == author]
        if search := params.get("search", [None])[0]:
            repos = [r for r in repos if search.lower() in r.id.lower()]
        for wanted in params.get("filter", []):
            repos = [r for r in repos if wanted in self.info(r, ["tags"])["tags"]]
        if tag := params.get("pipeline_tag", [None])[0]:
            repos = [r for r in repos if self.info(r, ["pipeline_tag"])["pipeline_tag"] == tag]
        if params.get("sort", [None])[0] == "lastModified":
            repos.sort(key=lambda r: (r.last_modified, r.id), reverse=True)
        return repos

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                self._dispatch(body=False)

            def do_GET(self) -> None:
                self._dispatch(body=True)

            # ---- plumbing
            def _send(self, status: int, payload: bytes, headers: dict[str, str], body: bool,
                      drop_after: int | None = None) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                path = urlparse(self.path).path
                with hub._lock:
                    hub.traffic.requests.append((self.command, path, status, time.monotonic()))
                if not body:
                    return
                sent = payload if drop_after is None else payload[:drop_after]
                self.wfile.write(sent)
                with hub._lock:
                    hub.traffic.body_bytes[path] = hub.traffic.body_bytes.get(path, 0) + len(sent)
                if drop_after is not None:
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)

            def _json(self, status: int, value: object, body: bool, headers: dict[str, str] | None = None) -> None:
                self._send(status, json.dumps(value).encode(), {"Content-Type": "application/json",
                                                                **(headers or {})}, body)

            def _error(self, status: int, code: str, message: str, body: bool) -> None:
                self._json(status, {"error": message}, body, {"X-Error-Code": code, "X-Error-Message": message})

            def _fault(self) -> Fault | None:
                path = urlparse(self.path).path
                with hub._lock:
                    for fault in hub.faults:
                        ranged = "Range" in self.headers
                        if fault.fired < fault.times and fault.method == self.command and re.search(fault.path, path) \
                                and fault.ranged in (None, ranged):
                            fault.fired += 1
                            return fault
                return None

            def _dispatch(self, body: bool) -> None:
                fault = self._fault()
                if fault is not None and fault.kind != "drop":
                    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                    self._json(int(fault.kind), {"error": "injected"}, body, headers)
                    return
                url = urlparse(self.path)
                path = unquote(url.path)
                params = parse_qs(url.query)
                if path == "/api/models":
                    self._list(url.path, params, body)
                elif path.startswith("/api/models/"):
                    self._model(path[len("/api/models/"):], params, body)
                elif "/resolve/" in path:
                    self._resolve(path, body, fault.after_bytes if fault is not None else None)
                else:
                    self._error(404, "EntryNotFound", f"no route {path}", body)

            # ---- routes
            def _list(self, raw_path: str, params: dict[str, list[str]], body: bool) -> None:
                repos = hub.listing(params)
                cursor = int(params.get("cursor", ["0"])[0])
                size = min(hub.page_size, int(params.get("limit", [str(hub.page_size)])[0]))
                page = repos[cursor : cursor + size]
                expand = params.get("expand") or params.get("expand[]")
                headers = {}
                if cursor + size < len(repos):
                    query = urlencode([(k, v) for k, vs in params.items() if k != "cursor" for v in vs]
                                      + [("cursor", str(cursor + size))])
                    headers["Link"] = f'<{hub.endpoint}{raw_path}?{query}>; rel="next"'
                entries = [hub.info(r, expand) for r in page]
                if hub.lean_listing:
                    entries = [{k: v for k, v in e.items() if k != "siblings"} for e in entries]
                self._json(200, entries, body, headers)

            def _model(self, rest: str, params: dict[str, list[str]], body: bool) -> None:
                tree = "/tree/" in rest
                model_id, _, revision = rest.partition("/tree/" if tree else "/revision/")
                repo = hub.repos.get(model_id)
                if repo is None or model_id in hub.vanished:
                    self._error(404, "RepoNotFound", f"Repository {model_id} not found", body)
                    return
                if revision and revision not in (repo.sha, "main"):
                    self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", body)
                    return
                if tree:  # snapshot_download's file list (flat repos: every file at the root)
                    if repo.gated:
                        self._error(401, "GatedRepo", f"Access to model {model_id} is restricted.", body)
                        return
                    self._json(200, [{"type": "file", "path": name, "size": path.stat().st_size,
                                      "oid": hub.etag(path)[:40]} for name, path in repo.files.items()], body)
                    return
                self._json(200, hub.info(repo, params.get("expand") or params.get("expand[]")), body)

            def _resolve(self, path: str, body: bool, drop_after: int | None) -> None:
                head, _, filename = path.lstrip("/").partition("/resolve/")
                revision, _, filename = filename.partition("/")
                repo = hub.repos.get(head)
                if repo is None or head in hub.vanished:
                    self._error(404, "RepoNotFound", f"Repository {head} not found", body)
                    return
                if repo.gated:
                    self._error(401, "GatedRepo", f"Access to model {head} is restricted.", body)
                    return
                if revision not in (repo.sha, "main"):
                    self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", body)
                    return
                file = repo.files.get(filename)
                if file is None:
                    self._json(404, {"error": "Entry not found"}, body,
                               {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": repo.sha})
                    return
                size = file.stat().st_size
                headers = {"ETag": f'"{hub.etag(file)}"', "X-Repo-Commit": repo.sha, "Accept-Ranges": "bytes",
                           "Content-Type": "application/octet-stream"}
                match = _RANGE.match(self.headers.get("Range", "") or "")
                start, end, status = 0, size - 1, 200
                if match:
                    start = int(match.group(1))
                    end = min(int(match.group(2)) if match.group(2) else size - 1, size - 1)
                    if start >= size:
                        self._send(416, b"", {"Content-Range": f"bytes */{size}"}, body)
                        return
                    status = 206
                    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
                if not body:  # HEAD: the headers a GET would get, no body
                    self.send_response(status)
                    for key, value in {**headers, "Content-Length": str(end - start + 1)}.items():
                        self.send_header(key, value)
                    self.end_headers()
                    with hub._lock:
                        hub.traffic.requests.append(("HEAD", path, status, time.monotonic()))
                    return
                with open(file, "rb") as handle:
                    handle.seek(start)
                    payload = handle.read(end - start + 1)
                self._send(status, payload, headers, body, drop_after)

        return Handler
