"""Every CLI failure is one `error:` line with the root cause and exit status 2; `--verbose` adds the traceback and
lets third-party warnings through."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from hubindex.cli.failure import explain
from hubindex.cli.main import cli

from tests.helpers import CONFIG, write_checkpoint

HUBINDEX = str(Path(sys.executable).with_name("hubindex"))


def _model(folder: Path, seed: int) -> Path:
    generator = torch.Generator().manual_seed(seed)
    tensors = {f"model.layers.{i}.mlp.weight": torch.randn(64, 64, generator=generator) for i in range(4)}
    return write_checkpoint(folder, tensors, CONFIG)


def _can_mount_tmpfs() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /tmp"],
                           capture_output=True)
    return probe.returncode == 0


def test_garbage_catalog_is_one_line_and_verbose_shows_the_traceback(tmp_path):
    db = tmp_path / "garbage.duckdb"
    db.write_bytes(os.urandom(5000))
    plain = CliRunner().invoke(cli, ["show", "org/model", "--db", str(db)])
    assert plain.exit_code == 2
    assert plain.stderr.splitlines() == [plain.stderr.strip()] and plain.stderr.startswith("error: ")
    assert "not a valid DuckDB database" in plain.stderr and "Traceback" not in plain.stderr
    verbose = CliRunner().invoke(cli, ["show", "org/model", "--db", str(db), "--verbose"])  # anywhere on the line
    assert verbose.exit_code == 2
    assert "Traceback (most recent call last)" in verbose.stderr
    assert verbose.stderr.strip().splitlines()[-1] == plain.stderr.strip()


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs user namespaces to mount a small tmpfs")
def test_disk_full_names_the_cause(tmp_path):
    """A real full disk: a 4 MB tmpfs in a user namespace; the catalog is created, then the disk is filled."""
    root = tmp_path / "hub"
    _model(root / "org" / "first", 0)
    _model(root / "org" / "second", 1)
    script = f"""
set -e
mount -t tmpfs -o size=4m tmpfs {tmp_path / 'disk'}
{HUBINDEX} index {root / 'org' / 'first'} --db {tmp_path / 'disk' / 'cat.duckdb'} --no-embed --json > /dev/null
dd if=/dev/zero of={tmp_path / 'disk' / 'fill'} bs=4k 2>/dev/null || true
set +e
{HUBINDEX} index {root} --db {tmp_path / 'disk' / 'cat.duckdb'} --no-embed
echo "rc=$?"
"""
    (tmp_path / "disk").mkdir()
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip().endswith("rc=2"), (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    # In a log, progress comes as plain "stage: done/total" lines; the failure is one error line, the last.
    assert all(re.fullmatch(r"[\w ():-]+: \d+/\d+", line) for line in lines[:-1]), done.stderr
    assert lines[-1].startswith("error: disk full: "), done.stderr
    assert "No space left on device" in lines[-1]


def test_broker_trouble_names_the_cause(tmp_path, monkeypatch):
    """Real redis-py errors from a real redis-server with a password, and from a port nobody listens on."""
    import redis
    from hubindex.workers.local_redis import free_port

    port = free_port()
    server = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
                               "127.0.0.1", "--save", "", "--requirepass", "s3cret", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wrong = f"redis://:wrong@127.0.0.1:{port}/0"
        monkeypatch.setenv("HUBINDEX_BROKER_URL", wrong)
        for _ in range(100):
            try:
                redis.Redis.from_url(wrong).ping()
            except redis.AuthenticationError as exc:
                line = explain(exc)
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            pytest.fail("redis-server did not start")
        assert line.startswith(f"authentication failed at broker redis://***@127.0.0.1:{port}/0: "), line
        assert "wrong" not in line  # the password is not printed
    finally:
        server.terminate()
        server.wait(10)
    closed = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.setenv("HUBINDEX_BROKER_URL", closed)
    with pytest.raises(redis.ConnectionError) as caught:
        redis.Redis.from_url(closed).ping()
    try:  # as the CLI sees it: wrapped by the caller
        raise RuntimeError("cannot submit the run") from caught.value
    except RuntimeError as wrapped:
        assert explain(wrapped).startswith(f"broker {closed} unreachable: "), explain(wrapped)


def test_the_root_cause_under_a_wrapper():
    """DuckDB's "cannot rollback" while handling ENOSPC: the line says disk full, not the rollback."""
    try:
        try:
            raise OSError(28, "No space left on device")
        except OSError:
            raise RuntimeError("cannot rollback - no transaction is active")  # noqa: B904 (as DuckDB does)
    except RuntimeError as exc:
        assert explain(exc) == "disk full: [Errno 28] No space left on device"
    try:
        raise ValueError("outer") from KeyError("inner")
    except ValueError as exc:
        assert explain(exc) == "outer (caused by KeyError: 'inner')"


WARNING_COMMAND = """
import logging, warnings
import click
from hubindex.cli.main import cli

@cli.command("noisy")
def noisy():
    warnings.warn("old API", DeprecationWarning)
    logging.getLogger("transformers.modeling_utils").warning("some weights were not initialised")
    from huggingface_hub.utils import tqdm  # the bars of huggingface_hub and transformers (save_pretrained)

    for _ in tqdm(range(3), desc="hub bar"):
        pass
    click.echo("done")

cli()
"""


def test_third_party_warnings_only_with_verbose():
    env = {**os.environ, "PYTHONWARNINGS": ""}
    env.pop("TRANSFORMERS_VERBOSITY", None)
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
    quiet = subprocess.run([sys.executable, "-c", WARNING_COMMAND, "noisy"], capture_output=True, text=True, env=env)
    assert quiet.returncode == 0 and quiet.stdout.strip() == "done" and quiet.stderr == "", quiet.stderr
    loud = subprocess.run([sys.executable, "-c", WARNING_COMMAND, "noisy", "--verbose"], capture_output=True,
                          text=True, env=env)
    assert "old API" in loud.stderr and "some weights were not initialised" in loud.stderr, loud.stderr
    assert "hub bar" in loud.stderr
