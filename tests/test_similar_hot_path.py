"""The server's hot path of `/similar`: the catalog's write stamp, the in-memory delta targets and the answer cache
give the answers DuckDB gives, and never one older than the last write. DuckDB and FAISS only, no server (the
route itself is checked against the CLI by tests/test_api.py)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from hubindex.catalog import Catalog, queries, stamp
from hubindex.catalog.cache import AnswerCache
from hubindex.catalog.delta_targets import DeltaTargets
from hubindex.errors import HubindexError
from tests.synthetic_catalog import write_catalog


@pytest.fixture
def catalog(tmp_path):
    with Catalog(write_catalog(tmp_path / "synthetic.duckdb", 60)) as catalog:
        yield catalog


def loaded(targets: DeltaTargets, catalog: Catalog) -> None:
    catalog.delta_target("nobody/none", "hubindex")
    targets.target(catalog, "nobody/none", "hubindex")  # starts the load
    deadline = time.monotonic() + 30
    while not targets.ready(catalog):
        assert time.monotonic() < deadline, "delta targets never loaded"
        time.sleep(0.02)


def answers(catalog: Catalog, ids: list[str], targets: DeltaTargets | None) -> dict[str, object]:
    out = {}
    for model in ids:
        try:
            out[model] = [h.model_dump() for h in queries.similar(catalog, model, 5, targets=targets)]
        except HubindexError as exc:  # roots, unknown ids: the same error either way
            out[model] = (type(exc).__name__, str(exc))
    return out


def test_the_write_stamp_moves_on_every_write_and_only_then(catalog, tmp_path):
    view = catalog.cursor_view()
    before = catalog.write_stamp
    catalog.model("base-org/family0-base")
    view.con.execute("SELECT count(*) FROM models").fetchone()
    assert catalog.write_stamp == view.write_stamp == before  # reads leave it
    seen = {before}
    for write in (lambda: catalog.set_status("org1/family0-m1", "error", "gone"),
                  lambda: view.con.execute("UPDATE lineage SET confidence = 0.5"),  # another cursor, raw SQL
                  lambda: view.con.executemany("DELETE FROM embeddings WHERE model_id = ?", [["org2/family0-m2"]])):
        write()
        assert catalog.write_stamp == view.write_stamp not in seen
        seen.add(catalog.write_stamp)
    with catalog.transaction():
        catalog.set_status("org3/family0-m3", "error", "gone")
        inside = catalog.write_stamp
    assert catalog.write_stamp not in seen | {inside}  # the COMMIT moves it after the last statement did
    view.close()
    path = catalog.path
    catalog.close()
    stamp_closed = stamp.stamp(str(path.resolve()))
    with Catalog(path) as again:  # another process may have written the file meanwhile
        assert again.write_stamp != stamp_closed


def test_delta_targets_answer_as_duckdb_and_never_after_a_write(catalog):
    ids = [m.id for m in catalog.models()] + ["nobody/none"]
    targets = DeltaTargets()
    loaded(targets, catalog)
    for model in ids:
        want, got = catalog.delta_target(model, "hubindex"), targets.target(catalog, model, "hubindex")
        if want is None:
            assert got is None
            continue
        assert (got.status, got.error, got.family, got.norm) == (want.status, want.error, want.family, want.norm)
        assert (got.vector is None) == (want.vector is None)
        if want.vector is not None:
            assert got.vector.dtype == np.float32 and got.vector.tobytes() == want.vector.tobytes()
    assert answers(catalog, ids, targets) == answers(catalog, ids, None)
    changed = next(m for m in ids if catalog.delta_target(m, "hubindex").vector is not None)
    catalog.set_status(changed, "error", "the upload broke")
    assert not targets.ready(catalog)  # stale: this request reads DuckDB
    assert targets.target(catalog, changed, "hubindex").status == "error"
    with pytest.raises(HubindexError, match="the upload broke"):
        queries.similar(catalog, changed, 5, targets=targets)
    targets.close()


def test_answer_cache_serves_until_a_write_and_keeps_its_bounds(catalog):
    cache, computed = AnswerCache(max_answers=3, max_bytes=10), []

    def compute(body: bytes):
        return lambda: computed.append(body) or body

    assert cache.json(catalog, "a", compute(b"1234")) == b"1234"
    assert cache.json(catalog, "a", compute(b"other")) == b"1234" and computed == [b"1234"]
    cache.json(catalog, "b", compute(b"5678"))
    cache.json(catalog, "a", compute(b"x"))  # a is now the most recently used
    cache.json(catalog, "c", compute(b"9999"))  # 12 bytes > 10: b, the least recently used, goes
    assert cache.json(catalog, "b", compute(b"new b")) == b"new b"
    with pytest.raises(ValueError):
        cache.json(catalog, "d", lambda: (_ for _ in ()).throw(ValueError("no answer")))
    catalog.set_status("org1/family0-m1", "error", "gone")
    assert cache.json(catalog, "a", compute(b"after")) == b"after"  # a write empties it


def test_plain_questions_skip_fastapi_and_the_rest_reach_it():
    from hubindex.api.fast_similar import plain_question

    def scope(path: str, query: str = "", method: str = "GET") -> dict:
        return {"method": method, "path": path, "query_string": query.encode(), "root_path": ""}

    assert plain_question(scope("/models/org/a/similar")) == ("org/a", 10, "hubindex")
    assert plain_question(scope("/models/a/similar", "k=3&by=delta&method=paper")) == ("a", 3, "paper")
    for path, query in (("/models/org/a/similar", "k=0"), ("/models/org/a/similar", "k=101"),
                        ("/models/org/a/similar", "k=+3"), ("/models/org/a/similar", "k=3&k=4"),
                        ("/models/org/a/similar", "by=weights"), ("/models/org/a/similar", "method=other"),
                        ("/models/org/a/similar", "extra=1"), ("/models/../etc/similar", ""),
                        ("/models/a/b/c/similar", ""), ("/models/org/a/similar/", ""), ("/models/org/a", "")):
        assert plain_question(scope(path, query)) is None, (path, query)
    assert plain_question(scope("/models/org/a/similar", method="POST")) is None


def test_the_server_answers_plain_and_routed_questions_alike(tmp_path):
    """A real `hubindex serve`: the fast path's bytes and headers are the FastAPI route's (reached by adding a
    parameter the route ignores), metrics count both under the route, errors stay the route's."""
    import httpx

    from tests.server import start_server

    db = write_catalog(tmp_path / "synthetic.duckdb", 60)
    with Catalog(db) as catalog:
        members = [m.id for m in catalog.models() if catalog.delta_target(m.id, "hubindex").vector is not None]
    server = start_server(db)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            for model in members[:6]:
                for query in ("", "?k=3", "?k=7&method=paper"):
                    fast = http.get(f"/models/{model}/similar{query}")
                    routed = http.get(f"/models/{model}/similar{query or '?'}&ignored=1")
                    again = http.get(f"/models/{model}/similar{query}")  # from the answer cache
                    assert fast.status_code == routed.status_code == again.status_code == 200
                    assert fast.content == routed.content == again.content and fast.json()
                    for name in ("content-type", "content-length", "x-content-type-options"):
                        assert fast.headers[name] == routed.headers[name], name
            counted = [line for line in http.get("/metrics").text.splitlines()
                       if line.startswith("hubindex_http_requests_total") and "/similar" in line]
            assert counted == ['hubindex_http_requests_total{method="GET",route="/models/{model_id:path}/similar",'
                               'status="200"} 54.0'], counted
            missing = http.get("/models/nobody/none/similar")
            assert missing.status_code == 404 and missing.json()["error"] == "not_found"
            assert http.get(f"/models/{members[0]}/similar?k=0").status_code == 422
    finally:
        server.stop()


def test_plain_questions_are_answered_before_fastapi(tmp_path, monkeypatch):
    """In process: a plain question is computed by the fast layer (once: then cached), one FastAPI would route is
    not, and neither changes the answer."""
    import hubindex.api.fast_similar as fast
    from fastapi.testclient import TestClient
    from hubindex.api.app import create_app
    from hubindex.api.routes.models import similar_json

    db = write_catalog(tmp_path / "synthetic.duckdb", 60)
    with Catalog(db) as catalog:
        model = next(m.id for m in catalog.models() if catalog.delta_target(m.id, "hubindex").vector is not None)
    computed = []
    monkeypatch.setattr(fast, "similar_json", lambda *a: computed.append(a[1:]) or similar_json(*a))
    with TestClient(create_app(db)) as client:
        plain = client.get(f"/models/{model}/similar?k=4")
        assert computed == [(model, 4, "hubindex")]
        assert client.get(f"/models/{model}/similar?k=4").content == plain.content and len(computed) == 1
        routed = client.get(f"/models/{model}/similar?k=4&ignored=1")
        assert routed.content == plain.content and len(computed) == 1
