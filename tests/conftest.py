"""Session fixtures: reference zoos built once per session by hubindex's own training module."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a hub
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from tests.helpers import MULTI_FAMILY_ZOO, STRIPPED_ZOO

TEST_SEED = 7


# A folder that keeps the session zoos between runs (a developer's re-runs; CI leaves it unset): the zoo builder
# finishes what is missing or stale (per-model digests) and returns at once for a complete zoo.
KEPT_ZOOS_ENV = "HUBINDEX_TEST_ZOOS"


def _zoo_folder(seed: int, size: str, options: dict) -> str:
    """One folder name per distinct (seed, size, options), stable across runs and readable."""
    extra = "".join(f"-{k}={'+'.join(map(str, v)) if isinstance(v, tuple | list) else v}"
                    for k, v in sorted(options.items()))
    return f"zoo-{size}-seed{seed}{extra}"


def _shared_root(tmp_path_factory) -> Path:
    """The run's temp root, shared by every pytest-xdist worker of the run (each worker's basetemp is inside it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _made_once(tmp_path_factory, name: str, make) -> Path:
    """The folder `name` under the run's shared temp root, filled by `make(folder)` once per run: the first worker
    to ask makes it under a file lock, the others (pytest-xdist) wait for it and reuse it."""
    from filelock import FileLock

    root = _shared_root(tmp_path_factory)
    folder, done = root / name, root / f"{name}.done"
    with FileLock(root / f"{name}.lock"):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a half-made one, left by a worker that died making it
            folder.mkdir(parents=True)
            make(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def zoo_factory(tmp_path_factory):
    """build(seed, **options) -> zoo root; each distinct (seed, options) is built once per session, under a file
    lock, so parallel workers of one run share it (and HUBINDEX_TEST_ZOOS keeps it between runs)."""
    from filelock import FileLock

    from hubindex.zoo.build import ZooOptions, build_zoo

    run = _shared_root(tmp_path_factory)
    kept = os.environ.get(KEPT_ZOOS_ENV)
    shelf = Path(kept) if kept else run  # in the temp root itself, as before: test_api escapes it with ".."
    shelf.mkdir(parents=True, exist_ok=True)

    def build(seed: int, size: str = "tiny", **options) -> Path:
        name = _zoo_folder(seed, size, options)
        root, built = shelf / name, run / f"{name}.built"
        with FileLock(shelf / f"{name}.lock"):
            # Once per run: build_zoo rewrites truth.json and file times even when nothing is missing, which a
            # worker reading the zoo at that moment must not see.
            if not built.exists():
                build_zoo(root, ZooOptions(seed=seed, size=size, **options), jobs=min(2, os.cpu_count() or 1))
                built.touch()
        return root

    return build


@pytest.fixture(scope="session")
def tiny_zoo(zoo_factory) -> Path:
    return zoo_factory(TEST_SEED)


@pytest.fixture(scope="session")
def stripped_zoo(zoo_factory) -> Path:
    """A second, smaller zoo: another seed, one family, three domains, every lineage hint removed."""
    return zoo_factory(STRIPPED_ZOO["seed"], strip_metadata=True, families=STRIPPED_ZOO["families"],
                       domains=STRIPPED_ZOO["domains"])


@pytest.fixture(scope="session")
def multi_family_zoo(zoo_factory) -> Path:
    return zoo_factory(MULTI_FAMILY_ZOO["seed"], strip_metadata=True, families=MULTI_FAMILY_ZOO["families"],
                       domains=MULTI_FAMILY_ZOO["domains"])


@pytest.fixture(scope="session")
def tiny_catalog(tiny_zoo, tmp_path_factory) -> Path:
    """The tiny zoo indexed with both Delta Activations recipes. Tests read it; they never write to it."""
    from hubindex.indexer.pipeline import index_paths

    def make(folder: Path) -> None:
        report = index_paths(folder / "tiny.duckdb", [tiny_zoo], ["hubindex", "paper"], quiet=True)
        assert not report.failed, report.failed

    return _made_once(tmp_path_factory, "catalog", make) / "tiny.duckdb"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server on a free 127.0.0.1 port for the session; HUBINDEX_BROKER_URL points at it."""
    from tests.brokers import start_redis

    proc, url = start_redis(tmp_path_factory.mktemp("redis"))
    os.environ["HUBINDEX_BROKER_URL"] = url
    from hubindex.workers.app import app, configure

    configure(app)
    yield url
    del os.environ["HUBINDEX_BROKER_URL"]
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def broker(redis_server):
    """An empty broker for one test (the server is shared by the session)."""
    import redis

    redis.Redis.from_url(redis_server).flushall()
    return redis_server


@pytest.fixture(scope="session")
def api_server(tiny_catalog, tiny_zoo, tmp_path_factory):
    """`hubindex serve` over a copy of the tiny catalog (it opens the file read-write), jobs allowed on the zoo."""
    from tests.server import copy_catalog, start_server

    db = copy_catalog(tiny_catalog, tmp_path_factory.mktemp("served"))
    server = start_server(db, index_roots=(tiny_zoo,))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def merge_models(tmp_path_factory) -> Path:
    """A hub-like root with a tiny llama base (sharded) and three full finetunes of it on different domains, written
    by hubindex.train in a few steps: inputs for merge parity and hub-merge tests (seconds, not a zoo)."""
    from hubindex.train.data import domain_texts
    from hubindex.train.finetune import finetune
    from hubindex.train.pretrain import pretrain

    def make(root: Path) -> None:
        base = root / "hubindex-labs" / "lm-base"
        pretrain("llama", "tiny", base, seed=3, steps=20, max_shard_bytes=80_000, quiet=True)
        for i, (org, domain) in enumerate((("acme", "code"), ("bluefin", "legal"), ("sparrow", "poetry"))):
            finetune(base, root / org / f"lm-{domain}", domain_texts(domain, 200, i), seed=i, steps=8, lr=2e-3,
                     base_id="hubindex-labs/lm-base", domain=domain, seq_len=64, batch=8, quiet=True)

    return _made_once(tmp_path_factory, "merge-models", make)


REALISTIC_SEED = 11  # a test seed, never a design or held-out seed of the realistic profile (README)


@pytest.fixture(scope="session")
def realistic_zoo(zoo_factory) -> Path:
    """The realistic profile at its test scale (~40 tiny models, every kind once or more), metadata stripped."""
    return zoo_factory(REALISTIC_SEED, profile="realistic", strip_metadata=True)


@pytest.fixture
def online(monkeypatch):
    """conftest keeps tests offline; a test that crawls talks to 127.0.0.1 only, through huggingface_hub's client."""
    from hubindex.hub.source import go_online

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    go_online()
    yield
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = True


@pytest.fixture(scope="session")
def multi_family_catalog(multi_family_zoo, tmp_path_factory) -> tuple[Path, str]:
    """The multi-family zoo indexed once per session by the CLI (`index --json`, default method): (catalog, the
    command's JSON report). test_catalog and test_lineage read the same catalog; they never write to it."""
    from click.testing import CliRunner
    from hubindex.cli.main import cli

    def make(folder: Path) -> None:
        result = CliRunner().invoke(cli, ["index", str(multi_family_zoo), "--db", str(folder / "multi.duckdb"),
                                          "--json"])
        assert result.exit_code == 0, result.output
        (folder / "report.json").write_text(result.output)

    folder = _made_once(tmp_path_factory, "multi-catalog", make)
    return folder / "multi.duckdb", (folder / "report.json").read_text()
