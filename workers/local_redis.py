"""Start a throwaway redis-server on a loopback port (tests and benchmarks; production points HUBINDEX_BROKER_URL
at its own Redis)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

from hubindex.errors import HubindexError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(folder: Path, port: int | None = None, persist: bool = False) -> tuple[subprocess.Popen, str]:
    """(process, url) of a redis-server on `port` (a free one by default); the caller terminates it. `persist`
    keeps an append-only file in `folder`, synced on every write, so a restart on the same folder and port finds
    every queue and run record again; without it a restart comes back empty."""
    binary = shutil.which("redis-server")
    if not binary:
        raise HubindexError("redis-server is missing: `make setup` installs Debian's redis-server")
    port = port or free_port()
    durability = ["--appendonly", "yes", "--appendfsync", "always"] if persist else ["--appendonly", "no"]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", *durability,
                             "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(200):
        try:
            client.ping()
            return proc, url
        except (redis.ConnectionError, redis.exceptions.BusyLoadingError):
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.kill()
    raise HubindexError(f"redis-server did not start on port {port}")
