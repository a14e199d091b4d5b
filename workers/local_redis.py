"""Start a throwaway redis-server on a free loopback port (tests and benchmarks; production points
HUBINDEX_BROKER_URL at its own Redis)."""

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


def start_redis(folder: Path) -> tuple[subprocess.Popen, str]:
    """(process, url) of a fresh redis-server keeping nothing on disk; the caller terminates it."""
    binary = shutil.which("redis-server")
    if not binary:
        raise HubindexError("redis-server is missing: `make setup` installs Debian's redis-server")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(200):
        try:
            client.ping()
            return proc, url
        except redis.ConnectionError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.kill()
    raise HubindexError(f"redis-server did not start on port {port}")
