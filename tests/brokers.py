"""A real redis-server on a free loopback port, and `hubindex worker` processes against it (test helpers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hubindex.workers.local_redis import start_redis

__all__ = ["HUBINDEX", "start_redis", "start_worker", "stop", "worker_env"]

HUBINDEX = str(Path(sys.executable).with_name("hubindex"))


def worker_env(url: str, **extra: str) -> dict[str, str]:
    # Short visibility timeout and owner lock: a killed worker's task comes back in seconds, not hours.
    return {**os.environ, "HUBINDEX_BROKER_URL": url, "HUBINDEX_VISIBILITY_TIMEOUT": "6", "HUBINDEX_OWNER_TTL": "4",
            "OMP_NUM_THREADS": "1", **extra}


def start_worker(url: str, *args: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen([HUBINDEX, "worker", *args, "--loglevel", "info"], env=worker_env(url),
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
