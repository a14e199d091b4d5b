"""The distributed pipeline on a real redis-server with real `hubindex worker` processes.

Key test: two workers index the tiny zoo, one is SIGKILLed mid-run and restarted; every model ends up indexed
exactly once and the catalog equals in-process indexing of the same zoo (`tiny_catalog`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time

import jsonschema
import numpy as np
import pytest
import redis

from hubindex.catalog import Catalog
from hubindex.schemas import schema_for
from tests.brokers import HUBINDEX, start_worker, stop, worker_env
from tests.heavy_imports import run_cli
from tests.helpers import CONFIG, random_tensors, write_checkpoint

pytestmark = pytest.mark.slow
SHAPES = {"model.embed_tokens.weight": (16, 8), "model.layers.0.mlp.up_proj.weight": (8, 8)}


def _cli(url: str, *args: str) -> str:
    out = subprocess.run([HUBINDEX, *args], env=worker_env(url), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _jobs(url: str) -> dict:
    answer = json.loads(_cli(url, "jobs", "--json"))
    jsonschema.validate(answer, schema_for("jobs"))
    return answer


def _wait(predicate, timeout: float, what: str, procs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        for proc in procs:
            assert proc.poll() is None, f"a worker exited ({proc.returncode}) while waiting for {what}"
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _run_state(url: str, run_id: str) -> dict:
    return json.loads(redis.Redis.from_url(url).get(f"hubindex:run:{run_id}") or "null")


def _catalog_view(db) -> dict:
    with Catalog(db, read_only=True) as cat:
        models = {r["id"]: r for r in cat.models()}
        duplicates = cat.con.execute("SELECT count(*) - count(DISTINCT id) FROM models").fetchone()[0]
        embedding_rows = cat.con.execute("SELECT model_id, method, count(*) FROM embeddings GROUP BY ALL").fetchall()
        return {
            "duplicates": duplicates,
            "embedding_rows": {(m, k): n for m, k, n in embedding_rows},
            "models": {i: {k: r[k] for k in ("revision", "status", "error", "kind", "family", "base", "base_source",
                                             "file_stamp", "path", "layout", "params", "dtype")}
                       for i, r in models.items()},
            "signatures": {i: cat.signature(i) for i in models},
            "embeddings": {(i, m): cat.embedding(i, m) for i in models for m in ("hubindex", "paper")},
            "lineage": {e.model_id: e for e in cat.lineage()},
        }


def _assert_same_catalog(got: dict, want: dict) -> None:
    assert got["duplicates"] == 0
    assert all(n == 1 for n in got["embedding_rows"].values())
    assert got["models"] == want["models"]  # every model, once, at the same revision, family and base
    for model_id, sig in want["signatures"].items():
        mine = got["signatures"][model_id]
        assert (sig is None) == (mine is None), model_id
        if sig is not None:
            assert np.array_equal(sig["samples"], mine["samples"]) and np.array_equal(sig["sketch"], mine["sketch"])
    assert got["embeddings"].keys() == want["embeddings"].keys()
    for key, emb in want["embeddings"].items():
        mine = got["embeddings"][key]
        assert (emb is None) == (mine is None), key
        if emb is not None:
            assert (mine.revision, mine.base, mine.base_revision) == (emb.revision, emb.base, emb.base_revision)
            np.testing.assert_allclose(mine.vector, emb.vector, rtol=1e-4, atol=1e-5)
    assert got["lineage"].keys() == want["lineage"].keys()
    for model_id, entry in want["lineage"].items():
        mine = got["lineage"][model_id]
        assert (mine.parents, mine.relation) == (entry.parents, entry.relation), model_id
        assert mine.confidence == pytest.approx(entry.confidence, abs=1e-3)


def test_killed_worker_restarted_every_model_indexed_once_same_as_in_process(tiny_zoo, tiny_catalog, broker,
                                                                             tmp_path):
    from hubindex.workers.state import client, jobs

    db = tmp_path / "queued.duckdb"
    log = tmp_path / "workers.log"
    owner = start_worker(broker, "--queues", "cpu,gpu,ingest", "--db", str(db), log=log)
    helper = start_worker(broker, "--queues", "cpu,gpu", log=log)
    workers = [owner, helper]
    try:
        queued = json.loads(_cli(broker, "index", str(tiny_zoo), "--db", str(db), "--method", "hubindex,paper",
                                 "--queue", "--json"))
        jsonschema.validate(queued, schema_for("run_progress"))
        run_id = queued["id"]
        r = redis.Redis.from_url(broker, decode_responses=True)
        # Kill the helper while it is running a Delta Activations job (the longest stage), after some are recorded.
        _wait(lambda: any(v.endswith(f":{helper.pid}") and k.startswith("embed:")
                          for k, v in r.hgetall(f"hubindex:running:{run_id}").items())
              and (_run_state(broker, run_id)["stages"].get("embed:hubindex") or {}).get("done", 0) > 0,
              600, "the helper to run an embed job", workers)
        helper.send_signal(signal.SIGKILL)
        helper.wait()
        mid = jobs(client()).model_dump(mode="json")  # its job stays pending until redelivered
        jsonschema.validate(mid, schema_for("jobs"))
        mid_run = mid["runs"][0]
        assert mid_run["phase"].startswith("embed") and sum(s["running"] for s in mid_run["stages"]) >= 1
        workers[1] = start_worker(broker, "--queues", "cpu,gpu", log=log)
        _wait(lambda: _run_state(broker, run_id)["phase"] == "finished", 900, "the run to finish", workers)
        final = _jobs(broker)["runs"][0]
        assert final["phase"] == "finished" and final["report"]["failed"] == []
        assert all(s["queued"] == 0 and s["running"] == 0 and s["failed"] == 0 for s in final["stages"])
        assert final["report"]["indexed"] == final["report"]["seen"] == len(_catalog_models(tiny_catalog))
    finally:
        for proc in workers:
            stop(proc)
    assert owner.returncode == 0, log.read_text()[-3000:]
    _assert_same_catalog(_catalog_view(db), _catalog_view(tiny_catalog))


def _catalog_models(db) -> list[str]:
    with Catalog(db, read_only=True) as cat:
        return [r["id"] for r in cat.models()]


@pytest.fixture
def small_hub(tmp_path):
    """Two weights-only models, a truncated checkpoint and a pickle-only one: no probes, so it runs in seconds."""
    hub = tmp_path / "hub"
    for i, name in enumerate(("org/good-a", "org/good-b")):
        write_checkpoint(hub / name, random_tensors(i, SHAPES), CONFIG)
    shutil.copytree(hub / "org/good-a", hub / "org/truncated")
    weights = next((hub / "org/truncated").glob("*.safetensors"))
    os.truncate(weights, weights.stat().st_size - 64)
    (hub / "org/pickled").mkdir()
    (hub / "org/pickled/config.json").write_text(json.dumps(CONFIG))
    (hub / "org/pickled/pytorch_model.bin").write_bytes(b"not loaded, ever")
    return hub


def test_owner_thread_records_failures_once_and_lock_keeps_one_owner(small_hub, broker, tmp_path):
    """The owner loop runs in a thread of this process (as `hubindex serve` runs it); a worker process does the
    reading. Bad checkpoints are recorded on their rows, not retried; a second owner of the same file waits."""
    from hubindex.workers.ingest import run_owner, submit, wait_for
    from hubindex.workers.state import client, owner_lock

    db = tmp_path / "owned.duckdb"
    log = tmp_path / "worker.log"
    stop_owner = threading.Event()
    catalog = Catalog(db)
    owner = threading.Thread(target=run_owner, args=(catalog, stop_owner), daemon=True)
    owner.start()
    worker = start_worker(broker, "--queues", "cpu", log=log)
    try:
        run = wait_for(submit(db, [small_hub], ["hubindex"], embed=False).id, timeout=300)
        assert run.phase == "finished", run.error
        assert not owner_lock(client(), db).acquire(blocking=False)  # held by the thread above
        # Queued again: nothing changed on disk, so nothing is read twice.
        again = wait_for(submit(db, [small_hub], ["hubindex"], embed=False).id, timeout=300)
    finally:
        stop(worker)
        stop_owner.set()
        owner.join(30)
    assert not owner.is_alive()
    rows = {r["id"]: r for r in catalog.models()}
    catalog.close()
    assert rows["org/good-a"]["status"] == rows["org/good-b"]["status"] == "weights_only"
    assert rows["org/truncated"]["status"] == "error"
    assert rows["org/pickled"]["status"] == "unsupported"
    failed = {f.model: f.status for f in run.report.failed}
    assert failed == {"org/truncated": "error", "org/pickled": "unsupported"}
    assert run.stages["fingerprint"].failed == 2 and run.stages["fingerprint"].done == 2
    assert (again.report.unchanged, again.report.indexed) == (2, 0)
    assert "Retry in" not in log.read_text()  # permanent errors are never retried


def test_results_are_recorded_once_and_stale_ones_change_nothing(small_hub, tmp_path):
    from hubindex.indexer.jobs import EmbedJob, EmbedResult
    from hubindex.indexer.run import IndexRun
    from hubindex.pipeline.payload import Packed
    from hubindex.pipeline.stage import execute

    db = tmp_path / "idem.duckdb"
    with Catalog(db) as cat:
        run = IndexRun.new("r1", db, [small_hub], ["hubindex"], embed=False)
        jobs = {j.model_id: j for j in run.start(cat)}
        result = execute(jobs["org/good-a"])
        assert run.record(cat, result) and not run.record(cat, result)  # a redelivery is a no-op
        row = cat.model("org/good-a")
        stale = EmbedJob(model_id="org/good-a", revision="0" * 32, folder=row["path"], kind="model", applied_on=None,
                         method="hubindex", base="org/good-b", base_revision="1" * 32, base_folder=None)
        run.pending.add(stale.key)
        assert run.record(cat, EmbedResult(job=stale, ok=True, vector=Packed.of(np.ones(8, np.float32))))
        assert cat.embedding("org/good-a", "hubindex") is None  # an older revision's result changes nothing
        assert cat.con.execute("SELECT count(*) FROM models").fetchone()[0] == 1
        assert cat.model("org/good-a")["revision"] == row["revision"]


def test_a_saved_run_keeps_its_pending_keys_in_a_set_of_their_own(broker, tmp_path):
    """The owner saves a run's record and only the changes to its pending set (not the whole set per batch)."""
    from hubindex.workers.state import client, load_run, pending_key, run_key, save_run

    from hubindex.indexer.run import IndexRun

    r = client()
    run = IndexRun.new("p1", tmp_path / "p.duckdb", [tmp_path], ["hubindex"])
    run.phase, run.pending = "fingerprint", {f"fingerprint:org/m{i}" for i in range(25_000)}
    save_run(r, run, planned=run.pending)
    assert "pending" not in json.loads(r.get(run_key("p1"))) and r.scard(pending_key("p1")) == 25_000
    assert load_run(r, "p1").pending == run.pending and load_run(r, "p1", pending=False).pending == set()
    done = sorted(run.pending)[:24_999]
    run.pending -= set(done)
    save_run(r, run, done=done)
    assert load_run(r, "p1").pending == run.pending == {"fingerprint:org/m9999"}
    run.pending, run.phase = set(), "finished"
    save_run(r, run, done=["fingerprint:org/m9999"])
    assert not r.exists(pending_key("p1")) and load_run(r, "p1").finished


STAGE_MODULE = """
from typing import ClassVar
from hubindex.pipeline.stage import BaseStage, Job, Result, register

class EchoJob(Job):
    stage: ClassVar[str] = "echo"
    text: str

    @property
    def key(self) -> str:
        return f"echo:{self.text}"

class EchoStage(BaseStage):
    name, job_type, result_type, queue = "echo", EchoJob, Result, "cpu"

    def execute(self, job):
        return Result(stage=self.name, job=job, ok=True)

ECHO = register(EchoStage())
"""


def test_a_declared_stage_loads_its_module_when_a_job_of_it_runs(tmp_path, monkeypatch):
    """The registry knows a stage by name, queue and import path; its module is imported at the first job."""
    import sys

    from hubindex.errors import HubindexError
    from hubindex.pipeline import stage as registry

    monkeypatch.setattr(registry, "_DECLARED", dict(registry._DECLARED))  # nothing leaks into other tests
    monkeypatch.setattr(registry, "_LOADED", dict(registry._LOADED))
    (tmp_path / "echo_stage_module.py").write_text(STAGE_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    ref = registry.declare("echo", "cpu", "echo_stage_module:ECHO")
    assert ref in registry.declared() and "echo_stage_module" not in sys.modules
    job = registry.stage("echo").job_type(text="hi")
    assert "echo_stage_module" in sys.modules and registry.execute(job).ok
    assert registry.stage("echo") is sys.modules["echo_stage_module"].ECHO
    with pytest.raises(HubindexError, match="two stages named 'echo'"):
        registry.declare("echo", "gpu", "echo_stage_module:ECHO")
    registry.declare("echo-elsewhere", "cpu", "echo_stage_module:EchoStage")  # a name its module did not register
    with pytest.raises(HubindexError, match="not the stage its module registered"):
        registry.stage("echo-elsewhere")
    with pytest.raises(HubindexError, match="no 'nothing' stage"):
        registry.stage("nothing")
    monkeypatch.setitem(registry._DECLARED, "echo", registry.StageRef("echo", "gpu", "echo_stage_module:ECHO"))
    with pytest.raises(HubindexError, match="declared on queue 'gpu', defined on 'cpu'"):
        registry.register(sys.modules["echo_stage_module"].EchoStage())
    # A module imported before the run kind that declares its stage (a spawned process unpickling a job does so):
    # the declaration that follows names the same module and queue and stands.
    (tmp_path / "early_stage_module.py").write_text(STAGE_MODULE.replace('"echo"', '"early"'))
    import early_stage_module

    assert registry.declare("early", "cpu", "early_stage_module:ECHO") in registry.declared()
    assert registry.stage("early") is early_stage_module.ECHO
    with pytest.raises(HubindexError, match="two stages named 'early'"):
        registry.declare("early", "cpu", "elsewhere:ECHO")


def test_worker_and_queue_commands_explain_a_missing_broker(tmp_path):
    """They say what is missing, and get there without importing torch: the stage modules (torch, transformers)
    load only when a job of theirs runs (`pipeline.stage.declare`)."""
    env = {k: v for k, v in os.environ.items() if k != "HUBINDEX_BROKER_URL"}
    for args in (["worker"], ["jobs"], ["index", str(tmp_path), "--db", str(tmp_path / "x.duckdb"), "--queue"]):
        out, heavy = run_cli(args, env=env, timeout=60)
        assert out.returncode == 2 and "HUBINDEX_BROKER_URL" in out.stderr, out.stderr
        assert heavy == [], f"hubindex {args[0]} imported {heavy}"


def test_server_owns_the_catalog_and_keeps_answering_reads_while_workers_ingest(small_hub, tiny_zoo, broker,
                                                                                tmp_path):
    """`hubindex serve` with a broker: POST /jobs queues a run, the server's own ingest consumer records what a
    worker process computes, and reads keep answering (200) the whole time."""
    import httpx

    from tests.server import start_server

    db = tmp_path / "served.duckdb"
    hub = tmp_path / "roots"
    shutil.copytree(small_hub, hub / "first")
    server = start_server(db, index_roots=(hub,), env=worker_env(broker))
    worker = start_worker(broker, "--queues", "cpu,gpu", log=tmp_path / "worker.log")
    auth = {"Authorization": f"Bearer {server.token}"}
    try:
        job = httpx.post(f"{server.url}/jobs", json={"paths": [str(hub / "first")], "embed": False},
                         headers=auth, timeout=30)
        assert job.status_code == 202, job.text
        assert job.json()["backend"] == "celery"
        statuses, reads = [], 0

        def done() -> bool:
            nonlocal reads
            reads += 1
            statuses.append(httpx.get(f"{server.url}/models", timeout=30).status_code)
            state = httpx.get(f"{server.url}/jobs/{job.json()['id']}", headers=auth, timeout=30).json()["state"]
            assert state != "failed"
            return state == "succeeded"

        _wait(done, 300, "the queued job to succeed", (server.process, worker))
        assert reads >= 2 and set(statuses) == {200}
        listed = httpx.get(f"{server.url}/models", timeout=30).json()
        ids = {m["id"] for m in listed["items"]}
        assert {"org/good-a", "org/good-b", "org/truncated", "org/pickled"} <= ids
        truncated = httpx.get(f"{server.url}/models/org/truncated", timeout=30).json()
        assert truncated["status"] == "error"
        outside = httpx.post(f"{server.url}/jobs", json={"paths": [str(tiny_zoo)]}, headers=auth, timeout=30)
        assert outside.status_code == 403  # not under the server's index roots
    finally:
        stop(worker)
        server.stop()


def test_a_worker_picks_its_default_queues_without_torch(tmp_path, monkeypatch):
    """`hubindex worker` without --queues asks the CUDA driver and reads torch's build (pipeline/devices.py)
    instead of importing torch; a CUDA build is told from a CPU one by its `version.py`."""
    import importlib.util
    import subprocess
    import sys

    from hubindex.pipeline import devices

    code = ("import sys\nfrom hubindex.cli.worker_cmd import _default_queues\n"
            "print(_default_queues(), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    queues, imported = out.stdout.split()
    assert imported == "False" and queues == ("cpu,gpu" if devices.cuda_available() else "cpu")
    for i, (line, built) in enumerate((("cuda: Optional[str] = '12.4'", True), ("cuda: Optional[str] = None", False),
                                       ("cuda = '11.8'", True), ("hip = None", False))):
        package = tmp_path / str(i) / "torch"
        package.mkdir(parents=True)
        (package / "version.py").write_text(f"from typing import Optional\n{line}\n")
        spec = importlib.util.spec_from_file_location("torch", package / "__init__.py",
                                                      submodule_search_locations=[str(package)])
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, spec=spec: spec if name == "torch" else None)
        assert devices.torch_built_with_cuda() is built, line
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert not devices.torch_built_with_cuda() and not devices.cuda_available()
