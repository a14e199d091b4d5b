"""Per-stage progress of indexing runs (`hubindex jobs`): counts from the owner's Run plus what workers report
running. Plain data; where the runs are kept (Redis for queued runs) is the caller's business."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from hubindex.pipeline.run import IndexReport, Run


class StageProgress(BaseModel):
    stage: str  # fingerprint | bases | embed:<method>
    queued: int
    running: int
    done: int
    failed: int


class RunProgress(BaseModel):
    id: str
    db: str
    paths: list[str]
    phase: str  # queued | fingerprint | bases | embed:<i> | finished | failed
    created_at: datetime
    finished_at: datetime | None
    stages: list[StageProgress]
    report: IndexReport
    error: str | None


class DeadLetter(BaseModel):
    """A message a worker or the catalog owner could not use (undecodable, foreign, malformed): acknowledged,
    kept here, never retried."""

    at: datetime
    queue: str
    receiver: str = Field(description="host:pid of the process that received it")
    reason: str
    sample: str = Field(description="the start of what arrived (at most 200 characters)")


class JobsAnswer(BaseModel):
    """`hubindex jobs --json`: every known run, newest first, the messages waiting on each queue, and the newest
    dead letters."""

    runs: list[RunProgress]
    queues: dict[str, int]
    dead_letters: list[DeadLetter] = Field(default_factory=list, description="newest first")
    dead_letter_total: int = Field(default=0, description="dead letters ever recorded on this broker")


def stage_of(key: str) -> str:
    """A job key's stage: `embed:<method>:<id>` -> `embed:<method>`, `fingerprint:<id>` -> `fingerprint`."""
    return key.rsplit(":", 1)[0]


def progress_of(run: Run, running: set[str]) -> RunProgress:
    busy = running & run.pending
    stages = []
    for stage, count in run.stages.items():
        now = sum(1 for key in busy if stage_of(key) == stage)
        stages.append(StageProgress(stage=stage, queued=count.total - count.done - count.failed - now, running=now,
                                    done=count.done, failed=count.failed))
    return RunProgress(id=run.id, db=run.db, paths=run.paths, phase=run.phase, created_at=run.created_at,
                       finished_at=run.finished_at, stages=stages, report=run.report, error=run.error)
