"""Workers and the catalog owner against a hostile or unreliable broker (real redis-server, real `hubindex worker`
processes): malformed, foreign and undecodable messages become dead letters; a redis-server killed and restarted
mid-run (with and without persistence) delays the run but never loses or duplicates a model."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import jsonschema
import pytest
import redis
from kombu import Connection, Exchange, Producer, Queue

from hubindex.catalog import Catalog
from hubindex.schemas import schema_for
from tests.brokers import HUBINDEX, start_redis, start_worker, stop, worker_env
from tests.helpers import CONFIG, random_tensors, write_checkpoint

pytestmark = pytest.mark.slow
SHAPES = {"model.embed_tokens.weight": (16, 8), "model.layers.0.mlp.up_proj.weight": (8, 8)}
MODELS = ("org/one", "org/two", "org/three")
ROW = ("revision", "status", "error", "kind", "family", "base", "file_stamp", "path", "layout", "params", "dtype")


@pytest.fixture(scope="module")
def three_models(tmp_path_factory):
    hub = tmp_path_factory.mktemp("resilience") / "hub"
    for i, name in enumerate(MODELS):
        write_checkpoint(hub / name, random_tensors(i, SHAPES), CONFIG)
    return hub


@pytest.fixture(scope="module")
def reference(three_models, tmp_path_factory):
    """The same folders indexed in-process: what every queued run must produce."""
    from hubindex.indexer.pipeline import index_paths

    db = tmp_path_factory.mktemp("reference") / "ref.duckdb"
    index_paths(db, [three_models], ["hubindex"], embed=False, quiet=True)
    return _rows(db)


def _rows(db) -> dict:
    with Catalog(db, read_only=True) as cat:
        assert cat.con.execute("SELECT count(*) - count(DISTINCT id) FROM models").fetchone()[0] == 0
        return {r["id"]: {k: r[k] for k in ROW} for r in cat.models()}


def _jobs(url: str) -> dict:
    out = subprocess.run([HUBINDEX, "jobs", "--json", "--limit", "50"], env=worker_env(url), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    jsonschema.validate(answer, schema_for("jobs"))
    return answer


def _until(predicate, timeout: float, what: str, procs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except redis.ConnectionError:
            pass
        for proc in procs:
            assert proc.poll() is None, f"a worker exited ({proc.returncode}) while waiting for {what}"
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _push_malformed(url: str) -> int:
    """Every kind of bad message, on `ingest` (the owner) and `cpu` (a Celery worker); returns how many."""
    from hubindex.workers.app import app

    r = redis.Redis.from_url(url)
    with Connection(url) as conn:
        producer = Producer(conn)
        for queue in ("ingest", "cpu"):
            exchange = Exchange(queue, type="direct")
            target = {"exchange": exchange, "routing_key": queue, "declare": [Queue(queue, exchange, queue)]}
            producer.publish([1, 2, 3], serializer="json", **target)  # a JSON list body
            producer.publish({"type": "plan", "run": "x"}, serializer="pickle", **target)  # never unpickled
            r.lpush(queue, b"\x80 not json {")  # a raw item that is not JSON (nor UTF-8)
            r.lpush(queue, json.dumps({"hello": "world"}))  # JSON without a message envelope
    app.send_task("hubindex.no-such-task", args=[], queue="cpu", routing_key="cpu")  # an unknown task
    app.send_task("hubindex.fingerprint", args=["run", [1, 2]], queue="cpu", routing_key="cpu")  # a malformed job
    with Connection(url) as conn:  # an ingest message of an unknown type
        exchange = Exchange("ingest", type="direct")
        Producer(conn).publish({"type": "bogus", "run": "x"}, exchange=exchange, routing_key="ingest",
                               declare=[Queue("ingest", exchange, "ingest")], serializer="json")
    return 4 * 2 + 3


def test_malformed_messages_are_dead_letters_and_the_run_still_completes(three_models, reference, broker,
                                                                         tmp_path):
    from hubindex.workers.ingest import submit, wait_for

    db = tmp_path / "queued.duckdb"
    log = tmp_path / "worker.log"
    worker = start_worker(broker, "--queues", "cpu,ingest", "--db", str(db), log=log)
    try:
        pushed = _push_malformed(broker)
        r = redis.Redis.from_url(broker)
        _until(lambda: int(r.get("hubindex:dead_letters:total") or 0) >= pushed, 300,
               "every bad message to be a dead letter", (worker,))
        run = wait_for(submit(db, [three_models], ["hubindex"], embed=False).id, timeout=300)
        assert run.phase == "finished" and run.report.indexed == len(MODELS), run
        answer = _jobs(broker)
        assert worker.poll() is None, log.read_text()[-3000:]
    finally:
        stop(worker)
    assert answer["dead_letter_total"] == pushed, answer["dead_letters"]
    assert {d["queue"] for d in answer["dead_letters"]} == {"ingest", "cpu"}
    reasons = " ".join(d["reason"] for d in answer["dead_letters"])
    for why in ("undecodable item", "not a message envelope", "pickle", "unknown task", "malformed fingerprint job",
                "not an ingest message"):
        assert why in reasons, (why, reasons)
    assert answer["queues"] == {"cpu": 0, "gpu": 0, "ingest": 0}  # every bad message acknowledged
    assert _rows(db) == reference


@pytest.mark.parametrize("persist", [False, True], ids=["no-persistence", "append-only-file"])
def test_broker_killed_and_restarted_mid_run(three_models, reference, tmp_path, persist):
    """The owner has planned the run and a paused worker holds its connection when redis-server is SIGKILLed;
    it comes back on the same port (empty, or from its append-only file). `index --queue --wait` rides it out and
    the catalog equals in-process indexing."""
    folder = tmp_path / "redis"
    folder.mkdir()
    proc, url = start_redis(folder, persist=persist)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    db = tmp_path / "queued.duckdb"
    log = tmp_path / "worker.log"
    owner = start_worker(url, "--queues", "ingest", "--db", str(db), log=log)
    worker = start_worker(url, "--queues", "cpu", log=log)
    waiter = None
    try:
        r = redis.Redis.from_url(url, decode_responses=True)
        _until(lambda: r.exists(f"hubindex:owner:{db.resolve()}"), 120, "the owner to take the lock", (owner,))
        _until(lambda: any(k.startswith("_kombu.binding.cpu") for k in r.keys("_kombu.binding.*")), 120,
               "the worker to bind its queue", (worker,))
        worker.send_signal(signal.SIGSTOP)  # connected, consuming nothing: the jobs wait on the broker
        waiter = subprocess.Popen([HUBINDEX, "index", str(three_models), "--db", str(db), "--no-embed", "--queue",
                                   "--wait", "--json"], env=worker_env(url), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        _until(lambda: any(json.loads(r.get(k) or "{}").get("phase") == "fingerprint"
                           for k in r.keys("hubindex:run:*")), 120, "the owner to plan the run", (owner,))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        time.sleep(1)
        proc, url_again = start_redis(folder, port=port, persist=persist)
        assert url_again == url
        worker.send_signal(signal.SIGCONT)
        out, err = waiter.communicate(timeout=300)
        assert waiter.returncode == 0, err[-3000:]
        report = json.loads(out)
        jsonschema.validate(report, schema_for("index_report"))
        assert report["indexed"] == report["seen"] == len(MODELS) and report["failed"] == []
        assert owner.poll() is None and worker.poll() is None, log.read_text()[-3000:]
    finally:
        if waiter is not None and waiter.poll() is None:
            waiter.kill()
        worker.send_signal(signal.SIGCONT)
        stop(worker)
        stop(owner)
        proc.terminate()
        proc.wait(10)
    assert owner.returncode == 0, log.read_text()[-3000:]
    assert _rows(db) == reference


def test_a_run_the_broker_lost_is_reported_not_waited_for(three_models, tmp_path):
    """No owner was there to hold the run when the broker restarted empty: `index --queue --wait` says the run is
    lost. The CLI runs in a process of its own: Celery caches its broker connections per process, so pointing this
    process at a throw-away broker would leave it publishing there for the rest of the session."""
    proc, url = start_redis(tmp_path)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    waiter = subprocess.Popen([HUBINDEX, "index", str(three_models), "--db", str(tmp_path / "x.duckdb"), "--no-embed",
                               "--queue", "--wait"], env={**worker_env(url), "HUBINDEX_LOST_AFTER": "2"},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        r = redis.Redis.from_url(url)
        _until(lambda: any(True for _ in r.scan_iter("hubindex:run:*")), 120, "the run to be queued", (waiter,))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc, _ = start_redis(tmp_path, port=port)
        output, _ = waiter.communicate(timeout=300)
    finally:
        if waiter.poll() is None:
            waiter.kill()
        proc.terminate()
        proc.wait(10)
    assert waiter.returncode == 2 and "was lost" in output, output
