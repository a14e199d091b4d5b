"""Find model folders under the paths given to `hubindex index`.

Three layouts:
- a Hugging Face cache (`ROOT/models--org--name/snapshots/<sha>/`, files symlinked into `models--org--name/blobs/`),
  read with huggingface_hub's own `scan_cache_dir`: one model per cached repo, id `org/name`, revision the commit
  of its current snapshot (the one `refs/main` names, else the most recently modified);
- a single model folder (id: its last two path components; inside a cache, the repo's id);
- a root laid out like a hub, `ROOT/org/name/` (or `ROOT/name/`): ids are paths relative to the root.

Symlinks: outside a cache none is followed to a model folder. In a cache snapshot a file may link only into its own
repo's `blobs/` (huggingface_hub may link that blob on into the cache-wide shared store `ROOT/blobs/`); a snapshot
with a file linking anywhere else is skipped with the reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hubindex.checkpoint.safe_read import RefusedFile, resolve_inside
from hubindex.errors import HubindexError
from hubindex.ids import id_for_folder, validate_model_id

MARKERS = ("config.json", "adapter_config.json", "model.safetensors", "model.safetensors.index.json",
           "adapter_model.safetensors", "pytorch_model.bin")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
CACHE_PREFIX = "models--"


@dataclass(frozen=True)
class Found:
    model_id: str | None  # None when the folder name is not a valid id
    folder: Path
    source: str  # the root it was found under
    problem: str | None = None
    revision: str | None = None  # a hub commit (HF cache snapshot); None: the weights' own hash is the revision


def hf_cache_dir() -> Path:
    """Where huggingface_hub keeps its cache: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE).expanduser()


def looks_like_model(folder: Path) -> bool:
    return any((folder / m).exists() for m in MARKERS) or any(folder.glob("*.safetensors")) or any(
        folder.glob("*.bin"))


def is_hf_cache(root: Path) -> bool:
    return any(p.name.startswith(CACHE_PREFIX) and (p / "snapshots").is_dir() for p in root.iterdir() if p.is_dir())


def cache_repo_of(folder: Path) -> Path | None:
    """The `models--org--name` folder when `folder` is that folder or one of its snapshots, else None."""
    folder = Path(folder).absolute()
    for candidate in (folder, folder.parent.parent):
        if candidate.name.startswith(CACHE_PREFIX) and (candidate / "snapshots").is_dir():
            return candidate
    return None


def link_allowed(path: Path, snapshot: Path) -> bool:
    """Whether a file of a cache snapshot may be read: the checkpoint readers' one symlink rule."""
    try:
        resolve_inside(path, snapshot)
    except RefusedFile:
        return False
    return True


def _make(folder: Path, relative: str, source: str) -> Found:
    try:
        return Found(validate_model_id(relative), folder, source)
    except HubindexError as exc:
        return Found(None, folder, source, str(exc))


def discover(path: str | Path) -> list[Found]:
    given = Path(path).expanduser()
    if not given.is_dir():
        raise HubindexError(f"{path}: no such directory")
    repo = cache_repo_of(given)
    if repo is not None:  # one cached repo, or one of its snapshots
        snapshot = given.absolute() if given.absolute().parent.name == "snapshots" else None
        return [_cached_model(repo, repo.parent, snapshot)]
    if is_hf_cache(given):
        return discover_hf_cache(given)
    root = given.resolve()
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


def discover_hf_cache(root: Path) -> list[Found]:
    """Every cached model repo under a Hugging Face cache; datasets and spaces are not models and are passed over."""
    from huggingface_hub import scan_cache_dir

    root = root.absolute()
    info = scan_cache_dir(root)
    found = [_cached_model(repo.repo_path, root) for repo in sorted(info.repos, key=lambda r: r.repo_id)
             if repo.repo_type == "model"]
    for warning in info.warnings:  # a repo huggingface_hub itself calls corrupted (missing blob, no snapshots...)
        found.append(Found(None, root, str(root), f"corrupted cache entry: {warning}"))
    return found


def _current_snapshot(repo: Path) -> Path | None:
    """The snapshot `refs/main` names, else the most recently modified one."""
    snapshots = repo / "snapshots"
    main = repo / "refs" / "main"
    if main.is_file():
        sha = main.read_text().strip()
        if sha and (snapshots / sha).is_dir() and "/" not in sha:
            return snapshots / sha
    existing = [p for p in snapshots.iterdir() if p.is_dir()]
    return max(existing, key=lambda p: p.stat().st_mtime) if existing else None


def _cached_model(repo: Path, root: Path, snapshot: Path | None = None) -> Found:
    repo_id = repo.name.removeprefix(CACHE_PREFIX).replace("--", "/")
    snapshot = snapshot or _current_snapshot(repo)
    try:
        model_id = validate_model_id(repo_id)
    except HubindexError as exc:
        return Found(None, repo, str(root), str(exc))
    if snapshot is None:
        return Found(None, repo, str(root), "no snapshot in the cache")
    files = sorted(p for p in snapshot.rglob("*") if p.is_symlink() or not p.is_dir())
    refused = [p.relative_to(snapshot).as_posix() for p in files if not link_allowed(p, snapshot)]
    if refused:
        return Found(None, snapshot, str(root), f"{model_id}: symlink leaves the cache ({', '.join(refused[:3])})")
    if not any(p.name.endswith(WEIGHT_SUFFIXES) for p in files):
        return Found(None, snapshot, str(root), f"{model_id}: no weight files cached (only {len(files)} other files)")
    return Found(model_id, snapshot, str(root), revision=snapshot.name)
