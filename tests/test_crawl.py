"""Hub crawler through huggingface_hub's real client against a local Hub-API server serving the tiny zoo."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

from hubindex.catalog import Catalog
from hubindex.catalog.hub_rows import hub_row, hub_rows
from hubindex.errors import HubindexError
from hubindex.evaluate.lineage import evaluate_lineage
from hubindex.hub.crawl import crawl
from hubindex.hub.full_fetch import FullFetchOptions
from hubindex.hub.repo_files import repo_files
from hubindex.hub.source import CrawlQuery, HubSource
from hubindex.ids import validate_repo_filename
from hubindex.schemas import SCHEMA_DIR
from tests.hub_server import Fault, HubServer

GATED, PICKLE, VANISHED, BROKEN = "vault/locked-model", "legacy/pickle-only", "ghost/deleted-model", "oops/truncated"
HOSTILE = "evil/..escape"  # listed by the hub, never a path: validate_model_id refuses it

pytestmark = pytest.mark.usefixtures("online")  # conftest.online: these tests talk to 127.0.0.1


@pytest.fixture(scope="session")
def tiny_zoo(zoo_factory) -> Path:
    """The session's tiny zoo; HUBINDEX_TINY_ZOO may name one built before by `hubindex zoo build DIR --seed 7
    --size tiny` (the same models), to spare a 2-core machine a rebuild on every run."""
    from tests.conftest import TEST_SEED

    prebuilt = os.environ.get("HUBINDEX_TINY_ZOO")
    return Path(prebuilt) if prebuilt else zoo_factory(TEST_SEED)


@pytest.fixture(scope="module")
def odd_repos(tmp_path_factory, tiny_zoo) -> dict[str, Path]:
    """A pickle-only repo, a truncated safetensors repo and a copy of a zoo model to serve as gated/vanished."""
    root = tmp_path_factory.mktemp("odd-repos")
    pickle = root / "pickle"
    pickle.mkdir()
    (pickle / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (pickle / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    some = next(p for p in sorted(tiny_zoo.glob("*/*")) if (p / "model.safetensors").exists())
    broken = root / "broken"
    shutil.copytree(some, broken)
    data = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[: len(data) // 2])
    return {PICKLE: pickle, BROKEN: broken, GATED: some, VANISHED: some, HOSTILE: some}


def serve(zoo: Path, odd: dict[str, Path], faults: list[Fault] | None = None, page_size: int = 7,
          lean_listing: bool = False) -> HubServer:
    hub = HubServer(zoo, page_size=page_size, vanished={VANISHED}, faults=faults, lean_listing=lean_listing)
    for model_id, folder in odd.items():
        hub.add(model_id, folder, gated=model_id == GATED)
    return hub


def zoo_ids(zoo: Path) -> set[str]:
    return set(json.loads((zoo / "truth.json").read_text()))


def test_crawl_survives_faults_and_matches_full_signatures(tiny_zoo, tiny_catalog, odd_repos, tmp_path):
    faults = [
        Fault("GET", r"^/api/models$", 429, retry_after=1),  # first listing page: rate limited
        Fault("GET", r"^/api/models$", 503),  # then a server error
        Fault("HEAD", r"/resolve/", 502),  # a file's metadata
        Fault("GET", r"/resolve/.*\.safetensors$", 503),  # a range read
        Fault("GET", r"/resolve/.*\.safetensors$", "drop", after_bytes=10),  # connection dropped inside a body
    ]
    db = tmp_path / "crawl.duckdb"
    with serve(tiny_zoo, odd_repos, faults) as hub:
        report = crawl(db, CrawlQuery(), HubSource(endpoint=hub.endpoint))
    assert all(f.fired == f.times for f in faults), faults
    listing = [(status, when) for method, path, status, when in hub.traffic.requests if path == "/api/models"]
    assert listing[0][0] == 429 and listing[1][1] - listing[0][1] >= 1.0  # waited as Retry-After said
    expected = zoo_ids(tiny_zoo)
    statuses = {m.id: m.status for m in report.models}
    assert len(report.models) == len(statuses) == len(expected) + 5  # every repo once, none twice
    assert {m for m, s in statuses.items() if s == "partial"} == expected
    assert statuses[GATED] == "gated" and statuses[VANISHED] == "missing"
    assert statuses[PICKLE] == "unsupported" and statuses[BROKEN] == "error" and statuses[HOSTILE] == "invalid"
    assert not any("..escape" in path for _, path, *_ in hub.traffic.requests)  # nothing of it was requested
    assert "truncated" in next(m.reason for m in report.models if m.id == BROKEN)
    assert not any(path.endswith("pytorch_model.bin") for _, path, *_ in hub.traffic.requests)  # never fetched

    with Catalog(db, read_only=True) as crawled, Catalog(tiny_catalog, read_only=True) as full:
        assert {r["id"] for r in crawled.models()} == expected | {GATED, VANISHED, PICKLE, BROKEN}
        assert {r["id"]: r["status"] for r in crawled.models() if r["id"] not in expected} == {
            GATED: "gated", VANISHED: "missing", PICKLE: "unsupported", BROKEN: "error"}
        for model_id in sorted(expected):
            ours, theirs = crawled.signature(model_id), full.signature(model_id)
            assert ours["layout"] == theirs["layout"], model_id
            # The same coordinates, read by range requests instead of from disk: identical values.
            np.testing.assert_array_equal(ours["samples"], theirs["samples"], err_msg=model_id)
            row = crawled.model(model_id)
            assert row["revision"] == hub_row(crawled, model_id)["sha"] == hub.repos[model_id].sha
            assert row["source"] == hub.endpoint and row["path"] is None
            stats = {t["name"]: t for t in full.tensor_stats(model_id)}
            for t in crawled.tensor_stats(model_id):  # estimated norms: within sampling error of exact ones
                if t["l2"] is not None and t["numel"] > 4096 and stats[t["name"]]["l2"] > 0:
                    assert abs(t["l2"] / stats[t["name"]]["l2"] - 1) < 0.35, (model_id, t["name"])
        meta = crawled.signature(sorted(m for m in expected if crawled.model(m)["kind"] == "model")[0])["meta"]
        assert meta["fingerprint"] == "partial" and "l2" in meta["stats_estimated"]
        hub_meta = hub_row(crawled, sorted(expected)[0])
        assert hub_meta["card_data"] and hub_meta["created_at"] and hub_meta["siblings"]
        assert all(r["bytes_fetched"] > 0 for r in hub_rows(crawled) if r["status"] == "partial")

        truth = str(tiny_zoo / "truth.json")
        partial_acc = evaluate_lineage(crawled, truth).hubindex.parent_accuracy
        full_acc = evaluate_lineage(full, truth).hubindex.parent_accuracy
    print(f"parent accuracy: partial {partial_acc:.3f}, full {full_acc:.3f}")
    assert partial_acc >= full_acc - 0.02


def test_crawl_is_incremental_and_filters(tiny_zoo, odd_repos, tmp_path):
    db = tmp_path / "inc.duckdb"
    with serve(tiny_zoo, odd_repos) as hub:
        source = HubSource(endpoint=hub.endpoint)
        author = sorted(zoo_ids(tiny_zoo))[0].split("/")[0]
        first = crawl(db, CrawlQuery(author=author), source)
        mine = {m for m in zoo_ids(tiny_zoo) if m.startswith(author + "/")}
        assert {m.id for m in first.models} == mine and first.fingerprinted == len(mine)
        served = sum(hub.traffic.body_bytes.values())
        again = crawl(db, CrawlQuery(author=author), source)
        assert again.unchanged == len(mine) and again.fingerprinted == 0 and again.bytes_fetched == 0
        assert sum(hub.traffic.body_bytes.values()) - served < 20_000  # listing pages only, no file bytes
        changed = sorted(mine)[0]
        hub.repos[changed].sha = "f" * 40  # a new commit
        third = crawl(db, CrawlQuery(author=author), source)
        assert [m.id for m in third.models if m.status != "unchanged"] == [changed]
        with Catalog(db, read_only=True) as catalog:
            assert catalog.model(changed)["revision"] == "f" * 40
        child = next(m for m, e in json.loads((tiny_zoo / "truth.json").read_text()).items() if e["parents"])
        parent = json.loads((tiny_zoo / "truth.json").read_text())[child]["parents"][0]
        by_base = crawl(tmp_path / "base.duckdb", CrawlQuery(base_model=parent, limit=3), source)
        assert by_base.models and all(parent in hub.info(hub.repos[m.id], ["tags"])["tags"][-1] or
                                      f"base_model:{parent}" in hub.info(hub.repos[m.id], ["tags"])["tags"]
                                      for m in by_base.models)
        assert len(crawl(tmp_path / "s.duckdb", CrawlQuery(search="pickle"), source).models) == 1
        seconds = {m: hub.repos[m].last_modified.replace(microsecond=0) for m in mine}  # the Hub's resolution
        newest = max(seconds.values())
        recent = crawl(tmp_path / "since.duckdb", CrawlQuery(author=author, since=newest), source)
        assert {m.id for m in recent.models} == {m for m in mine if seconds[m] >= newest}
        assert 0 < len(recent.models) < len(mine)


def test_floored_creation_times_come_from_first_commits(tiny_zoo, tmp_path):
    """Issue item 2: a zoo uploaded before 2022-03-02 reports the Hub's createdAt floor for every repo; the crawl
    records each repo's first-commit date (source `first_commit`), so upload order survives for lineage."""
    from datetime import timedelta

    author = sorted(zoo_ids(tiny_zoo))[0].split("/")[0]
    hub = HubServer(tiny_zoo, time_shift=-timedelta(days=3 * 365))
    mine = sorted(m for m in hub.repos if m.startswith(author + "/"))
    assert all(hub.repos[m].created_at < datetime(2022, 3, 2) for m in mine)
    with hub:
        crawl(tmp_path / "old.duckdb", CrawlQuery(author=author), HubSource(endpoint=hub.endpoint))
    with Catalog(tmp_path / "old.duckdb", read_only=True) as catalog:
        for model_id in mine:
            row = hub_row(catalog, model_id)
            assert row["created_source"] == "first_commit", model_id
            assert row["created_at"] == hub.repos[model_id].created_at.replace(microsecond=0)
            assert catalog.model(model_id)["created_at"] == row["created_at"]
    assert len({hub.repos[m].created_at for m in mine}) == len(mine)  # distinct times: an order to keep


def test_crawl_cli_json_schema_and_offline(tiny_zoo, odd_repos, tmp_path):
    from hubindex.cli.main import cli

    schema = json.loads((SCHEMA_DIR / "crawl_report.schema.json").read_text())
    with serve(tiny_zoo, {PICKLE: odd_repos[PICKLE]}, lean_listing=True) as hub:  # files from model_info
        env = {"HF_HUB_OFFLINE": None, "HF_ENDPOINT": hub.endpoint}
        result = CliRunner().invoke(cli, ["crawl", "--db", str(tmp_path / "c.duckdb"), "--search", "legal",
                                          "--limit", "4", "--json"], env=env)
        assert result.exit_code == 0, result.output
        answer = json.loads(result.output)
        jsonschema.validate(answer, schema)
        assert answer["endpoint"] == hub.endpoint and 0 < answer["listed"] <= 4
        assert all("legal" in m["id"] for m in answer["models"])
        assert answer["fingerprinted"] == answer["listed"] and not answer["problems"]
        assert any(path.startswith("/api/models/") and "/revision/" in path for _, path, *_ in hub.traffic.requests)
        refused = CliRunner().invoke(cli, ["crawl", "--db", str(tmp_path / "d.duckdb")],
                                     env={**env, "HF_HUB_OFFLINE": "1"})
        assert refused.exit_code == 2 and "HF_HUB_OFFLINE" in refused.output


def test_full_fetch_resumes_respects_budget_and_deletes(tiny_zoo, tmp_path):
    truth = json.loads((tiny_zoo / "truth.json").read_text())
    base = next(m for m, e in truth.items() if not e["parents"] and e["arch"] == "llama")
    child = next(m for m, e in truth.items() if e["parents"] == [base] and e["relation"] == "finetune")
    big = next(m for m, e in truth.items() if not e["parents"] and m != base)
    # A whole-file download (not a range read) is cut after 4 kB: huggingface_hub resumes it with a Range request.
    only = HubServer(None, faults=[Fault("GET", r"/resolve/.*\.safetensors$", "drop", after_bytes=4096,
                                         ranged=False)])
    for model_id in (base, child, big):
        only.add(model_id, tiny_zoo / model_id)
    # Budget: every file of the two Llama models fits, the third model's weights do not.
    budget = sum(p.stat().st_size for m in (base, child) for p in (tiny_zoo / m).iterdir() if p.is_file()) + 1000
    cache = tmp_path / "cache"
    with only as hub:
        # A partial crawl first: --full afterwards still fetches what lacks Delta Activations (issue item 4).
        first = crawl(tmp_path / "full.duckdb", CrawlQuery(), HubSource(endpoint=hub.endpoint))
        assert first.fingerprinted == 3 and not first.full_fetched
        options = FullFetchOptions(cache=cache, max_disk=budget, keep=False)
        report = crawl(tmp_path / "full.duckdb", CrawlQuery(), HubSource(endpoint=hub.endpoint), options)
        # Nothing re-fingerprinted: what to fetch whole came from the catalog's state, not from this run's work.
        assert sorted(m.status for m in report.models) == ["full", "full", "unchanged"]
    assert only.faults[0].fired == 1, report  # one download was cut and resumed
    assert set(report.full_fetched) == {base, child} and report.over_budget == [big], report
    assert not any(cache.glob("*/*/*.safetensors"))  # weights deleted after fingerprinting
    with Catalog(tmp_path / "full.duckdb", read_only=True) as catalog:
        assert catalog.embedding(child, "hubindex") is not None  # Delta Activations from the full fetch
        assert catalog.model(child)["path"] is None and catalog.model(child)["source"] == hub.endpoint
        assert hub_row(catalog, child)["status"] == "full" and hub_row(catalog, big)["status"] == "partial"
        assert catalog.signature(big)["meta"]["fingerprint"] == "partial"


def test_hostile_names_are_refused():
    for name in ("../../etc/passwd", "/abs.json", "a/../../b", "sub\\x.bin", "ok/\x00.json", ""):
        with pytest.raises(HubindexError):
            validate_repo_filename(name)
    assert validate_repo_filename("sub/model.safetensors") == "sub/model.safetensors"
    with pytest.raises(HubindexError):
        repo_files("org/x", ["config.json", "../model.safetensors"])
    with pytest.raises(HubindexError):
        HubSource(endpoint="http://127.0.0.1:9").resolve("org/..", "config.json", "main")


def test_offline_env_stops_the_source(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubindexError, match="HF_HUB_OFFLINE"):
        HubSource(endpoint="http://127.0.0.1:9")
    assert os.environ["HF_HUB_OFFLINE"] == "0"


def _crawled_view(db: Path) -> dict:
    """Rows a crawl writes, without the wall-clock columns (when each row was written)."""
    def plain(row: dict) -> dict:
        return {k: v for k, v in row.items() if not k.endswith("_at") or k == "created_at"}

    with Catalog(db, read_only=True) as cat:
        return {"models": {r["id"]: plain(r) for r in cat.models()},
                "hub": {r["id"]: plain(r) for r in hub_rows(cat)},
                "duplicates": cat.con.execute("SELECT count(*) - count(DISTINCT id) FROM models").fetchone()[0]
                + cat.con.execute("SELECT count(*) - count(DISTINCT id) FROM hub_models").fetchone()[0],
                "signatures": {r["id"]: cat.signature(r["id"]) for r in cat.models()}}


@pytest.mark.slow
def test_queued_crawl_on_workers_equals_in_process_crawl(tiny_zoo, odd_repos, broker, tmp_path):
    """`crawl --queue`: the owner lists, a cpu worker range-reads, the owner records; the same rows as in-process.
    HF_ENDPOINT is set for the CLI only: the workers learn the hub from the request."""
    import subprocess

    from tests.brokers import HUBINDEX, start_worker, stop, worker_env

    schema = json.loads((SCHEMA_DIR / "run_progress.schema.json").read_text())
    db, log = tmp_path / "queued.duckdb", tmp_path / "workers.log"
    with serve(tiny_zoo, odd_repos) as hub:
        crawl(tmp_path / "in-process.duckdb", CrawlQuery(), HubSource(endpoint=hub.endpoint))
        owner = start_worker(broker, "--queues", "ingest", "--db", str(db), log=log)
        helper = start_worker(broker, "--queues", "cpu", log=log)

        def queued_crawl() -> dict:
            out = subprocess.run([HUBINDEX, "crawl", "--db", str(db), "--queue", "--wait", "--json"],
                                 env=worker_env(broker, HF_ENDPOINT=hub.endpoint), capture_output=True, text=True,
                                 timeout=300)
            assert out.returncode == 0, out.stderr + log.read_text()[-3000:]
            answer = json.loads(out.stdout)
            jsonschema.validate(answer, schema)
            return answer

        try:
            first = queued_crawl()
            seen = len(hub.traffic.requests)
            second = queued_crawl()
            refused = subprocess.run([HUBINDEX, "crawl", "--db", str(db), "--queue", "--full"],
                                     env=worker_env(broker, HF_ENDPOINT=hub.endpoint), capture_output=True, text=True)
        finally:
            stop(helper)
            stop(owner)
    assert owner.returncode == 0, log.read_text()[-3000:]
    expected = zoo_ids(tiny_zoo)
    retried = {GATED, VANISHED, BROKEN, HOSTILE}  # not final: the in-process crawl retries them too
    assert first["phase"] == second["phase"] == "finished" and first["paths"] == [hub.endpoint]
    assert first["report"]["seen"] == len(expected) + 5 and first["report"]["indexed"] == len(expected)
    assert {f["model"]: f["status"] for f in first["report"]["failed"]} == {
        GATED: "gated", VANISHED: "missing", PICKLE: "unsupported", BROKEN: "error", HOSTILE: "invalid"}
    assert [(s["stage"], s["done"], s["failed"]) for s in first["stages"]] == [("crawl", len(expected), 5)]
    # Second crawl: every final commit is skipped by the owner; only the repos that failed are tried again.
    assert second["report"]["unchanged"] == len(expected) + 1 and second["report"]["indexed"] == 0
    assert second["stages"][0]["failed"] == len(retried)
    again = {path for _, path, *_ in hub.traffic.requests[seen:] if "/resolve/" in path}
    assert again and all(path.split("/resolve/")[0].lstrip("/") in retried for path in again)
    assert refused.returncode != 0 and "--full" in refused.stderr

    got, want = _crawled_view(db), _crawled_view(tmp_path / "in-process.duckdb")
    assert got["duplicates"] == 0
    assert got["models"] == want["models"] and got["hub"] == want["hub"]
    assert set(got["signatures"]) == set(want["signatures"])
    for model_id, sig in want["signatures"].items():
        mine = got["signatures"][model_id]
        assert (sig is None) == (mine is None), model_id
        if sig is not None:
            assert mine["meta"] == sig["meta"], model_id
            np.testing.assert_array_equal(mine["samples"], sig["samples"], err_msg=model_id)
            np.testing.assert_array_equal(mine["sketch"], sig["sketch"], err_msg=model_id)


def test_queued_crawl_run_records_each_commit_once(tiny_zoo, odd_repos, tmp_path):
    """The owner's side without a broker: redelivered and stale-sha results change nothing."""
    from hubindex.hub.crawl_run import CrawlRequest, CrawlRun
    from hubindex.hub.source import CrawlQuery
    from hubindex.pipeline.stage import execute

    author = sorted(zoo_ids(tiny_zoo))[0].split("/")[0]
    mine = {m for m in zoo_ids(tiny_zoo) if m.startswith(author + "/")}
    with serve(tiny_zoo, odd_repos) as hub, Catalog(tmp_path / "run.duckdb") as catalog:
        run = CrawlRun.new("r1", catalog.path, CrawlRequest(endpoint=hub.endpoint, query=CrawlQuery(author=author)))
        jobs = run.start(catalog)
        assert run.phase == "crawl" and {j.model_id for j in jobs} == mine
        results = [execute(job) for job in jobs]
        assert all(run.record(catalog, result) for result in results)
        assert not any(run.record(catalog, result) for result in results)  # a redelivery
        stale = results[0].model_copy(update={"job": results[0].job.model_copy(update={"sha": "0" * 40})})
        assert not run.record(catalog, stale)  # a commit this run did not plan
        assert run.advance(catalog) == [] and run.phase == "finished"
        rows = {r["id"]: r for r in catalog.models()}
        assert set(rows) == mine and all(rows[m]["revision"] == hub.repos[m].sha for m in mine)
        assert run.report.indexed == len(mine) and run.stages["crawl"].done == len(mine)
        again = CrawlRun.new("r2", catalog.path, CrawlRequest(endpoint=hub.endpoint, query=CrawlQuery(author=author)))
        assert again.start(catalog) == [] and again.report.unchanged == len(mine)


def _llama(layers: int, odd_layer: int | None = None) -> dict:
    """A small Llama-shaped bf16 state dict; `odd_layer` gets a wider MLP (layers that do not repeat)."""
    import torch

    g = torch.Generator().manual_seed(layers)
    shapes = {"model.embed_tokens.weight": (256, 64), "model.norm.weight": (64,), "lm_head.weight": (256, 64)}
    for i in range(layers):
        inter = 320 if i == odd_layer else 256
        p = f"model.layers.{i}."
        shapes |= {p + "input_layernorm.weight": (64,), p + "post_attention_layernorm.weight": (64,),
                   p + "self_attn.q_proj.weight": (64, 64), p + "self_attn.k_proj.weight": (64, 64),
                   p + "self_attn.v_proj.weight": (64, 64), p + "self_attn.o_proj.weight": (64, 64),
                   p + "mlp.gate_proj.weight": (inter, 64), p + "mlp.up_proj.weight": (inter, 64),
                   p + "mlp.down_proj.weight": (64, inter)}
    return {n: (torch.randn(s, generator=g) * 0.02).to(torch.bfloat16) for n, s in shapes.items()}


@pytest.mark.parametrize("odd_layer", [None, 7])
def test_partial_fingerprint_reads_few_shards_and_equals_a_full_read(tmp_path, odd_layer):
    """Only the shards holding sampled tensors are read; the others' shapes are inferred from repeating layers and
    checked against the index's total_size (a layer that does not repeat makes every header be read). Layout,
    parameters and sampled values equal a full local read; one single-range request per block."""
    from hubindex.checkpoint import ModelFolder
    from hubindex.fingerprint import compute_signature
    from hubindex.hub.partial import partial_signature
    from tests.helpers import CONFIG, write_checkpoint

    layers = 16
    folder = write_checkpoint(tmp_path / "acme" / "llama", _llama(layers, odd_layer),
                              {**CONFIG, "hidden_size": 64, "num_hidden_layers": layers, "vocab_size": 256},
                              max_shard_bytes=200_000)
    shards = len(list(folder.glob("*.safetensors")))
    full = compute_signature(ModelFolder.open(folder))
    with HubServer(tmp_path) as hub:
        repo = hub.repos["acme/llama"]
        result = partial_signature(HubSource(endpoint=hub.endpoint), repo.id, repo.sha, list(repo.files))
        log = hub.traffic.log
    sig = result.signature
    assert (sig.layout, sig.params, sig.dtypes) == (full.layout, full.params, full.dtypes)
    assert set(sig.samples) == set(full.samples) and len(full.samples) == 4 * 9 + 3
    for name in full.samples:
        np.testing.assert_array_equal(sig.samples[name], full.samples[name], err_msg=name)
    assert sig.sha == sig.revision == repo.sha and sig.content_hash is None and full.sha is None
    read = sig.meta["headers_read"]
    if odd_layer is None:
        assert read < shards and sig.meta["shapes_inferred"] > 0
    else:
        assert read == shards and sig.meta["shapes_inferred"] == 0
    assert len(log) == result.traffic.requests <= 4 + 2 * read + len(sig.samples)
    assert not any("," in (e["range"] or "") for e in log)  # single ranges only
