"""Whole checkpoints for the models that need Delta Activations, within a disk budget.

Files come through `snapshot_download` with allow_patterns (safetensors, JSON configs, tokenizer files, the card;
never pickles), into `CACHE/org/name/`, where an interrupted download resumes from its `.incomplete` file. The
fetched folders are then indexed like any local root (`hubindex.indexer.pipeline.index_paths`: full signature,
bases, Delta Activations, lineage), and deleted afterwards unless `keep`.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hubindex.hub.source import HubAccessError, HubSource
from hubindex.ids import model_path

PATTERNS = ["*.safetensors", "*.json", "README.md", "*.txt", "*.model", "*.jinja", "*.yml"]


@dataclass
class FullFetchOptions:
    cache: Path
    max_disk: int | None = None  # bytes the cache may hold; models that would overflow it keep partial signatures
    keep: bool = False
    methods: list[str] = field(default_factory=lambda: ["hubindex"])


def disk_usage(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) if path.exists() \
        else 0


@dataclass
class FullFetchResult:
    fetched: list[str] = field(default_factory=list)
    over_budget: list[str] = field(default_factory=list)
    failed: dict[str, HubAccessError] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)


def stamp_times(folder: Path, created_at: datetime | None) -> None:
    """Give downloaded files the repo's creation time: the indexer dates a folder by its files (download time would
    reorder parents and children)."""
    if created_at is None:
        return
    stamp = created_at.replace(tzinfo=UTC).timestamp()
    for path in folder.iterdir():
        if path.is_file() and not path.is_symlink():
            os.utime(path, (stamp, stamp))


def fetch_full(source: HubSource, wanted: list[tuple[str, str, int, datetime | None]],
               options: FullFetchOptions) -> FullFetchResult:
    """Download (id, sha, weight bytes, created) in order while the cache stays within budget."""
    result = FullFetchResult()
    options.cache.mkdir(parents=True, exist_ok=True)
    used = disk_usage(options.cache)
    for model_id, sha, weight_bytes, created_at in wanted:
        if options.max_disk is not None and used + weight_bytes > options.max_disk:
            result.over_budget.append(model_id)
            continue
        folder = model_path(options.cache, model_id)
        before = disk_usage(folder)
        try:
            source.snapshot(model_id, sha, folder, PATTERNS)
        except HubAccessError as exc:
            result.failed[model_id] = exc
            continue
        stamp_times(folder, created_at)
        result.bytes[model_id] = disk_usage(folder) - before
        used += result.bytes[model_id]
        result.fetched.append(model_id)
    return result


def drop_weights(cache: Path, model_ids: list[str]) -> None:
    for model_id in model_ids:
        shutil.rmtree(model_path(cache, model_id), ignore_errors=True)
