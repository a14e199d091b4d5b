"""A real redis-server on a free loopback port, and `hubindex worker` processes against it (test helpers)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

HUBINDEX = str(Path(sys.executable).with_name("hubindex"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(folder: Path) -> tuple[subprocess.Popen, str]:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is missing: `make setup` installs Debian's redis-server"
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            return proc, url
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


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
