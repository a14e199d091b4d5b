"""`hubindex index`: local folders in, catalog rows and FAISS indexes out.

Stages: discover -> fingerprint each changed model (bad input is recorded on its row; the run goes on) -> families
and bases for the whole catalog -> Delta Activations for models whose embedding is missing or stale -> rebuild the
FAISS spaces. Unchanged folders (same file sizes and mtimes) are not re-read, so a second run is cheap and changes
nothing.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel
from rich.progress import Progress

from hubindex.catalog import Catalog
from hubindex.catalog.spaces import rebuild
from hubindex.checkpoint import ModelFolder
from hubindex.embed.methods import get_method
from hubindex.errors import CheckpointError, HubindexError, UnsupportedFormatError
from hubindex.fingerprint import compute_signature
from hubindex.indexer import families
from hubindex.indexer.discover import Found, discover
from hubindex.indexer.embedding import embed_models, probe_loss, probe_model_for, stale
from hubindex.indexer.metadata import declared_metadata, dominant_dtype, file_stamp
from hubindex.lineage.engine import update_lineage


class Failure(BaseModel):
    model: str
    status: str
    error: str


class IndexReport(BaseModel):
    """What one `hubindex index` run did."""

    db: str
    seen: int
    indexed: int
    unchanged: int
    failed: list[Failure]
    skipped: list[str]  # folders whose names are not valid model ids
    pruned: list[str]
    embedded: dict[str, int]
    lineage_families: int  # families whose lineage was recomputed
    spaces: int
    seconds: float


def _index_one(catalog: Catalog, found: Found) -> str:
    """Fingerprint and record one folder; returns indexed | unchanged, or raises with the reason."""
    stamp = file_stamp(found.folder)
    previous = catalog.model(found.model_id)
    if previous and previous["file_stamp"] == stamp and previous["status"] != "error" \
            and previous["status"] != "unsupported":
        return "unchanged"
    folder = ModelFolder.open(found.folder)
    signature = compute_signature(folder)
    row = {"id": found.model_id, "source": found.source, "path": str(found.folder), "file_stamp": stamp,
           "dtype": dominant_dtype(signature.dtypes), **declared_metadata(folder)}
    if row["created_at"] is None:
        row["created_at"] = datetime.fromtimestamp(min(f.path.stat().st_mtime for f in folder.files), UTC).replace(
            tzinfo=None)
    row["status"], row["error"] = "indexed", None
    if folder.kind == "model" and not folder.tokenizer_files():
        row["status"], row["error"] = "weights_only", "no tokenizer files: Delta Activations need one"
    catalog.record_model(row, signature)
    return "indexed"


CHECKED = ("probe-loss", "declared-checked")  # base sources decided by probe loss, kept per revision


def _resolve_bases(catalog: Catalog, method_name: str, use_probes: bool) -> None:
    probes = get_method(method_name).probes
    for model_id, choice in families.assign(catalog).items():
        row = catalog.require(model_id)
        if choice.candidates and row["base_source"] in CHECKED and row["base"] in choice.candidates:
            continue  # decided on an earlier run for this revision
        if choice.candidates and use_probes:  # several possible bases: the one it models text best on
            losses = {}
            for candidate in choice.candidates:
                try:
                    losses[candidate] = probe_loss(probe_model_for(catalog, {**row, "base": candidate,
                                                                             "adapter_base": None}), probes)
                except HubindexError:
                    continue
            if losses:
                declared = choice.base if choice.source == "declared" else None
                best = min(losses, key=lambda c: (losses[c], c != declared))
                source = "declared-checked" if best == declared else "probe-loss"
                choice = families.Assignment(choice.family or best, best, source)
        catalog.set_base(model_id, choice.family, choice.base, choice.source)


def index_paths(db: Path | Catalog, paths: list[Path], methods: list[str], embed: bool = True, prune: bool = False,
                quiet: bool = False) -> IndexReport:
    """Index into the catalog file `db`, or into an open Catalog (a server's, which owns the file; left open)."""
    started = time.perf_counter()
    found: list[Found] = []
    for path in paths:
        found.extend(discover(path))
    opened = nullcontext(db) if isinstance(db, Catalog) else Catalog(db)
    report = IndexReport(db=str(db.path if isinstance(db, Catalog) else db), seen=len(found), indexed=0, unchanged=0,
                         failed=[], skipped=[], pruned=[], embedded={}, lineage_families=0, spaces=0, seconds=0.0)
    with opened as catalog, Progress(disable=quiet, transient=True) as progress:
        task = progress.add_task("fingerprint", total=len(found))
        for item in found:
            progress.advance(task)
            if item.model_id is None:
                report.skipped.append(f"{item.folder}: {item.problem}")
                continue
            try:
                outcome = _index_one(catalog, item)
                report.indexed += outcome == "indexed"
                report.unchanged += outcome == "unchanged"
            except UnsupportedFormatError as exc:
                catalog.record_failure(item.model_id, item.source, str(item.folder), "unsupported", str(exc))
                report.failed.append(Failure(model=item.model_id, status="unsupported", error=str(exc)))
            except (CheckpointError, OSError) as exc:
                catalog.record_failure(item.model_id, item.source, str(item.folder), "error", str(exc))
                report.failed.append(Failure(model=item.model_id, status="error", error=str(exc)))
        if prune:
            for source in {item.source for item in found}:
                report.pruned += catalog.prune(source, {i.model_id for i in found if i.model_id})
        _resolve_bases(catalog, methods[0], use_probes=embed)
        if embed:
            for name in methods:
                method = get_method(name)
                todo = stale(catalog, method)
                task = progress.add_task(f"delta activations ({name})", total=len(todo))

                def failed(row: dict, reason: str) -> None:
                    catalog.set_status(row["id"], "weights_only", f"Delta Activations: {reason}")
                    report.failed.append(Failure(model=row["id"], status="weights_only", error=reason))

                report.embedded[name] = embed_models(catalog, method, todo, failed,
                                                     lambda t=task: progress.advance(t))
        report.lineage_families = len(update_lineage(catalog))
        report.spaces = len(rebuild(catalog))
    report.seconds = round(time.perf_counter() - started, 3)
    return report
