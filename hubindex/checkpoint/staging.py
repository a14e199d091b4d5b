"""Write an output folder atomically: build it beside the target, rename it into place on success."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hubindex.errors import HubindexError


@contextmanager
def staged_dir(target: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder; on success it replaces `target`, on error it is removed.

    A reader never sees a half-written model, and a failed run leaves no partial folder behind.
    """
    target = Path(target)
    if target.exists() and not overwrite:
        raise HubindexError(f"{target} already exists (pass --overwrite to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
