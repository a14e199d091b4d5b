"""One indexing run as the catalog owner sees it: plan jobs, record their results, move to the next phase.

Phases: fingerprint (changed folders) -> bases (families; adapters with several possible bases are scored by probe
loss) -> embed:<method> (Delta Activations missing or stale, one method after the other) -> lineage and FAISS
rebuild -> finished. Only the owner of the catalog calls these functions; the jobs themselves run anywhere
(`stages.execute`). A Run is plain data, so the queue path keeps it in Redis and a restarted owner picks it up.

Recording is idempotent, keyed on (model id, revision): a result for a job no longer pending, for a folder that
changed since, or for a revision the catalog has moved past changes nothing.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from pydantic import BaseModel, Field

from hubindex.catalog import Catalog
from hubindex.catalog.spaces import rebuild
from hubindex.embed.methods import get_method
from hubindex.indexer import families
from hubindex.indexer.assignment import Assignment
from hubindex.indexer.discover import discover
from hubindex.indexer.embedding import embedding_base, stale
from hubindex.indexer.jobs import BasesJob, CrawlJob, CrawlRequest, EmbedJob, FingerprintJob, Job, Result
from hubindex.indexer.metadata import file_stamp
from hubindex.lineage.engine import update_lineage
from hubindex.status import OK_STATUSES, ModelStatus

# Errors inserting one model's rows (a value out of a column's range): recorded as that model's failure. Disk and
# connection errors are not among them: they stop the run.
UNRECORDABLE = (duckdb.ConversionException, duckdb.InvalidInputException, duckdb.ConstraintException, ValueError,
                TypeError)
CHECKED = ("probe-loss", "declared-checked")  # base sources decided by probe loss, kept per revision


class Failure(BaseModel):
    model: str
    status: ModelStatus
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


class StageCount(BaseModel):
    total: int = 0
    done: int = 0
    failed: int = 0


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Run(BaseModel):
    id: str
    db: str
    paths: list[str]
    methods: list[str]
    embed: bool = True
    prune: bool = False
    crawl: CrawlRequest | None = None  # a hub crawl (`crawl --queue`) instead of folders to index
    phase: str = "queued"  # queued | fingerprint | bases | embed:<i> | crawl | finished | failed
    pending: set[str] = Field(default_factory=set)  # keys of jobs planned and not yet recorded
    sources: dict[str, list[str]] = Field(default_factory=dict)  # ids found per root (for --prune)
    stages: dict[str, StageCount] = Field(default_factory=dict)
    report: IndexReport
    error: str | None = None
    created_at: datetime = Field(default_factory=_now)
    finished_at: datetime | None = None
    work_seconds: float = 0.0  # owner time inside this run's phases (the in-process report's `seconds`)

    @classmethod
    def new(cls, run_id: str, db: Path, paths: list[Path], methods: list[str], embed: bool = True,
            prune: bool = False) -> Run:
        report = IndexReport(db=str(db), seen=0, indexed=0, unchanged=0, failed=[], skipped=[], pruned=[],
                             embedded={}, lineage_families=0, spaces=0, seconds=0.0)
        return cls(id=run_id, db=str(db), paths=[str(p) for p in paths], methods=methods, embed=embed, prune=prune,
                   report=report)

    @property
    def finished(self) -> bool:
        return self.phase in ("finished", "failed")

    def _planned(self, stage: str, jobs: list[Job]) -> list[Job]:
        self.pending |= {job.key for job in jobs}
        self.stages.setdefault(stage, StageCount()).total += len(jobs)
        return jobs

    # ---- phases
    @classmethod
    def new_crawl(cls, run_id: str, db: Path, request: CrawlRequest) -> Run:
        return cls.new(run_id, db, [], [], embed=False).model_copy(update={"crawl": request,
                                                                            "paths": [request.endpoint]})

    def start(self, catalog: Catalog) -> list[Job]:
        """Discover folders and plan a fingerprint job for each one whose files changed (for a crawl: list the hub
        and plan a crawl job for each repo whose commit changed)."""
        if self.crawl is not None:
            from hubindex.hub import crawl_jobs

            self.phase = "crawl"
            return self._planned("crawl", crawl_jobs.plan(self, catalog, self.crawl))
        self.phase = "fingerprint"
        jobs: dict[str, FingerprintJob] = {}
        for path in self.paths:
            for item in discover(path):
                self.report.seen += 1
                if item.model_id is None:
                    self.report.skipped.append(f"{item.folder}: {item.problem}")
                    continue
                self.sources.setdefault(item.source, []).append(item.model_id)
                try:
                    stamp = file_stamp(item.folder)
                except OSError as exc:
                    catalog.record_failure(item.model_id, item.source, str(item.folder), "error", str(exc))
                    self.report.failed.append(Failure(model=item.model_id, status="error", error=str(exc)))
                    continue
                previous = catalog.model(item.model_id)
                if previous and previous["file_stamp"] == stamp and previous["status"] in OK_STATUSES:
                    self.report.unchanged += 1
                    continue
                jobs.setdefault(item.model_id, FingerprintJob(model_id=item.model_id, source=item.source,
                                                              folder=str(item.folder), stamp=stamp,
                                                              revision=item.revision))
        return self._planned("fingerprint", list(jobs.values()))

    def advance(self, catalog: Catalog) -> list[Job]:
        """Once nothing is pending, move on; returns the next phase's jobs ([] once finished)."""
        while not self.pending and not self.finished:
            started = time.perf_counter()
            jobs: list[Job] = []
            if self.phase == "crawl":  # the in-process crawl's finish_stage: bases from weights, no probes
                from hubindex.hub.stages import finish_stage

                self.report.lineage_families, self.report.spaces = finish_stage(catalog)
                self.phase, self.finished_at = "finished", _now()
            elif self.phase == "fingerprint":
                if self.prune:
                    for source, keep in self.sources.items():
                        self.report.pruned += catalog.prune(source, set(keep))
                self.phase = "bases"
                jobs = self._plan_bases(catalog)
            elif self.phase == "bases" and self.embed:
                self.phase = "embed:0"
                jobs = self._plan_embed(catalog, self.methods[0])
            elif self.phase.startswith("embed:") and int(self.phase[6:]) + 1 < len(self.methods):
                self.phase = f"embed:{int(self.phase[6:]) + 1}"
                jobs = self._plan_embed(catalog, self.methods[int(self.phase[6:])])
            else:
                self.report.lineage_families, self.report.spaces = finish(catalog)
                self.phase, self.finished_at = "finished", _now()
            self.work_seconds += time.perf_counter() - started
            if jobs:
                return jobs
        return []

    def _plan_bases(self, catalog: Catalog) -> list[Job]:
        return self._planned("bases", plan_bases(catalog, self.methods[0], probe=self.embed))

    def _plan_embed(self, catalog: Catalog, method_name: str) -> list[Job]:
        method = get_method(method_name)
        self.report.embedded.setdefault(method.name, 0)
        jobs: list[Job] = []
        for row in stale(catalog, method):
            base = catalog.require(embedding_base(row))
            applied = catalog.applied_base(row) if row["kind"] == "adapter" else None
            jobs.append(EmbedJob(model_id=row["id"], revision=row["revision"], folder=row["path"], kind=row["kind"],
                                 applied_on=(applied, catalog.require(applied)["path"]) if applied else None,
                                 method=method.name, base=base["id"], base_revision=base["revision"],
                                 base_folder=base["path"]))
        return self._planned(f"embed:{method.name}", jobs)

    # ---- results
    def record(self, catalog: Catalog, result: Result) -> bool:
        """Record a job's result; False when it is not pending (a duplicate delivery or an older run's)."""
        job = result.job_obj()
        if job.key not in self.pending:
            return False
        started = time.perf_counter()
        stage = f"embed:{job.method}" if isinstance(job, EmbedJob) else result.stage
        counts = self.stages.setdefault(stage, StageCount())
        counts.done += result.ok
        counts.failed += not result.ok
        if isinstance(job, CrawlJob):
            from hubindex.hub import crawl_jobs

            crawl_jobs.record(self, catalog, job, result)
        elif isinstance(job, FingerprintJob):
            self._record_fingerprint(catalog, job, result)
        elif isinstance(job, BasesJob):
            self._record_base(catalog, job, result)
        else:
            self._record_embedding(catalog, job, result)
        self.pending.discard(job.key)
        self.work_seconds += time.perf_counter() - started
        return True

    def _record_fingerprint(self, catalog: Catalog, job: FingerprintJob, result: Result) -> None:
        previous = catalog.model(job.model_id)
        if result.ok:
            found = result.fingerprint
            if not (previous and previous["file_stamp"] == job.stamp and previous["status"] == found.row.status
                    and previous["revision"] == found.signature.revision):
                try:
                    catalog.record_model(found.row.model_dump(), found.signature.signature())
                except UNRECORDABLE as exc:  # a value the catalog's columns cannot hold: this model's problem
                    result = result.model_copy(update={"ok": False, "status": "error",
                                                       "error": f"cannot be recorded in the catalog ({exc})"[:1000]})
            if result.ok:
                self.report.indexed += 1
                return
        if not (previous and previous["file_stamp"] == job.stamp and previous["status"] in OK_STATUSES):
            catalog.record_failure(job.model_id, job.source, job.folder, result.status, result.error)
        self.report.failed.append(Failure(model=job.model_id, status=result.status, error=result.error))

    def _record_base(self, catalog: Catalog, job: BasesJob, result: Result) -> None:
        choice = Assignment(job.family, job.base, job.source)
        losses = result.losses or {}
        if losses:
            declared = job.base if job.source == "declared" else None
            best = min(losses, key=lambda c: (losses[c], c != declared))
            choice = Assignment(job.family or best, best,
                                         "declared-checked" if best == declared else "probe-loss")
        row = catalog.model(job.model_id)
        if row and row["revision"] == job.revision:
            catalog.set_base(job.model_id, choice.family, choice.base, choice.source)

    def _record_embedding(self, catalog: Catalog, job: EmbedJob, result: Result) -> None:
        row, base = catalog.model(job.model_id), catalog.model(job.base)
        current = row is not None and base is not None and row["revision"] == job.revision \
            and embedding_base(row) == job.base and base["revision"] == job.base_revision
        if not current:
            return  # the model or its base moved on while this ran: the next run embeds the new revision
        if result.ok:
            catalog.save_embedding(job.model_id, job.method, job.revision, job.base, job.base_revision,
                                   result.vector.array())
            self.report.embedded[job.method] = self.report.embedded.get(job.method, 0) + 1
            return
        catalog.set_status(job.model_id, "weights_only", f"Delta Activations: {result.error}")
        self.report.failed.append(Failure(model=job.model_id, status="weights_only", error=result.error))


def plan_bases(catalog: Catalog, method: str, probe: bool) -> list[BasesJob]:
    """Set every model's family and base that the weights decide; return probe-loss jobs for models with several
    candidate bases (`probe`), else take the weights' choice. Bases decided by probes earlier are kept."""
    jobs: list[BasesJob] = []
    for model_id, choice in families.assign(catalog).items():
        row = catalog.require(model_id)
        if choice.candidates and row["base_source"] in CHECKED and row["base"] in choice.candidates:
            continue  # decided on an earlier run for this revision
        if choice.candidates and probe:  # several possible bases: the one it models text best on
            candidates = {c: catalog.require(c)["path"] for c in choice.candidates}
            jobs.append(BasesJob(model_id=model_id, revision=row["revision"], folder=row["path"],
                                 kind=row["kind"], method=method, candidates=candidates, family=choice.family,
                                 base=choice.base, source=choice.source))
            continue
        catalog.set_base(model_id, choice.family, choice.base, choice.source)
    return jobs


def finish(catalog: Catalog) -> tuple[int, int]:
    """A run's last step: lineage of the families that changed, then the FAISS spaces. (families, spaces)"""
    return len(update_lineage(catalog)), len(rebuild(catalog))
