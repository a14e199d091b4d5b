"""Find model folders under the paths given to `hubindex index`.

A path that is itself a model folder is indexed as one model (id: its last two path components). Otherwise it is a
root laid out like a hub, `ROOT/org/name/` (or `ROOT/name/`), and ids are paths relative to the root.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hubindex.errors import HubindexError
from hubindex.ids import id_for_folder, validate_model_id

MARKERS = ("config.json", "adapter_config.json", "model.safetensors", "model.safetensors.index.json",
           "adapter_model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class Found:
    model_id: str | None  # None when the folder name is not a valid id
    folder: Path
    source: str  # the root it was found under
    problem: str | None = None


def looks_like_model(folder: Path) -> bool:
    return any((folder / m).exists() for m in MARKERS) or any(folder.glob("*.safetensors")) or any(
        folder.glob("*.bin"))


def _make(folder: Path, relative: str, source: str) -> Found:
    try:
        return Found(validate_model_id(relative), folder, source)
    except HubindexError as exc:
        return Found(None, folder, source, str(exc))


def discover(path: str | Path) -> list[Found]:
    root = Path(path).resolve()
    if not root.is_dir():
        raise HubindexError(f"{path}: no such directory")
    if looks_like_model(root):
        try:
            model_id = id_for_folder(root)
        except HubindexError as exc:
            return [Found(None, root, str(root.parent.parent), str(exc))]
        return [Found(model_id, root, str(root.parent.parent))]
    found: list[Found] = []
    for child in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if child.is_symlink():
            continue  # a link could lead out of the root
        if looks_like_model(child):
            found.append(_make(child, child.name, str(root)))
            continue
        for grandchild in sorted(p for p in child.iterdir() if p.is_dir() and not p.is_symlink()):
            if looks_like_model(grandchild):
                found.append(_make(grandchild, f"{child.name}/{grandchild.name}", str(root)))
    return found
