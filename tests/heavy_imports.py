"""Run the `hubindex` command line in a fresh interpreter and tell which heavy libraries it imported (torch,
transformers, peft: seconds of CPU and ~0.5 GB each process), for tests of what a command loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "transformers", "peft")
MARK = "heavy imports:"
_CODE = ("import atexit, sys\n"
         f"atexit.register(lambda: print({MARK!r}, *[m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr))\n"
         "from hubindex.cli.main import cli\n"
         "cli(prog_name='hubindex')\n")


def run_cli(args: list[str], env: dict[str, str] | None = None, timeout: float = 120,
            cwd: Path | None = None) -> tuple[subprocess.CompletedProcess, list[str]]:
    """`hubindex ARGS` as a subprocess; returns it (stderr without the report line) and the heavy modules loaded."""
    out = subprocess.run([sys.executable, "-c", _CODE, *args], env=env, capture_output=True, text=True,
                         timeout=timeout, cwd=cwd)
    lines = out.stderr.splitlines()
    reports = [line for line in lines if line.startswith(MARK)]
    assert reports, f"the command did not exit through the interpreter: {out.stderr}"
    out.stderr = "\n".join(line for line in lines if not line.startswith(MARK))
    return out, reports[-1][len(MARK):].split()
