"""The query service over a real `hubindex serve` process: same JSON as the CLI, schemas, bad input, jobs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import jsonschema
import pytest
from click.testing import CliRunner
from hubindex.cli.main import cli

from hubindex.schemas import SCHEMA_DIR
from hubindex.zoo.truth import load_truth


def schema(name: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())


def valid(answer, name: str):
    jsonschema.validate(answer, schema(name))
    return answer


def cli_json(*args: str):
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture(scope="module")
def truth(tiny_zoo) -> dict:
    return load_truth(tiny_zoo / "truth.json")


def pick(truth: dict, relation: str) -> str:
    return sorted(m for m, t in truth.items() if t["relation"] == relation)[0]


@pytest.fixture(scope="module")
def http(api_server):
    with httpx.Client(base_url=api_server.url, timeout=30) as client:
        yield client


def test_health_and_listing(http, truth):
    health = valid(http.get("/health").json(), "health")
    assert sum(health["models"].values()) == len(truth)
    first = valid(http.get("/models", params={"page_size": 7}).json(), "model_page")
    second = valid(http.get("/models", params={"page_size": 7, "page": 2}).json(), "model_page")
    assert first["total"] == len(truth) and len(first["items"]) == 7
    ids = [m["id"] for m in first["items"] + second["items"]]
    assert ids == sorted(truth)[:14]
    adapters = http.get("/models", params={"kind": "adapter", "page_size": 500}).json()
    assert {m["id"] for m in adapters["items"]} == {m for m, t in truth.items() if t["relation"] == "adapter"}
    legal = http.get("/models", params={"tag": "legal", "page_size": 500}).json()["items"]
    assert legal and all("legal" in m["tags"] for m in legal)


def test_model_answers_equal_the_cli(http, tiny_catalog, truth):
    model = sorted(m for m, t in truth.items() if t["relation"] == "finetune" and t["domain"])[0]
    db = ["--db", str(tiny_catalog)]
    local = cli_json("show", model, *db)  # the CLI user owns the files: paths shown; the server names none
    assert valid(http.get(f"/models/{model}").json(), "model_view") == \
        {**local, "path": None, "source": Path(local["source"]).name} and local["path"].startswith("/")
    for by in ("delta", "weights"):
        hits = valid(http.get(f"/models/{model}/similar", params={"k": 4, "by": by}).json(), "similar")
        assert hits == cli_json("similar", model, *db, "-k", "4", "--by", by) and len(hits) == 4
    assert valid(http.get(f"/models/{model}/parents", params={"k": 3}).json(), "parents") == \
        cli_json("parents", model, *db, "-k", "3")
    tree = valid(http.get(f"/models/{model}/lineage").json(), "lineage_tree")
    assert tree == cli_json("lineage", model, *db)
    assert tree["ancestors"] and tree["ancestors"][-1]["relation"] == "root"


def test_bad_input_gets_clear_4xx(http, truth):
    model = pick(truth, "finetune")
    for path in ("/models/%2E%2E/etc/similar", "/models/a/b/c", "/models/%2Fetc%2Fpasswd", "/models/x%00y/parents"):
        response = http.get(path)
        assert response.status_code == 400, (path, response.text)
        assert valid(response.json(), "error")["error"] == "bad_request"
        assert "invalid model id" in response.json()["detail"]
    missing = http.get("/models/nobody/nothing/similar")
    assert missing.status_code == 404 and valid(missing.json(), "error")["error"] == "not_found"
    for params in ({"k": 0}, {"k": 101}, {"by": "vibes"}, {"method": "other"}):
        assert http.get(f"/models/{model}/similar", params=params).status_code == 422
    assert http.get("/models", params={"page_size": 501}).status_code == 422
    assert http.get("/search", params={"q": "x" * 201}).status_code == 422
    root = pick(truth, "root")  # a root has no delta: a clear 400, not a 500
    response = http.get(f"/models/{root}/similar")
    assert response.status_code == 400 and "root" in response.json()["detail"]
    assert "access-control-allow-origin" not in http.get("/health", headers={"Origin": "http://evil.test"}).headers


def test_search_over_ids_tags_and_cards(http, truth):
    hits = valid(http.get("/search", params={"q": "legal"}).json(), "search")
    legal = {m for m, t in truth.items() if t.get("domain") == "legal"}
    assert hits and {h["model"]["id"] for h in hits} <= legal | {m for m, t in truth.items() if "legal" in m}
    assert all("tags" in h["matched"] or "id" in h["matched"] or "card" in h["matched"] for h in hits)
    ids_first = http.get("/search", params={"q": "legal lora"}).json()
    assert ids_first and all("lora" in " ".join(h["model"]["tags"]) + h["model"]["id"] + (h["snippet"] or "").lower()
                             for h in ids_first)
    assert http.get("/search", params={"q": "zzzz-no-such-word"}).json() == []
    assert http.get("/search", params={"q": "!!!"}).json() == []


def test_jobs_need_the_token_and_run_in_the_server(http, api_server, tiny_zoo, tmp_path, truth):
    model = pick(truth, "finetune")
    body = {"paths": [str(tiny_zoo / model)]}
    assert http.post("/jobs", json=body).status_code == 401
    assert http.post("/jobs", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    auth = {"Authorization": f"Bearer {api_server.token}"}
    outside = http.post("/jobs", json={"paths": [str(tmp_path)]}, headers=auth)
    assert outside.status_code == 403 and valid(outside.json(), "error")["error"] == "forbidden"
    sneaky = http.post("/jobs", json={"paths": [str(tiny_zoo / ".." / tmp_path.name)]}, headers=auth)
    assert sneaky.status_code == 403
    job = http.post("/jobs", json=body, headers=auth)
    assert job.status_code == 202, job.text
    job = valid(job.json(), "job_status")
    deadline = time.monotonic() + 120
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = valid(http.get(f"/jobs/{job['id']}").json(), "job_status")
    assert job["state"] == "succeeded", job
    assert job["result"]["seen"] == 1 and job["result"]["unchanged"] + job["result"]["indexed"] == 1
    assert http.get("/jobs/" + "0" * 32).status_code == 404
    assert http.get("/jobs/not-a-job").status_code == 422


def test_metrics_count_routes_not_raw_paths(http, truth):
    http.get(f"/models/{pick(truth, 'finetune')}")
    text = http.get("/metrics").text
    assert 'route="/models/{model_id:path}"' in text and "hubindex_http_request_seconds_bucket" in text
    assert pick(truth, "finetune") not in text


def test_merge_candidates_route_equals_the_cli(http, tiny_catalog, truth):
    model = sorted(m for m, t in truth.items() if t["relation"] == "finetune" and t["domain"])[0]
    answer = valid(http.get(f"/models/{model}/merge-candidates", params={"k": 5}).json(), "merge_candidates")
    assert answer == cli_json("merge-candidates", model, "--db", str(tiny_catalog), "-k", "5")
    assert len(answer["candidates"]) == 5 and answer["candidates"][0]["reasons"]
    assert http.get(f"/models/{pick(truth, 'root')}/merge-candidates").status_code == 400


def test_cli_as_a_client_prints_the_same_json(api_server, tiny_catalog, truth):
    model = sorted(m for m, t in truth.items() if t["relation"] == "finetune" and t["domain"])[1]
    local, remote = ["--db", str(tiny_catalog)], ["--api", api_server.url]
    for command in (["similar", model, "-k", "3"], ["similar", model, "--by", "weights"], ["parents", model],
                    ["lineage", model], ["lineage"], ["merge-candidates", model, "-k", "4"],
                    ["search", "weather lora"]):
        assert cli_json(*command, *remote) == cli_json(*command, *local), command
    assert valid(cli_json("search", "weather", *remote), "search")
    result = CliRunner().invoke(cli, ["similar", "nobody/nothing", *remote])
    assert result.exit_code == 2 and "404" in result.output and "not in the catalog" in result.output
    result = CliRunner().invoke(cli, ["similar", "../etc", *remote])
    assert result.exit_code == 2 and "invalid model id" in result.output
    result = CliRunner().invoke(cli, ["similar", model, "--api", "http://127.0.0.1:9"])
    assert result.exit_code == 2 and "cannot reach" in result.output
    assert CliRunner().invoke(cli, ["similar", model]).exit_code == 2  # neither --db nor --api


def test_search_by_examples_finds_models_tuned_for_the_task(api_server, truth):
    from hubindex import corpus

    http = httpx.Client(base_url=api_server.url, timeout=30, headers={"Authorization": f"Bearer {api_server.token}"})

    root = sorted(m for m, t in truth.items() if t["relation"] == "root")[0]
    docs = corpus.generate("code", 6, 4242)  # a seed no zoo model trained on
    examples = [{"input": d[: len(d) // 2], "output": d[len(d) // 2:]} for d in docs]
    response = http.post("/search/examples", json={"base": root, "examples": examples, "k": 3}, timeout=300)
    hits = valid(response.json(), "similar")
    assert len(hits) == 3 and truth[hits[0]["model"]]["domain"] == "code", hits
    assert all(truth[h["model"]]["family"] == truth[root]["family"] for h in hits)
    assert http.post("/search/examples", json={"base": root, "examples": examples[:1]}).status_code == 422
    not_root = pick(truth, "finetune")
    response = http.post("/search/examples", json={"base": not_root, "examples": examples})
    assert response.status_code == 400 and "family root" in response.json()["detail"]
    assert http.post("/search/examples", json={"base": "../x", "examples": examples}).status_code == 400


def test_parents_are_read_from_candidates_stored_when_lineage_ran(tiny_catalog, truth, tmp_path):
    from hubindex.catalog import Catalog
    from hubindex.lineage.queries import parents
    from hubindex.lineage.ranked_parents import rank_model, store_parent_candidates
    from tests.server import copy_catalog

    with Catalog(copy_catalog(tiny_catalog, tmp_path)) as catalog:
        models = [pick(truth, "finetune"), pick(truth, "adapter")]
        for model in models:  # the index run stored them, and they equal a ranking done now
            stored = catalog.stored_parents(model, 1000)
            assert stored and stored[0].evidence["chosen"]
            assert [c.model_dump() for c in parents(catalog, model, 1000)] == \
                [c.model_dump() for c in rank_model(catalog, model)]
        assert len(parents(catalog, models[0], 2)) == 2
        catalog.con.execute("UPDATE lineage_families SET digest = 'lineage-moved-on'")
        assert catalog.stored_parents(models[0], 5) is None  # older than the lineage: ranked on request instead
        assert parents(catalog, models[0], 3) == rank_model(catalog, models[0])[:3]
        ranked = store_parent_candidates(catalog)
        assert sum(ranked.values()) == len(catalog.lineage()) and catalog.stored_parents(models[0], 5)
