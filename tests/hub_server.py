"""A local stand-in for the Hugging Face Hub, written from what huggingface_hub's client expects of the real one.

Sources: huggingface_hub `hf_api.py` (list_models, model_info, list_repo_commits, ModelInfo, GitCommitInfo),
`file_download.py` (get_hf_file_metadata, the resolve URL and its headers), `utils/_http.py` (hf_raise_for_status:
the X-Error-Code values; http_backoff: 408/429/5xx, Retry-After, the RateLimit headers; redirects off the Hub are
not followed with the token), `utils/_pagination.py` (the `Link: <...>; rel="next"` cursor) and the Hub API docs.

Two servers on 127.0.0.1, on two ports (two origins):
- the Hub: `GET /api/models` (author, search, filter, pipeline_tag, library, sort, limit, expand[]; opaque cursor
  pages), `/api/models/{id}[/revision/{rev}]`, `/api/models/{id}/tree/{rev}`, `/api/models/{id}/commits/{rev}`,
  `HEAD`/`GET /{id}/resolve/{rev}/{file}`. Small (non-LFS) files are served by the Hub itself; LFS files
  (safetensors, bin, gguf, ... or >= 10 MiB) answer 302 to a signed, expiring URL on the CDN, with X-Repo-Commit,
  X-Linked-Etag (sha256) and X-Linked-Size. JSON answers are gzipped for clients that accept it. Every answer
  carries `RateLimit` / `RateLimit-Policy`; past the window's quota: 429 with Retry-After.
- the CDN: serves the signed URLs; refuses an Authorization header (400, as object stores refuse two auth
  mechanisms) and expired or forged signatures (403); answers a single `Range` with 206 and ignores a multi-range
  request (200, whole body), as object stores do.

Errors as the Hub gives them (X-Error-Code): an anonymous read of a missing or private repo: 401 RepoNotFound; with a
token: 404 RepoNotFound (an unknown token: 401 "Invalid credentials in Authorization header"); a gated repo's files:
401 (anonymous) or 403 (a token without access) GatedRepo; a missing file: 404 EntryNotFound; an unknown revision:
404 RevisionNotFound. createdAt of a repo created before 2022-03-02T23:29:04Z is that date (the Hub's floor) while
its commit history keeps the real dates.

`faults` inject what real hubs do: a status (429 with Retry-After, 5xx), "drop" (the body is cut after
`after_bytes`), "stall" (the body pauses `seconds` after `after_bytes`), "half-open" (the request is read and never
answered). A fault on a `/resolve/` path also fires on the CDN request for that file. Every request is logged and
every body byte counted per logical path (`/{id}/resolve/{rev}/{file}` for CDN reads too).

`synthetic=N` adds N generated repos, listed lazily (a million costs no memory): for crawl scale benchmarks.
Run `python -m tests.hub_server --synthetic 1000000` to serve from another process (prints the endpoint).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import hmac
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlencode, urlparse

import yaml

_TIME = "%Y-%m-%dT%H:%M:%S.000Z"  # the Hub's format, which huggingface_hub parses strictly
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
CREATED_FLOOR = datetime(2022, 3, 2, 23, 29, 4)  # createdAt of every repo created before it (ModelInfo docstring)
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack", ".onnx", ".ot", ".npz",
                ".zip", ".tar", ".gz", ".model", ".pkl", ".pickle", ".tflite", ".joblib")
LFS_MIN_SIZE = 10 << 20  # bigger files go to LFS whatever their name
# Fields a listing returns without expand (the Hub's default projection); model_info without expand returns all.
LISTING_DEFAULT = ("id", "_id", "modelId", "likes", "trendingScore", "private", "downloads", "tags", "pipeline_tag",
                   "library_name", "createdAt")
INVALID_TOKEN = "Invalid credentials in Authorization header"


@dataclass
class Fault:
    """Answer `times` requests matching (method, path regex) with `kind`: an HTTP status, "drop" (the body is cut
    after `after_bytes` bytes and the connection closed), "stall" (the body pauses `seconds` after `after_bytes`
    bytes) or "half-open" (nothing is ever answered; the connection stays open `seconds`)."""

    method: str
    path: str
    kind: int | str
    times: int = 1
    retry_after: int | None = None
    after_bytes: int = 64
    ranged: bool | None = None  # match only Range requests (True), only whole-file requests (False), or any
    fired: int = 0
    seconds: float = 45.0
    host: str | None = None  # "hub", "cdn" or either


@dataclass
class RateLimit:
    """Fixed-window quotas per client (anonymous: the Hub's 500 API and 3,000 resolver calls per 300 s)."""

    api: int = 500
    resolvers: int = 3000
    window: float = 300.0


@dataclass
class Commit:
    id: str
    title: str
    date: datetime


@dataclass
class Repo:
    id: str
    folder: Path | None
    sha: str
    created_at: datetime  # the real creation time (the API floors it; commits keep it)
    last_modified: datetime
    card: dict
    files: dict[str, Path]
    gated: bool | str = False  # False, True ("manual"), "auto" or "manual"
    private: bool = False
    commits: list[Commit] = field(default_factory=list)  # oldest first; the last is `sha`


@dataclass
class Traffic:
    requests: list[tuple[str, str, int, float]] = field(default_factory=list)  # method, path, status, when
    body_bytes: dict[str, int] = field(default_factory=dict)  # path -> bytes sent
    log: list[dict] = field(default_factory=list)  # host, method, path, status, range, authorization

    def bytes_for(self, prefix: str) -> int:
        return sum(n for p, n in self.body_bytes.items() if p.startswith(prefix))

    def count(self, host: str | None = None, prefix: str = "") -> int:
        return sum(1 for e in self.log if (host is None or e["host"] == host) and e["path"].startswith(prefix))


def _card(folder: Path) -> dict:
    readme = folder / "README.md"
    if not readme.exists():
        return {}
    text = readme.read_text(errors="replace")
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    try:
        meta = yaml.safe_load(text[3:end]) if end > 0 else None
    except yaml.YAMLError:
        return {}
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


def _history(model_id: str, sha: str, created: datetime, modified: datetime) -> list[Commit]:
    """An initial commit at creation, uploads in between, the current commit at lastModified."""
    steps = [Commit(hashlib.sha1(f"{model_id}:initial".encode()).hexdigest(), "initial commit", created)]
    middle = created + (modified - created) / 2
    if middle > created:
        steps.append(Commit(hashlib.sha1(f"{model_id}:upload".encode()).hexdigest(), "Upload model", middle))
    steps.append(Commit(sha, "Update README.md", max(modified, created)))
    return steps


def load_repo(model_id: str, folder: Path, gated: bool | str = False, created_at: datetime | None = None,
              private: bool = False) -> Repo:
    files = {p.name: p for p in sorted(folder.iterdir()) if p.is_file()}
    digest = hashlib.sha1()
    for name, path in files.items():
        stat = path.stat()
        digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    card = _card(folder)
    mtime = min((p.stat().st_mtime for p in files.values()), default=0.0)
    created = created_at or _timestamp(card.get("created_at"), mtime)
    sha = digest.hexdigest()
    return Repo(model_id, folder, sha, created, created, card, files, gated, private,
                _history(model_id, sha, created, created))


def _blob_sha1(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def is_lfs(name: str, size: int) -> bool:
    return name.endswith(LFS_SUFFIXES) or size >= LFS_MIN_SIZE


def synthetic_info(i: int) -> dict:
    """Repo number i of a generated hub: deterministic, cheap, every field the crawl stores."""
    org = f"org{i % 997:03d}"
    model_id = f"{org}/model-{i:07d}"
    sha = hashlib.sha1(model_id.encode()).hexdigest()
    created = datetime(2021, 1, 1) + timedelta(minutes=7 * i)
    base = f"org{(i // 10) % 997:03d}/model-{(i // 10) * 10:07d}" if i % 10 else None
    card = {"license": "apache-2.0", "language": ["en"], "tags": ["synthetic"]}
    if base:
        card["base_model"] = base
    tags = ["transformers", "safetensors", "synthetic"] + ([f"base_model:{base}", f"base_model:finetune:{base}"]
                                                            if base else [])
    return {"id": model_id, "_id": sha[:24], "modelId": model_id, "author": org, "sha": sha,
            "lastModified": (created + timedelta(days=3)).strftime(_TIME),
            "createdAt": max(created, CREATED_FLOOR).strftime(_TIME), "private": False,
            "gated": ("auto", "manual", False, False, False)[i % 5] if i % 50 == 0 else False, "disabled": False,
            "downloads": i % 1000, "likes": i % 37, "trendingScore": 0, "tags": tags,
            "pipeline_tag": "text-generation", "library_name": "transformers", "cardData": card,
            "baseModels": {"relation": "finetune", "models": [{"id": base}]} if base else None,
            "siblings": [{"rfilename": n} for n in (".gitattributes", "README.md", "config.json",
                                                    "model.safetensors")]}


class HubServer:
    """`with HubServer(root) as hub:` serves ROOT/org/name/ at `hub.endpoint` (files via `hub.cdn`) until the block
    ends."""

    def __init__(self, root: Path | None = None, page_size: int = 10, gated: set[str] = frozenset(),
                 vanished: set[str] = frozenset(), faults: list[Fault] | None = None,
                 lean_listing: bool = False, *, private: set[str] = frozenset(),
                 tokens: dict[str, set[str]] | None = None, synthetic: int = 0, cdn_ttl: float = 3600.0,
                 rate_limit: RateLimit | None = None, time_shift: timedelta = timedelta(0),
                 commit_page_size: int = 50, compress: bool = True, log_requests: bool = True,
                 port: int = 0) -> None:
        self.repos: dict[str, Repo] = {}
        self.time_shift = time_shift
        if root is not None:
            for folder in sorted(Path(root).glob("*/*")):
                if folder.is_dir() and not folder.name.startswith("."):
                    model_id = f"{folder.parent.name}/{folder.name}"
                    self.add(model_id, folder, model_id in gated, private=model_id in private)
        self.page_size = page_size
        self.lean_listing = lean_listing  # listings without file lists: clients must ask model_info per repo
        self.vanished = set(vanished)  # listed, but gone when asked for (deleted after the listing)
        self.faults = list(faults or [])
        self.tokens = dict(tokens or {})  # token -> repos it may read (private or gated)
        self.synthetic = synthetic
        self.cdn_ttl = cdn_ttl
        self.rate_limit = rate_limit
        self.commit_page_size = commit_page_size
        self.compress = compress
        self.log_requests = log_requests
        self.traffic = Traffic()
        self._etags: dict[Path, str] = {}
        self._blobs: dict[str, Path] = {}  # sha256 -> file, what the CDN serves
        self._secret = hashlib.sha256(str(id(self)).encode()).digest()
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}  # (client, kind) -> (window start, used)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler("hub"))
        self._cdn = ThreadingHTTPServer(("127.0.0.1", 0), self._handler("cdn"))
        self._threads = []
        for server in (self._server, self._cdn):
            server.daemon_threads = True
            server.block_on_close = False
            self._threads.append(threading.Thread(target=server.serve_forever, daemon=True))

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def cdn(self) -> str:
        host, port = self._cdn.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, model_id: str, folder: Path, gated: bool | str = False, *, created_at: datetime | None = None,
            private: bool = False) -> None:
        repo = load_repo(model_id, folder, gated, created_at, private)
        if self.time_shift and created_at is None:
            repo.created_at += self.time_shift
            repo.last_modified += self.time_shift
            repo.commits = _history(model_id, repo.sha, repo.created_at, repo.last_modified)
        self.repos[model_id] = repo

    def touch(self, model_id: str) -> None:
        """Re-read a repo's files after they changed: a new commit (sha) and lastModified."""
        repo = self.repos[model_id]
        fresh = load_repo(model_id, repo.folder, repo.gated, repo.created_at, repo.private)
        fresh.last_modified = datetime.now(UTC).replace(tzinfo=None)
        fresh.commits = [*repo.commits, Commit(fresh.sha, "Update model", fresh.last_modified)]
        self.repos[model_id] = fresh
        self._etags.clear()

    def __enter__(self) -> HubServer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        for server in (self._server, self._cdn):
            server.shutdown()
            server.server_close()

    # ---- what the API answers
    def etag(self, path: Path) -> str:
        """sha256 of a file: the LFS oid (X-Linked-Etag)."""
        with self._lock:
            if path not in self._etags:
                self._etags[path] = hashlib.sha256(path.read_bytes()).hexdigest()
            return self._etags[path]

    def info(self, repo: Repo, expand: list[str] | None) -> dict:
        bases = repo.card.get("base_model")
        bases = [bases] if isinstance(bases, str) else bases if isinstance(bases, list) else []
        relation = repo.card.get("base_model_relation") or ("merge" if len(bases) > 1 else
                                                            "adapter" if "adapter_config.json" in repo.files else
                                                            "finetune")
        tags = [str(t) for t in repo.card.get("tags", []) or [] if isinstance(t, str | int)]
        library = repo.card.get("library_name", "peft" if "adapter_config.json" in repo.files else "transformers")
        tags += [library] + (["safetensors"] if any(n.endswith(".safetensors") for n in repo.files) else [])
        tags += ["gguf"] if any(n.endswith(".gguf") for n in repo.files) else []
        for base in bases:
            tags += [f"base_model:{base}", f"base_model:{relation}:{base}"]
        gated = "manual" if repo.gated is True else repo.gated or False
        full = {
            "id": repo.id, "_id": hashlib.md5(repo.id.encode()).hexdigest()[:24], "modelId": repo.id,
            "author": repo.id.split("/")[0], "sha": repo.sha,
            "lastModified": repo.last_modified.strftime(_TIME),
            "createdAt": max(repo.created_at, CREATED_FLOOR).strftime(_TIME),
            "private": repo.private, "gated": gated, "disabled": False, "trendingScore": 0,
            "downloads": len(repo.id) * 7, "likes": len(repo.files), "tags": tags,
            "pipeline_tag": repo.card.get("pipeline_tag", "text-generation"),
            "library_name": library,
            "cardData": repo.card, "baseModels": {"relation": relation, "models": [{"id": b} for b in bases]}
            if bases else None,
            "siblings": [{"rfilename": name} for name in repo.files],
        }
        return self._project(full, expand)

    @staticmethod
    def _project(full: dict, expand: list[str] | None, default: tuple[str, ...] | None = None) -> dict:
        if not expand:
            return full if default is None else {k: full[k] for k in default if k in full}
        return {"id": full["id"], "_id": full["_id"], **{key: full[key] for key in expand if key in full}}

    def listing(self, params: dict[str, list[str]], token: str | None = None) -> list[Repo]:
        repos = [r for r in self.repos.values() if not r.private or r.id in self.tokens.get(token or "", ())]
        if author := params.get("author", [None])[0]:
            repos = [r for r in repos if r.id.split("/")[0] == author]
        if search := params.get("search", [None])[0]:
            repos = [r for r in repos if search.lower() in r.id.lower()]
        for wanted in params.get("filter", []):
            repos = [r for r in repos if wanted in self.info(r, ["tags"])["tags"]]
        if tag := params.get("pipeline_tag", [None])[0]:
            repos = [r for r in repos if self.info(r, ["pipeline_tag"])["pipeline_tag"] == tag]
        if library := params.get("library", [None])[0]:
            repos = [r for r in repos if self.info(r, ["library_name"])["library_name"] == library]
        if params.get("sort", [None])[0] == "lastModified":
            repos.sort(key=lambda r: (r.last_modified, r.id), reverse=True)
        return repos

    def _sign(self, blob: str, expires: int) -> str:
        return hmac.new(self._secret, f"{blob}:{expires}".encode(), hashlib.sha256).hexdigest()[:32]

    def signed_url(self, repo: Repo, filename: str, path: Path) -> str:
        blob = self.etag(path)
        with self._lock:
            self._blobs[blob] = path
        expires = int(time.time() + self.cdn_ttl)
        query = urlencode({"response-content-disposition": f'inline; filename="{filename}"', "Expires": expires,
                           "Signature": self._sign(blob, expires), "Key-Pair-Id": "K3TESTSERVER",
                           "X-Logical-Path": f"/{repo.id}/resolve/{repo.sha}/{filename}"})
        return f"{self.cdn}/repos/{blob[:2]}/{blob[2:4]}/{blob}?{query}"

    def _spend(self, client: str, kind: str) -> tuple[dict[str, str], int | None]:
        """RateLimit headers for this request, and seconds to wait when the window's quota is spent."""
        limits = self.rate_limit
        if limits is None:
            return {}, None
        quota = limits.api if kind == "api" else limits.resolvers
        now = time.monotonic()
        with self._lock:
            start, used = self._windows.get((client, kind), (now, 0))
            if now - start >= limits.window:
                start, used = now, 0
            used += 1
            self._windows[(client, kind)] = (start, used)
        reset = max(1, int(start + limits.window - now + 0.999))
        name = "api" if kind == "api" else "resolvers"
        headers = {"RateLimit": f'"{name}";r={max(0, quota - used)};t={reset}',
                   "RateLimit-Policy": f'"fixed window";"{name}";q={quota};w={int(limits.window)}'}
        return headers, reset if used > quota else None

    def _handler(self, host: str) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def handle_one_request(self) -> None:
                try:
                    super().handle_one_request()
                except (BrokenPipeError, ConnectionResetError, TimeoutError, OSError):
                    self.close_connection = True  # the client gave up (timeout) or the fault cut it

            def do_HEAD(self) -> None:
                self._dispatch(body=False)

            def do_GET(self) -> None:
                self._dispatch(body=True)

            # ---- plumbing
            def _token(self) -> str | None:
                value = self.headers.get("Authorization", "")
                return value[7:].strip() if value.lower().startswith("bearer ") else None

            def _log(self, path: str, status: int) -> None:
                if not hub.log_requests:
                    return
                with hub._lock:
                    hub.traffic.requests.append((self.command, path, status, time.monotonic()))
                    hub.traffic.log.append({"host": host, "method": self.command, "path": path, "status": status,
                                            "range": self.headers.get("Range"),
                                            "authorization": "Authorization" in self.headers})

            def _send(self, status: int, payload: bytes, headers: dict[str, str], body: bool,
                      fault: Fault | None = None, logical: str | None = None, length: int | None = None) -> None:
                path = logical or urlparse(self.path).path
                self.send_response(status)
                for key, value in {**self.extra_headers, **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload) if length is None else length))
                self.end_headers()
                self._log(path, status)
                if not body:
                    return
                if fault is None or fault.kind not in ("drop", "stall"):
                    self.wfile.write(payload)
                    sent = len(payload)
                else:
                    sent = min(fault.after_bytes, len(payload))
                    self.wfile.write(payload[:sent])
                    self.wfile.flush()
                    if fault.kind == "drop":
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                    else:
                        hub._closing.wait(fault.seconds)
                        self.wfile.write(payload[sent:])
                        sent = len(payload)
                with hub._lock:
                    hub.traffic.body_bytes[path] = hub.traffic.body_bytes.get(path, 0) + sent

            def _json(self, status: int, value: object, body: bool, headers: dict[str, str] | None = None) -> None:
                payload = json.dumps(value).encode()
                headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
                if hub.compress and len(payload) > 512 and "gzip" in self.headers.get("Accept-Encoding", ""):
                    payload = gzip.compress(payload, compresslevel=1)
                    headers["Content-Encoding"] = "gzip"
                    headers["Vary"] = "Accept-Encoding"
                self._send(status, payload, headers, body)

            def _error(self, status: int, code: str | None, message: str, body: bool,
                       headers: dict[str, str] | None = None) -> None:
                extra = {"X-Error-Message": message, **({"X-Error-Code": code} if code else {}), **(headers or {})}
                self._json(status, {"error": message}, body, extra)

            def _fault(self, logical: str | None, bodily: bool) -> Fault | None:
                """The next fault for this request: answer faults (status, half-open) when it arrives, body faults
                (drop, stall) only where a file body is served (not on a redirect)."""
                paths = [urlparse(self.path).path] + ([logical] if logical else [])
                ranged = "Range" in self.headers
                with hub._lock:
                    for fault in hub.faults:
                        if fault.fired < fault.times and (fault.kind in ("drop", "stall")) == bodily \
                                and fault.method == self.command and any(re.search(fault.path, p) for p in paths) \
                                and fault.ranged in (None, ranged) and fault.host in (None, host):
                            fault.fired += 1
                            return fault
                return None

            def _dispatch(self, body: bool) -> None:
                self.extra_headers: dict[str, str] = {}
                url = urlparse(self.path)
                path = unquote(url.path)
                params = parse_qs(url.query)
                logical = params.get("X-Logical-Path", [None])[0] if host == "cdn" else None
                fault = self._fault(logical, bodily=False)
                if fault is not None and fault.kind == "half-open":
                    self._log(logical or path, 0)
                    hub._closing.wait(fault.seconds)  # never answered; the socket stays open
                    self.close_connection = True
                    return
                if fault is not None:
                    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                    self._error(int(fault.kind), None, "injected", body, headers)
                    return
                if host == "cdn":
                    self._cdn_get(path, params, body, logical)
                    return
                kind = "resolvers" if "/resolve/" in path else "api"
                client = self._token() or self.client_address[0]
                self.extra_headers, wait = hub._spend(client, kind)
                if wait is not None:
                    self._error(429, None, f"You have exceeded our hourly quotas for action '{kind}'", body,
                                {"Retry-After": str(wait)})
                    return
                token = self._token()
                if token is not None and token not in hub.tokens:
                    self._error(401, None, INVALID_TOKEN, body)
                    return
                if path == "/api/models":
                    self._list(url.path, params, body, token)
                elif path.startswith("/api/models/"):
                    self._model(path[len("/api/models/"):], params, body, token)
                elif "/resolve/" in path:
                    self._resolve(path, body, token)
                else:
                    self._error(404, None, "Sorry, we can't find the page you are looking for.", body)

            def _repo(self, model_id: str, body: bool, token: str | None) -> Repo | None:
                """The repo, or None after answering as the Hub does for a missing or private one."""
                repo = hub.repos.get(model_id)
                if repo is None and hub.synthetic:
                    repo = hub.synthetic_repo(model_id)
                visible = repo is not None and model_id not in hub.vanished and \
                    (not repo.private or model_id in hub.tokens.get(token or "", ()))
                if visible:
                    return repo
                if token is None:  # anonymous: missing and private look the same, and ask for credentials
                    self._error(401, "RepoNotFound", "Invalid username or password.", body)
                else:
                    self._error(404, "RepoNotFound", "Repository not found", body)
                return None

            def _revision(self, repo: Repo, revision: str, body: bool) -> bool:
                if revision in (repo.sha, "main") or any(c.id == revision for c in repo.commits):
                    return True
                self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", body)
                return False

            def _gate(self, repo: Repo, body: bool, token: str | None) -> bool:
                if not repo.gated or repo.id in hub.tokens.get(token or "", ()):
                    return True
                message = f"Access to model {repo.id} is restricted. You must have access to it and be authenticated" \
                          " to access it. Please log in."
                self._error(401 if token is None else 403, "GatedRepo", message, body)
                return False

            # ---- routes
            def _list(self, raw_path: str, params: dict[str, list[str]], body: bool, token: str | None) -> None:
                expand = params.get("expand") or params.get("expand[]")
                if expand and any(params.get(k) for k in ("full", "config", "cardData")):
                    self._error(400, None, '"expand" cannot be used with "full", "config" or "cardData"', body)
                    return
                try:
                    cursor = int(base64.urlsafe_b64decode(params.get("cursor", ["MA=="])[0]).decode())
                except (ValueError, UnicodeDecodeError):
                    self._error(400, None, "Invalid cursor", body)
                    return
                size = min(hub.page_size, int(params.get("limit", [str(hub.page_size)])[0]), 1000)
                real = hub.listing(params, token)
                total = len(real) + (hub.synthetic if not any(k in params for k in
                                                              ("author", "search", "filter", "pipeline_tag",
                                                               "library")) else 0)
                entries = [hub.info(r, expand) for r in real[cursor : cursor + size]]
                for i in range(max(cursor, len(real)), min(cursor + size, total)):
                    entries.append(hub._project(synthetic_info(i - len(real)), expand, LISTING_DEFAULT))
                if not expand:
                    entries = [{k: e[k] for k in LISTING_DEFAULT if k in e} for e in entries]
                if hub.lean_listing:
                    entries = [{k: v for k, v in e.items() if k != "siblings"} for e in entries]
                headers = {}
                if cursor + size < total:
                    nxt = base64.urlsafe_b64encode(str(cursor + size).encode()).decode()
                    query = urlencode([(k, v) for k, vs in params.items() if k != "cursor" for v in vs]
                                      + [("cursor", nxt)])
                    headers["Link"] = f'<{hub.endpoint}{raw_path}?{query}>; rel="next"'
                self._json(200, entries, body, headers)

            def _model(self, rest: str, params: dict[str, list[str]], body: bool, token: str | None) -> None:
                route = next((r for r in ("/tree/", "/commits/", "/revision/") if r in rest), "")
                model_id, _, revision = rest.partition(route) if route else (rest, "", "")
                repo = self._repo(model_id, body, token)
                if repo is None or (revision and not self._revision(repo, revision, body)):
                    return
                if route == "/tree/":  # snapshot_download's file list (flat repos: every file at the root)
                    entries = []
                    for name, path in repo.files.items():
                        size = path.stat().st_size
                        entry = {"type": "file", "path": name, "size": size, "oid": _blob_sha1(path)}
                        if is_lfs(name, size):
                            entry["lfs"] = {"oid": hub.etag(path), "size": size, "pointerSize": 134}
                        entries.append(entry)
                    self._json(200, entries, body)
                elif route == "/commits/":
                    self._commits(repo, revision, params, body)
                else:
                    self._json(200, hub.info(repo, params.get("expand") or params.get("expand[]")), body)

            def _commits(self, repo: Repo, revision: str, params: dict[str, list[str]], body: bool) -> None:
                """Newest first, `p`-numbered pages linked by rel="next" (huggingface_hub follows them)."""
                upto = next((i for i, c in enumerate(repo.commits) if c.id == revision), len(repo.commits) - 1)
                history = list(reversed(repo.commits[: upto + 1]))
                page = int(params.get("p", ["0"])[0])
                size = hub.commit_page_size
                chunk = history[page * size : (page + 1) * size]
                entries = [{"id": c.id, "title": c.title, "message": "", "date": c.date.strftime(_TIME),
                            "authors": [{"user": repo.id.split("/")[0], "avatar": ""}]} for c in chunk]
                headers = {}
                if (page + 1) * size < len(history):
                    url = f"{hub.endpoint}/api/models/{repo.id}/commits/{quote(revision, safe='')}?p={page + 1}"
                    headers["Link"] = f'<{url}>; rel="next"'
                self._json(200, entries, body, headers)

            def _resolve(self, path: str, body: bool, token: str | None) -> None:
                head, _, rest = path.lstrip("/").partition("/resolve/")
                revision, _, filename = rest.partition("/")
                repo = self._repo(head, body, token)
                if repo is None or not self._revision(repo, revision, body) or not self._gate(repo, body, token):
                    return
                file = repo.files.get(filename)
                if file is None:
                    self._error(404, "EntryNotFound", f"{filename} does not exist on \"{revision}\"", body,
                                {"X-Repo-Commit": repo.sha})
                    return
                size = file.stat().st_size
                if is_lfs(filename, size):  # the Hub hands LFS files to the CDN: a signed, expiring URL
                    location = hub.signed_url(repo, filename, file)
                    headers = {"Location": location, "X-Repo-Commit": repo.sha, "X-Linked-Etag": f'"{hub.etag(file)}"',
                               "X-Linked-Size": str(size), "ETag": f'"{_blob_sha1(file)[:40]}"',
                               "Content-Type": "text/plain; charset=utf-8"}
                    self._send(302, f"Found. Redirecting to {location}".encode(), headers, body)
                    return
                headers = {"ETag": f'"{_blob_sha1(file)}"', "X-Repo-Commit": repo.sha, "Accept-Ranges": "bytes",
                           "Content-Type": "application/octet-stream"}
                self._file(file, headers, body, urlparse(self.path).path)

            def _file(self, file: Path, headers: dict[str, str], body: bool, logical: str) -> None:
                size = file.stat().st_size
                wanted = self.headers.get("Range", "") or ""
                match = _RANGE.match(wanted)
                start, end, status = 0, size - 1, 200
                if match:  # one range: 206; several ranges ("bytes=0-1,5-9"): ignored, the whole file (200)
                    start = int(match.group(1))
                    end = min(int(match.group(2)) if match.group(2) else size - 1, size - 1)
                    if start >= size:
                        self._send(416, b"", {"Content-Range": f"bytes */{size}"}, body, logical=logical)
                        return
                    status = 206
                    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
                if not body:  # HEAD: the headers a GET would get, no body
                    self._send(status, b"", headers, False, logical=logical, length=end - start + 1)
                    return
                with open(file, "rb") as handle:
                    handle.seek(start)
                    payload = handle.read(end - start + 1)
                self._send(status, payload, headers, body, self._fault(logical, bodily=True), logical)

            def _cdn_get(self, path: str, params: dict[str, list[str]], body: bool, logical: str | None) -> None:
                blob = path.rsplit("/", 1)[-1]
                expires = params.get("Expires", ["0"])[0]
                if "Authorization" in self.headers:  # a signed URL is the only credential an object store takes
                    self._xml(400, "InvalidArgument", "Only one auth mechanism allowed", body, logical)
                    return
                if not expires.isdigit() or not hmac.compare_digest(
                        params.get("Signature", [""])[0], hub._sign(blob, int(expires))):
                    self._xml(403, "AccessDenied", "Invalid signature", body, logical)
                    return
                if int(expires) < time.time():
                    self._xml(403, "AccessDenied", "Request has expired", body, logical)
                    return
                file = hub._blobs.get(blob)
                if file is None:
                    self._xml(404, "NoSuchKey", "The specified key does not exist.", body, logical)
                    return
                headers = {"ETag": f'"{blob}"', "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream",
                           "Cache-Control": "public, max-age=604800, immutable"}
                self._file(file, headers, body, logical or path)

            def _xml(self, status: int, code: str, message: str, body: bool, logical: str | None) -> None:
                payload = f"<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
                self._send(status, payload.encode(), {"Content-Type": "application/xml"}, body, logical=logical)

        return Handler

    def synthetic_repo(self, model_id: str) -> Repo | None:
        """model_info for a generated repo (no files)."""
        match = re.fullmatch(r"org\d{3}/model-(\d{7})", model_id)
        if not match or int(match.group(1)) >= self.synthetic:
            return None
        info = synthetic_info(int(match.group(1)))
        created = datetime.strptime(info["createdAt"], _TIME)
        return Repo(model_id, None, info["sha"], created, created, info["cardData"], {}, info["gated"], False,
                    _history(model_id, info["sha"], created, created))


def main() -> None:
    """Serve a generated hub (and optionally a folder) from its own process: for benchmarks."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path)
    parser.add_argument("--synthetic", type=int, default=0)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with HubServer(args.root, page_size=args.page_size, synthetic=args.synthetic, log_requests=False,
                   port=args.port) as hub:
        print(hub.endpoint, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
