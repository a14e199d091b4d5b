"""Indexing's stages (fingerprint, bases, embed), registered with the pipeline core (`hubindex.pipeline.stage`).

Each stage plans its jobs from an IndexRun and the catalog (owner side), runs one job anywhere (in the owner's
process or on a stateless worker; nothing there opens the catalog) and records the result (owner side). Recording
is idempotent, keyed on (model id, revision): a result for a folder that changed since, or for a revision the
catalog has moved past, changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from hubindex.catalog import Catalog
from hubindex.catalog.spaces import rebuild
from hubindex.checkpoint import ModelFolder
from hubindex.embed.methods import get_method
from hubindex.errors import UnsupportedFormatError
from hubindex.fingerprint import compute_signature
from hubindex.ids import validate_model_id
from hubindex.indexer import families
from hubindex.indexer.adapter_base import gradient_alignment, measured
from hubindex.indexer.assignment import Assignment
from hubindex.indexer.discover import discover
from hubindex.indexer.embedding import (
    applied_on,
    applied_state,
    delta_activation,
    embedding_base,
    probe_loss,
    probe_model,
    stale,
)
from hubindex.indexer.jobs import (
    BasesJob,
    BasesResult,
    EmbedJob,
    EmbedResult,
    Fingerprinted,
    FingerprintJob,
    FingerprintResult,
    ModelRow,
)
from hubindex.indexer.metadata import declared_metadata, dominant_dtype, file_stamp
from hubindex.lineage import adapter_choice
from hubindex.lineage.engine import update_lineage
from hubindex.lineage.ranked_parents import store_parent_candidates
from hubindex.pipeline.payload import Packed, SignaturePayload
from hubindex.pipeline.run import Failure
from hubindex.pipeline.stage import TRANSIENT, BaseStage, QueueName, message, register
from hubindex.status import BaseSource, ModelStatus

if TYPE_CHECKING:
    from hubindex.indexer.run import IndexRun

# Errors inserting one model's rows (a value out of a column's range): recorded as that model's failure. Disk and
# connection errors are not among them: they stop the run.
UNRECORDABLE = (duckdb.ConversionException, duckdb.InvalidInputException, duckdb.ConstraintException, ValueError,
                TypeError)
# Base sources decided by probes: kept per revision.
CHECKED = (BaseSource.PROBE_LOSS, BaseSource.DECLARED_CHECKED, BaseSource.GRADIENT)


# ---- fingerprint: read a checkpoint folder (locate + weight signature)
def fingerprint(job: FingerprintJob) -> Fingerprinted:
    validate_model_id(job.model_id)
    folder = ModelFolder.open(Path(job.folder))
    signature = compute_signature(folder)
    if job.revision:  # a cached hub snapshot goes by its commit, like a crawled repo
        signature.revision = signature.sha = job.revision
    row = {"id": job.model_id, "source": job.source, "path": job.folder, "file_stamp": job.stamp,
           "dtype": dominant_dtype(signature.dtypes), **declared_metadata(folder), "status": "indexed", "error": None}
    if row["created_at"] is None:
        row["created_at"] = datetime.fromtimestamp(min(f.path.stat().st_mtime for f in folder.files), UTC).replace(
            tzinfo=None)
    if folder.kind == "model" and folder.quantization:
        row["status"], row["error"] = "weights_only", (
            f"quantized checkpoint (quantization_config, quant_method {folder.quantization}): weights "
            "fingerprinted as stored; Delta Activations are not run on quantized models")
    elif folder.kind == "model" and (problem := folder.tokenizer_problem()):
        row["status"], row["error"] = "weights_only", problem
    return Fingerprinted(row=ModelRow(**row), signature=SignaturePayload.of(signature))


class FingerprintStage(BaseStage):
    name, job_type, result_type = "fingerprint", FingerprintJob, FingerprintResult
    queue: QueueName = "cpu"

    def plan(self, run: IndexRun, catalog: Catalog) -> list[FingerprintJob]:
        """Discover folders; a job for each one whose files changed since it was indexed."""
        jobs: dict[str, FingerprintJob] = {}
        for path in run.paths:
            for item in discover(path):
                run.report.seen += 1
                if item.model_id is None:
                    run.report.skipped.append(f"{item.folder}: {item.problem}")
                    continue
                run.sources.setdefault(item.source, []).append(item.model_id)
                try:
                    stamp = file_stamp(item.folder)
                except OSError as exc:
                    catalog.record_failure(item.model_id, item.source, str(item.folder), "error", str(exc))
                    run.report.failed.append(Failure(model=item.model_id, status="error", error=str(exc)))
                    continue
                previous = catalog.model(item.model_id)
                if previous and previous.file_stamp == stamp and previous.ok:
                    run.report.unchanged += 1
                    continue
                jobs.setdefault(item.model_id, FingerprintJob(model_id=item.model_id, source=item.source,
                                                              folder=str(item.folder), stamp=stamp,
                                                              revision=item.revision))
        return list(jobs.values())

    def execute(self, job: FingerprintJob) -> FingerprintResult:
        return FingerprintResult(job=job, ok=True, fingerprint=fingerprint(job))

    def failure(self, job: FingerprintJob, exc: BaseException) -> FingerprintResult:
        status = ModelStatus.UNSUPPORTED if isinstance(exc, UnsupportedFormatError) else ModelStatus.ERROR
        return FingerprintResult(job=job, ok=False, status=status, error=message(exc))

    def record(self, run: IndexRun, catalog: Catalog, result: FingerprintResult) -> None:
        job = result.job
        previous = catalog.model(job.model_id)
        if result.ok:
            found = result.fingerprint
            if not (previous and previous.file_stamp == job.stamp and previous.status == found.row.status
                    and previous.revision == found.signature.revision):
                try:
                    catalog.record_model(found.row.model_dump(), found.signature.signature())
                except UNRECORDABLE as exc:  # a value the catalog's columns cannot hold: this model's problem
                    result = result.model_copy(update={"ok": False, "status": ModelStatus.ERROR,
                                                       "error": f"cannot be recorded in the catalog ({exc})"[:1000]})
            if result.ok:
                run.report.indexed += 1
                return
        if not (previous and previous.file_stamp == job.stamp and previous.ok):
            catalog.record_failure(job.model_id, job.source, job.folder, result.status, result.error)
        run.report.failed.append(Failure(model=job.model_id, status=result.status, error=result.error))


# ---- bases: families from the weights; adapters with several possible bases scored by probe loss
def plan_bases(catalog: Catalog, method: str, probe: bool) -> list[BasesJob]:
    """Set every model's family and base that the weights decide; return probe-loss jobs for models with several
    candidate bases (`probe`), else take the weights' choice. Bases decided by probes earlier are kept."""
    jobs: list[BasesJob] = []
    for model_id, choice in families.assign(catalog).items():
        row = catalog.require(model_id)
        if choice.candidates and row.base_source in CHECKED and row.base in choice.candidates:
            continue  # decided on an earlier run for this revision
        if choice.candidates and probe:  # several possible bases: the one it models text best on
            jobs.append(bases_job(catalog, model_id, choice, method))
            continue
        catalog.set_base(model_id, choice.family, choice.base, choice.source)
    return jobs


def bases_job(catalog: Catalog, model_id: str, choice: Assignment, method: str) -> BasesJob:
    """The job that measures `model_id` on each of `choice.candidates` (their folders as the catalog has them)."""
    row = catalog.require(model_id)
    candidates = {c: catalog.require(c).path for c in choice.candidates}
    return BasesJob(model_id=model_id, revision=row.revision, folder=row.path, kind=row.kind, method=method,
                    candidates=candidates, family=choice.family, base=choice.base, source=choice.source,
                    scores=choice.scores)


def base_alignments(job: BasesJob) -> dict[str, list[float]]:
    """Gradient alignment of the adapter on each candidate with a local folder, on all passages then with each
    left out (adapter_base.gradient_alignment); the passages are chosen on the weights' choice, else the first
    candidate."""
    folders = {c: Path(f) for c, f in job.candidates.items() if f}
    if not folders or not job.folder:
        return {}
    select_on = job.base if job.base in folders else next(iter(folders))
    return gradient_alignment(Path(job.folder), folders, select_on)


def base_losses(job: BasesJob) -> dict[str, float]:
    """Probe loss of the model on each candidate base; candidates that do not load are left out."""
    probes = get_method(job.method).probes
    losses = {}
    for candidate, folder in job.candidates.items():
        try:
            losses[candidate] = probe_loss(probe_model(job.model_id, job.folder, job.kind, (candidate, folder)), probes)
        except TRANSIENT:
            raise
        except Exception:  # a candidate that does not load (for whatever reason) is not the base
            continue
    return losses


class BasesStage(BaseStage):
    name, job_type, result_type = "bases", BasesJob, BasesResult
    queue: QueueName = "gpu"

    def plan(self, run: IndexRun, catalog: Catalog) -> list[BasesJob]:
        if run.prune:  # every root is discovered: models whose folders are gone go before families are assigned
            for source, keep in run.sources.items():
                run.report.pruned += catalog.prune(source, set(keep))
        return plan_bases(catalog, run.methods[0], probe=run.embed)

    def execute(self, job: BasesJob) -> BasesResult:
        if job.kind == "adapter":
            aligned = {c: measured(a) for c, a in base_alignments(job).items()}
            return BasesResult(job=job, ok=True, alignments={c: a[0] for c, a in aligned.items()},
                               held_out={c: a[1] for c, a in aligned.items()},
                               simulated={c: a[2] for c, a in aligned.items()},
                               own={c: a[3] for c, a in aligned.items()})
        return BasesResult(job=job, ok=True, losses=base_losses(job))

    def failure(self, job: BasesJob, exc: BaseException) -> BasesResult:
        return BasesResult(job=job, ok=False, status=ModelStatus.ERROR, error=message(exc))

    def record(self, run: IndexRun, catalog: Catalog, result: BasesResult) -> None:
        record_bases(catalog, result)


def record_bases(catalog: Catalog, result: BasesResult) -> None:
    """A bases job's result into the catalog: the base decided (probe loss, or the gradient facts through
    `adapter_choice.decide`) and, for an adapter, the facts measured per candidate. Reads nothing of the run, so
    `adapter_remeasure` records through it too."""
    job = result.job
    choice = Assignment(job.family, job.base, job.source)
    losses = result.losses or {}
    if losses:
        declared = job.base if job.source == "declared" else None
        best = min(losses, key=lambda c: (losses[c], c != declared))
        choice = Assignment(job.family or best, best,
                            BaseSource.DECLARED_CHECKED if best == declared else BaseSource.PROBE_LOSS)
    facts = adapter_facts(job, result)
    if (aligned := adapter_choice.decide(facts)) is not None:
        best, margin = aligned
        chosen = catalog.model(best)
        choice = Assignment((chosen and chosen.family) or best, best, BaseSource.GRADIENT, margin=margin)
    row = catalog.model(job.model_id)
    if row and row.revision == job.revision:
        catalog.set_base(job.model_id, choice.family, choice.base, choice.source, choice.margin)
        if result.alignments:  # kept, so that the lineage update can decide again (adapter_choice.redecide)
            adapter_choice.store(catalog, job.model_id, job.revision, facts)


def adapter_facts(job: BasesJob, result: BasesResult) -> list[adapter_choice.Fact]:
    """Per candidate: the weights' scores that shortlisted it and the gradient alignments measured on it."""
    aligned, held_out, simulated = result.alignments or {}, result.held_out or {}, result.simulated or {}
    own = result.own or {}
    preferred = job.base if job.source == "weights" else None
    return [adapter_choice.Fact(c, c == preferred, *job.scores.get(c, (None, None)), aligned.get(c),
                                tuple(held_out[c]) if c in held_out else None, simulated.get(c),
                                tuple(own[c]) if c in own else None)
            for c in job.candidates]


# ---- embed: Delta Activations missing or stale, one method per phase (`embed:<i>`)
def embedding(job: EmbedJob) -> Packed:
    vector = delta_activation(get_method(job.method), job.model_id, job.folder, job.kind, job.applied_on, job.base,
                              job.base_folder, job.base_revision)
    return Packed.of(vector)


class EmbedStage(BaseStage):
    name, job_type, result_type = "embed", EmbedJob, EmbedResult
    queue: QueueName = "gpu"

    @staticmethod
    def _method(run: IndexRun) -> str:
        return get_method(run.methods[int(run.phase.split(":")[1])]).name

    def tally(self, run: IndexRun) -> str:
        return f"embed:{self._method(run)}"

    def plan(self, run: IndexRun, catalog: Catalog) -> list[EmbedJob]:
        method = self._method(run)
        run.report.embedded.setdefault(method, 0)
        jobs: list[EmbedJob] = []
        for row in stale(catalog, get_method(method)):
            base = catalog.require(embedding_base(row))
            applied = catalog.require(on) if (on := applied_on(catalog, row)) else None
            jobs.append(EmbedJob(model_id=row.id, revision=row.revision, folder=row.path, kind=row.kind,
                                 applied_on=(applied.id, applied.path) if applied else None,
                                 applied_revision=applied.revision if applied else None,
                                 method=method, base=base.id, base_revision=base.revision,
                                 base_folder=base.path))
        return jobs

    def execute(self, job: EmbedJob) -> EmbedResult:
        return EmbedResult(job=job, ok=True, vector=embedding(job))

    def failure(self, job: EmbedJob, exc: BaseException) -> EmbedResult:
        return EmbedResult(job=job, ok=False, status=ModelStatus.WEIGHTS_ONLY, error=message(exc))

    def record(self, run: IndexRun, catalog: Catalog, result: EmbedResult) -> None:
        job = result.job
        row, base = catalog.model(job.model_id), catalog.model(job.base)
        applied = (job.applied_on[0], job.applied_revision) if job.applied_on else None
        current = row is not None and base is not None and row.revision == job.revision \
            and embedding_base(row) == job.base and base.revision == job.base_revision \
            and applied_state(catalog, row) == applied
        if not current:
            return  # the model, its base or what it is applied on moved on while this ran: the next run embeds it
        if result.ok:
            catalog.save_embedding(job.model_id, job.method, job.revision, job.base, job.base_revision,
                                   result.vector.array(), get_method(job.method).recipe, applied=applied)
            run.report.embedded[job.method] = run.report.embedded.get(job.method, 0) + 1
            return
        catalog.set_status(job.model_id, "weights_only", f"Delta Activations: {result.error}")
        run.report.failed.append(Failure(model=job.model_id, status=ModelStatus.WEIGHTS_ONLY, error=result.error))


def finish(catalog: Catalog) -> tuple[int, int]:
    """A run's last step: lineage of the families that changed, then the FAISS spaces. (families, spaces)"""
    families = len(update_lineage(catalog))
    store_parent_candidates(catalog)
    return families, len(rebuild(catalog))


# Declared (name, queue, these names) in run.py.
FINGERPRINT, BASES, EMBED = register(FingerprintStage()), register(BasesStage()), register(EmbedStage())
