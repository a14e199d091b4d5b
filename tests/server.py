"""A real `hubindex serve` process on a free loopback port, for API, CLI-client and browser tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass
class Server:
    url: str
    token: str
    db: Path
    process: subprocess.Popen

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_catalog(db: Path, into: Path) -> Path:
    """The server opens its catalog read-write, so it gets its own copy (file and FAISS folder)."""
    into.mkdir(parents=True, exist_ok=True)
    target = into / db.name
    shutil.copy2(db, target)
    shutil.copytree(db.with_name(db.name + ".faiss"), target.with_name(target.name + ".faiss"))
    return target


def start_server(db: Path, token: str = "test-token", index_roots: tuple[Path, ...] = (),
                 env: dict | None = None, timeout: float = 180) -> Server:
    port = free_port()
    command = [str(Path(sys.executable).parent / "hubindex"), "serve", "--db", str(db), "--port", str(port)]
    for root in index_roots:
        command += ["--index-root", str(root)]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HUBINDEX_")}  # no stray broker or roots
    environment.update({"HUBINDEX_API_TOKEN": token, **(env or {})})
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited {process.returncode}: {process.stdout.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return Server(url=url, token=token, db=db, process=process)
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server did not answer /health within {timeout} s")
