"""One run as the catalog owner sees it: plan a phase's jobs, record their results, move to the next phase.

A run kind (a Run subclass: `indexer.run.IndexRun`, `hub.crawl_run.CrawlRun`) names its phases, each the name of
a declared stage (`embed:0` is the `embed` stage's first method), and its last step (`finish`). Only the owner of
the catalog calls these methods; the jobs themselves run anywhere (`stage.execute`). A Run is plain data, so the
queue path keeps it in Redis (`parse_run` reads it back as its kind) and a restarted owner picks it up.

Recording is idempotent, keyed on the job's key: a result for a job no longer pending (a duplicate delivery, an
older run's) changes nothing.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, Field

from hubindex.errors import HubindexError
from hubindex.pipeline.stage import Job, Result, stage
from hubindex.status import ModelStatus

if TYPE_CHECKING:
    from hubindex.catalog import Catalog


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

    @classmethod
    def empty(cls, db: str) -> IndexReport:
        return cls(db=db, seen=0, indexed=0, unchanged=0, failed=[], skipped=[], pruned=[], embedded={},
                   lineage_families=0, spaces=0, seconds=0.0)


class StageCount(BaseModel):
    total: int = 0
    done: int = 0
    failed: int = 0


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


RUN_KINDS: dict[str, type[Run]] = {}


class Run(BaseModel):
    kind: str
    id: str
    db: str
    paths: list[str]  # what the run reads: folders, or the hub's endpoint
    phase: str = "queued"  # queued | <stage>[:<i>] | finished | failed
    pending: set[str] = Field(default_factory=set)  # keys of jobs planned and not yet recorded
    stages: dict[str, StageCount] = Field(default_factory=dict)
    report: IndexReport
    error: str | None = None
    created_at: datetime = Field(default_factory=_now)
    finished_at: datetime | None = None
    work_seconds: float = 0.0  # owner time inside this run's phases (the in-process report's `seconds`)

    KIND: ClassVar[str]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        RUN_KINDS[cls.KIND] = cls

    @property
    def finished(self) -> bool:
        return self.phase in ("finished", "failed")

    def phases(self) -> list[str]:
        """The phases in order, each `<stage>` or `<stage>:<i>`."""
        raise NotImplementedError

    def finish(self, catalog: Catalog) -> None:
        """The last step, once every phase's jobs are recorded (lineage, FAISS spaces)."""
        raise NotImplementedError

    def start(self, catalog: Catalog) -> list[Job]:
        """Plan the first phase (moving on past phases with nothing to do)."""
        return self.advance(catalog)

    def advance(self, catalog: Catalog) -> list[Job]:
        """Once nothing is pending, move on; returns the next phase's jobs ([] once finished)."""
        while not self.pending and not self.finished:
            started = time.perf_counter()
            phases = self.phases()
            at = phases.index(self.phase) + 1 if self.phase in phases else 0
            jobs: list[Job] = []
            if at < len(phases):
                self.phase = phases[at]
                runner = stage(self.phase.split(":")[0])
                jobs = runner.plan(self, catalog)
                self.pending |= {job.key for job in jobs}
                self.stages.setdefault(runner.tally(self), StageCount()).total += len(jobs)
            else:
                self.finish(catalog)
                self.phase, self.finished_at = "finished", _now()
            self.work_seconds += time.perf_counter() - started
            if jobs:
                return jobs
        return []

    def record(self, catalog: Catalog, result: Result) -> bool:
        """Record a job's result; False when it is not pending (a duplicate delivery or an older run's)."""
        job = result.job
        if job.key not in self.pending:
            return False
        started = time.perf_counter()
        counts = self.stages.setdefault(job.tally, StageCount())
        counts.done += result.ok
        counts.failed += not result.ok
        stage(result.stage).record(self, catalog, result)
        self.pending.discard(job.key)
        self.work_seconds += time.perf_counter() - started
        return True


def parse_run(text: str) -> Run:
    """A run record (JSON) as its kind's class."""
    data = json.loads(text)
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in RUN_KINDS:
        raise HubindexError(f"a run of kind {kind!r}, which this process does not serve (known: "
                            f"{', '.join(sorted(RUN_KINDS))})")
    return RUN_KINDS[kind].model_validate(data)
