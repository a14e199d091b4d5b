"""tests/hub_server.py answers as the real Hub does, checked through huggingface_hub's own client (its parsing and
error classes are the reference), and the crawler's handling of each behaviour."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import httpx2
import jsonschema
import numpy as np
import pytest
from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import http_backoff
from safetensors.numpy import save_file

from hubindex.catalog import Catalog
from hubindex.catalog.hub_rows import hub_row, hub_rows
from hubindex.catalog.records import HubRecord
from hubindex.hub.crawl import crawl
from hubindex.hub.source import CrawlQuery, HubSource, TransientHubError
from hubindex.status import CrawlStatus
from tests.hub_server import CREATED_FLOOR, Fault, HubServer, RateLimit

TOKEN = "hf_test_token"

pytestmark = pytest.mark.usefixtures("online")  # conftest.online: these tests talk to 127.0.0.1


def _repo(folder: Path, files: dict[str, bytes] | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (folder / "README.md").write_text("---\nlicense: mit\nbase_model: org/base\n---\n# card\n")
    save_file({"w": np.arange(64, dtype=np.float32).reshape(8, 8)}, str(folder / "model.safetensors"))
    for name, data in (files or {}).items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def small_hub(tmp_path) -> HubServer:
    hub = HubServer(page_size=2, tokens={TOKEN: {"org/gated"}})
    hub.add("org/open", _repo(tmp_path / "open"), created_at=datetime(2020, 5, 1, 12, 0, 0))
    hub.add("org/gated", _repo(tmp_path / "gated"), gated=True)
    hub.add("org/other", _repo(tmp_path / "other"), gated="auto")
    hub.add("org/secret", _repo(tmp_path / "secret"), private=True)
    hub.add("org/new", _repo(tmp_path / "new"), created_at=datetime(2024, 1, 2, 3, 4, 5))
    return hub


def test_errors_are_the_hubs(small_hub):
    with small_hub as hub:
        anon, user = HfApi(endpoint=hub.endpoint, token=False), HfApi(endpoint=hub.endpoint, token=TOKEN)
        for api, status in ((anon, 401), (user, 404)):  # missing and private look alike
            for repo in ("org/nope", "org/secret"):
                with pytest.raises(RepositoryNotFoundError) as err:
                    api.model_info(repo)
                assert err.value.response.status_code == status
                assert err.value.response.headers["X-Error-Code"] == "RepoNotFound"
        assert anon.model_info("org/gated").gated == "manual"  # metadata of a gated repo is public
        assert anon.model_info("org/other").gated == "auto" and anon.model_info("org/open").gated is False
        config = hf_hub_url("org/gated", "config.json", endpoint=hub.endpoint)
        with pytest.raises(GatedRepoError) as err:
            get_hf_file_metadata(config, token=False)
        assert err.value.response.status_code == 401
        with pytest.raises(GatedRepoError) as err:
            get_hf_file_metadata(hf_hub_url("org/other", "config.json", endpoint=hub.endpoint), token=TOKEN)
        assert err.value.response.status_code == 403  # a token without access to this gated repo
        assert get_hf_file_metadata(config, token=TOKEN).size > 0  # granted
        with pytest.raises(EntryNotFoundError):
            get_hf_file_metadata(hf_hub_url("org/open", "nope.json", endpoint=hub.endpoint), token=False)
        with pytest.raises(RevisionNotFoundError):
            get_hf_file_metadata(hf_hub_url("org/open", "config.json", revision="f" * 40, endpoint=hub.endpoint),
                                 token=False)
        with pytest.raises(HfHubHTTPError) as err:
            HfApi(endpoint=hub.endpoint, token="hf_wrong").model_info("org/open")
        assert err.value.response.status_code == 401 and "X-Error-Code" not in err.value.response.headers


def test_lfs_files_redirect_to_a_signed_cdn(small_hub, tmp_path):
    with small_hub as hub:
        url = hf_hub_url("org/open", "model.safetensors", endpoint=hub.endpoint)
        meta = get_hf_file_metadata(url, token=TOKEN)
        size = (tmp_path / "open" / "model.safetensors").stat().st_size
        assert meta.location.startswith(hub.cdn + "/") and "Signature=" in meta.location and "Expires=" in meta.location
        assert meta.size == size and meta.commit_hash == hub.repos["org/open"].sha
        assert len(meta.etag) == 64  # X-Linked-Etag: the LFS sha256, not the pointer's git sha1
        small = get_hf_file_metadata(hf_hub_url("org/open", "config.json", endpoint=hub.endpoint), token=False)
        assert small.location.startswith(hub.endpoint) and len(small.etag) == 40  # not LFS: served by the Hub
        head = httpx2.head(url, follow_redirects=False)
        assert head.status_code == 302 and head.headers["X-Linked-Size"] == str(size)
        assert httpx2.get(meta.location, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 400
        one = httpx2.get(meta.location, headers={"Range": "bytes=0-7"})
        assert one.status_code == 206 and len(one.content) == 8
        multi = httpx2.get(meta.location, headers={"Range": "bytes=0-7,16-23"})
        assert multi.status_code == 200 and len(multi.content) == size  # multi-range ignored: the whole object
        assert httpx2.get(meta.location.replace("Signature=", "Signature=0")).status_code == 403
        hub.cdn_ttl = -1
        assert httpx2.get(get_hf_file_metadata(url, token=False).location).status_code == 403  # expired
        cdn = [e for e in hub.traffic.log if e["host"] == "cdn"]
        assert cdn and all(e["path"].startswith("/org/open/resolve/") for e in cdn)  # counted per logical path


def test_created_floor_commits_and_listing(small_hub):
    with small_hub as hub:
        api = HfApi(endpoint=hub.endpoint, token=False)
        assert api.model_info("org/open").created_at.replace(tzinfo=None) == CREATED_FLOOR
        assert api.model_info("org/new").created_at.replace(tzinfo=None) == datetime(2024, 1, 2, 3, 4, 5)
        commits = api.list_repo_commits("org/open")
        assert commits[-1].created_at.replace(tzinfo=None) == datetime(2020, 5, 1, 12, 0, 0)  # first commit: real
        assert commits[0].commit_id == hub.repos["org/open"].sha
        plain = list(api.list_models())
        assert {m.id for m in plain} == {"org/open", "org/gated", "org/other", "org/new"}  # not the private one
        assert all(m.author is None and m.sha is None for m in plain)  # not in the default projection
        asked = list(api.list_models(expand=["author", "gated"]))
        assert {m.author for m in asked} == {"org"} and all(m.downloads is None for m in asked)
        pages = [e for e in hub.traffic.log if e["path"] == "/api/models"]
        assert len(pages) == 2 * 2  # 4 repos, 2 per page, linked by a cursor: 2 pages per listing
        raw = httpx2.get(f"{hub.endpoint}/api/models?limit=2&expand[]=cardData",
                         headers={"Accept-Encoding": "gzip"})
        assert 'rel="next"' in raw.headers["Link"] and "cursor=" in raw.headers["Link"]
        assert raw.json()[0].keys() == {"id", "_id", "cardData"}
        assert httpx2.get(f"{hub.endpoint}/api/models?expand[]=author&full=true").status_code == 400
        zipped = httpx2.get(f"{hub.endpoint}/api/models/org/open", headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["Content-Encoding"] == "gzip" and zipped.json()["id"] == "org/open"


def test_rate_limit_headers_and_429(tmp_path):
    hub = HubServer(rate_limit=RateLimit(api=3, resolvers=10, window=2))
    hub.add("org/open", _repo(tmp_path / "open"))
    with hub:
        answers = [httpx2.get(f"{hub.endpoint}/api/models/org/open") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[0].headers["RateLimit"].startswith('"api";r=2;t=')
        assert answers[0].headers["RateLimit-Policy"] == '"fixed window";"api";q=3;w=2'
        assert int(answers[3].headers["Retry-After"]) >= 1
        started = datetime.now()
        again = http_backoff("GET", f"{hub.endpoint}/api/models/org/open")  # huggingface_hub waits as told, retries
        assert again.status_code == 200 and again.json()["id"] == "org/open"
        assert datetime.now() - started >= timedelta(seconds=1)


def test_crawl_records_errors_by_code_unsupported_and_times(small_hub, tmp_path):
    """Item 1, 2, 5, 6 of the crawl issue on hand-made repos (the zoo covers weights in test_crawl.py)."""
    _repo(tmp_path / "gguf").joinpath("model.safetensors").unlink()
    (tmp_path / "gguf" / "model-Q4_K_M.gguf").write_bytes(b"GGUF" + bytes(60))
    (tmp_path / "noconfig").mkdir()
    save_file({"w": np.zeros((4, 4), dtype=np.float32)}, str(tmp_path / "noconfig" / "model.safetensors"))
    small_hub.add("org/gguf", tmp_path / "gguf")
    small_hub.add("org/noconfig", tmp_path / "noconfig", created_at=datetime(2021, 6, 1))
    small_hub.add("org/deleted", tmp_path / "open")
    small_hub.vanished.add("org/deleted")
    db = tmp_path / "c.duckdb"
    with small_hub as hub:
        report = crawl(db, CrawlQuery(), HubSource(endpoint=hub.endpoint))
        status = {m.id: m for m in report.models}
        assert status["org/deleted"].status == "missing"  # 401 RepoNotFound: not "gated"
        assert status["org/gated"].status == "gated" and "gated repo" in status["org/gated"].reason
        assert status["org/gguf"].status == "unsupported" and "GGUF" in status["org/gguf"].reason
        assert status["org/noconfig"].status == "unsupported" and "config.json" in status["org/noconfig"].reason
        for repo in ("org/gguf", "org/noconfig"):  # decided from the listing: none of their files was requested
            assert not [e for e in hub.traffic.log if e["path"].startswith(f"/{repo}/resolve/")]
        with Catalog(db, read_only=True) as catalog:
            rows = {m: hub_row(catalog, m) for m in status}
        assert rows["org/noconfig"]["created_at"] == datetime(2021, 6, 1)
        assert all(isinstance(r, HubRecord) for r in rows.values())  # typed records, read by attribute
        assert rows["org/gated"].status is CrawlStatus.GATED and rows["org/deleted"].status is CrawlStatus.MISSING
        with Catalog(db, read_only=True) as catalog:
            listed = hub_rows(catalog)
        ids = [r.id for r in listed]
        assert ids == sorted(ids) and set(ids) >= {"org/gated", "org/deleted", "org/gguf"}
        assert all(r.card_data is None and isinstance(r.status, CrawlStatus) for r in listed)  # read without cards
        assert rows["org/noconfig"]["created_source"] == "first_commit"
        assert rows["org/new"]["created_source"] == "hub" and rows["org/new"]["created_at"].year == 2024
        assert rows["org/open"]["author"] == "org" and rows["org/gated"]["gated"] == "manual"
        assert rows["org/other"]["gated"] == "auto" and rows["org/new"]["gated"] == "false"
        seen = len(hub.traffic.log)
        again = crawl(db, CrawlQuery(), HubSource(endpoint=hub.endpoint))
        assert {m.id for m in again.models if m.status == "unchanged"} >= {"org/gguf", "org/noconfig"}
        assert not [e for e in hub.traffic.log[seen:] if e["path"].startswith(("/org/gguf", "/org/noconfig",
                                                                                   "/api/models/org/gguf"))]


def test_stalls_and_half_open_connections_never_hang(small_hub, tmp_path, monkeypatch):
    """Item 3: a CDN read that stalls 45 s and a connection that is never answered cost about one timeout each."""
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "1")
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "1")
    small_hub.faults = [Fault("GET", r"/org/new/resolve/.*\.safetensors$", "stall", seconds=45, after_bytes=4),
                        Fault("HEAD", r"/org/open/resolve/", "half-open", seconds=45),
                        Fault("GET", r"^/api/models$", "half-open", seconds=45)]
    with small_hub as hub:
        started = datetime.now()
        report = crawl(tmp_path / "s.duckdb", CrawlQuery(), HubSource(endpoint=hub.endpoint))
        took = (datetime.now() - started).total_seconds()
    assert all(f.fired == 1 for f in small_hub.faults), small_hub.faults
    assert took < 20, took
    assert report.transient == 0 and {m.id for m in report.models if m.status == "partial"} >= {"org/open", "org/new"}


def test_transient_errors_raise_for_retry_permanent_are_recorded(small_hub, tmp_path, monkeypatch):
    """Item 7: a 503 that outlasts huggingface_hub's retries is a TransientHubError (a ConnectionError the queue
    workers retry); the in-process crawl records nothing for that repo, so the next crawl tries it again."""
    import huggingface_hub.utils._http as hf_http

    monkeypatch.setattr(hf_http.time, "sleep", lambda s: None)  # the backoff's waits, not its decisions
    small_hub.faults = [Fault("HEAD", r"/org/new/resolve/", 503, times=50)]
    with small_hub as hub:
        source = HubSource(endpoint=hub.endpoint)
        with pytest.raises(TransientHubError) as err:
            source.resolve("org/new", "config.json", "main")
        assert isinstance(err.value, ConnectionError)
        report = crawl(tmp_path / "t.duckdb", CrawlQuery(), source)
        assert report.transient == 1
        with Catalog(tmp_path / "t.duckdb", read_only=True) as catalog:
            assert hub_row(catalog, "org/new") is None and hub_row(catalog, "org/open")["status"] == "partial"
        small_hub.faults.clear()
        again = crawl(tmp_path / "t.duckdb", CrawlQuery(), source)
        assert {m.id: m.status for m in again.models}["org/new"] == "partial"


def test_metadata_only_reads_no_weights(small_hub, tmp_path):
    with small_hub as hub:
        report = crawl(tmp_path / "m.duckdb", CrawlQuery(), HubSource(endpoint=hub.endpoint), metadata_only=True)
        assert report.metadata_only and report.listed == 4 and not report.models
        assert not [e for e in hub.traffic.log if "/resolve/" in e["path"] or e["host"] == "cdn"]
        with Catalog(tmp_path / "m.duckdb", read_only=True) as catalog:
            row = hub_row(catalog, "org/open")
            assert row["status"] == "listed" and row["card_data"]["base_model"] == "org/base"
            assert row["author"] == "org" and row["created_source"] == "hub_floor"
            assert catalog.model("org/open") is None  # no weights row
        full = crawl(tmp_path / "m.duckdb", CrawlQuery(), HubSource(endpoint=hub.endpoint))
        assert {m.status for m in full.models} == {"partial", "gated"}  # `listed` is not final: fingerprinted now

        from click.testing import CliRunner
        from hubindex.cli.main import cli

        from hubindex.schemas import SCHEMA_DIR
        from tests.heavy_imports import run_cli

        env = {"HF_HUB_OFFLINE": None, "HF_ENDPOINT": hub.endpoint}
        # In a fresh interpreter: listing and recording metadata import no torch (the weight readers load lazily).
        result, heavy = run_cli(["crawl", "--db", str(tmp_path / "cli.duckdb"), "--metadata-only", "--json"],
                                env={k: v for k, v in {**os.environ, **env}.items() if v is not None})
        assert result.returncode == 0 and heavy == [], (heavy, result.stderr)
        answer = json.loads(result.stdout)
        jsonschema.validate(answer, json.loads((SCHEMA_DIR / "crawl_report.schema.json").read_text()))
        assert answer["metadata_only"] and answer["listed"] == 4
        refused = CliRunner().invoke(cli, ["crawl", "--db", str(tmp_path / "x.duckdb"), "--metadata-only", "--full"],
                                     env=env)
        assert refused.exit_code == 2 and "--metadata-only" in refused.output


def test_range_plan_is_one_request_per_block_beyond_the_header_probe():
    """Blocks within 4 kB share a request, bytes the header probe already holds are not asked again."""
    from hubindex.checkpoint.safetensors_file import TensorInfo
    from hubindex.fingerprint.sampling import BLOCK
    from hubindex.hub.remote_safetensors import block_requests, coalesce

    windows = [(0, 32), (5000, 5032), (5100, 5132), (90_000, 90_032), (200_000, 200_032), (200_500, 200_532)]
    assert coalesce(windows) == [(0, 32), (5000, 5132), (90_000, 90_032), (200_000, 200_532)]
    small = TensorInfo("norm", "BF16", (64,), 1000, 1128)  # whole, inside a 100 kB probe
    big = TensorInfo("w", "BF16", (4096, 4096), 200_000, 200_000 + 2 * 4096 * 4096)
    plan = block_requests([small, big], have=100_000)
    assert len(plan) == 1 and plan[0][1] - plan[0][0] == 2 * BLOCK  # one block of whole rows (16 of 4096)
    assert (plan[0][0] - 200_000) % (2 * 4096) == 0
