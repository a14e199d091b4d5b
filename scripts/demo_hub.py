"""`make demo`'s crawl step: serve a zoo through the local test hub (tests/hub_server.py, the server the crawler
tests use) and run `hubindex crawl` against it, as against any Hugging Face Hub endpoint.

    python scripts/demo_hub.py ZOO DB [crawl options...]
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/ is not installed: the test hub lives there

from tests.hub_server import HubServer  # noqa: E402


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    zoo, db, options = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}  # this crawl talks to 127.0.0.1 only
    hubindex = str(Path(sys.executable).with_name("hubindex"))
    with HubServer(zoo) as hub:
        print(f"local hub: {hub.endpoint} serving {len(hub.repos)} repos from {zoo}", flush=True)
        return subprocess.call([hubindex, "crawl", "--endpoint", hub.endpoint, "--db", db, *options], env=env)


if __name__ == "__main__":
    sys.exit(main())
