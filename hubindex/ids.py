"""Model ids as the Hub spells them (`org/name`), validated before they touch a path."""

from __future__ import annotations

import re
from pathlib import Path

from hubindex.errors import HubindexError

_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?")
# The same rule as one regular expression (JSON Schema / ECMA flavour), for API documentation and clients.
MODEL_ID_PATTERN = rf"^(?!.*\.\.)(?:{_PART.pattern}/)?{_PART.pattern}$"


def validate_model_id(model_id: str) -> str:
    """Return the id if it is `name` or `org/name` with Hub-legal parts, else raise.

    Rejects what could escape a folder: absolute paths, `..`, backslashes, empty parts, control characters.
    """
    parts = model_id.split("/") if isinstance(model_id, str) else []
    ok = 1 <= len(parts) <= 2 and all(_PART.fullmatch(p) and ".." not in p for p in parts)
    if not ok:
        raise HubindexError(f"invalid model id {model_id!r}: expected 'org/name' of letters, digits, '-', '_', '.'")
    return model_id


def model_path(root: Path, model_id: str) -> Path:
    """The folder of `model_id` under a hub-like root; never outside it."""
    return Path(root) / validate_model_id(model_id)


def id_for_folder(folder: Path) -> str:
    """The id a local folder goes by: its last two path components (`org/name`), as in a hub-like tree."""
    resolved = Path(folder).resolve()
    parts = [p for p in (resolved.parent.name, resolved.name) if p]
    return validate_model_id("/".join(parts))
