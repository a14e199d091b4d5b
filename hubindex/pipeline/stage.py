"""Stages and their registry: the one place that knows how a job of each type is planned, run and recorded.

A job names what to read (ids, paths, revisions), never tensors; a result carries what the owner of the catalog
records. Both are typed pydantic models, the same objects in-process and as queue messages. A stage registers
itself when its module is imported (`register`); the run kinds import the stages they use, and a worker imports the
run kinds it serves (`hubindex.workers.app`), so whoever holds a job or a result can find its stage here.

Errors: a permanent problem (bad checkpoint, unsupported format, hostile id) is a failed Result; a transient one
(OSError and other connection trouble) propagates from `execute`, so a queue worker can retry it with backoff. Any
other exception (a library choking on one model's files) is that model's failure too: one bad folder never stops
a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal, Protocol, TypeVar

from pydantic import BaseModel

from hubindex.errors import HubindexError
from hubindex.status import ModelStatus

if TYPE_CHECKING:
    from hubindex.catalog import Catalog
    from hubindex.pipeline.run import Run

TRANSIENT = (OSError, ConnectionError, TimeoutError)
MAX_ERROR_CHARS = 1000
QueueName = Literal["cpu", "gpu"]  # the worker queue a stage's jobs go to (`hubindex worker --queues`)


class Job(BaseModel):
    """One unit of work of a stage; `key` names it in a run's pending set (recording is idempotent per key)."""

    stage: ClassVar[str]

    @property
    def key(self) -> str:
        raise NotImplementedError

    @property
    def tally(self) -> str:
        """The per-stage count (`hubindex jobs`) this job adds to."""
        return self.stage


class Result(BaseModel):
    """What a job produced: a payload (in the stage's subclass), or why it failed for good (`status`)."""

    stage: str
    job: Job
    ok: bool
    status: ModelStatus | None = None  # on failure: how the model's row records it
    error: str | None = None


J = TypeVar("J", bound=Job)
R = TypeVar("R", bound=Result)


class Stage(Protocol[J, R]):
    """One kind of job: its types, its queue, how a run plans it, how it runs and fails, how the owner records it."""

    name: str
    job_type: type[J]
    result_type: type[R]
    queue: QueueName

    def tally(self, run: Run) -> str:
        """The per-stage count the phase `run` is entering adds to (`embed:<method>`, or the stage's name)."""
        ...

    def plan(self, run: Run, catalog: Catalog) -> list[J]:
        """The jobs of this phase of `run` (owner side; may read and write the catalog)."""
        ...

    def execute(self, job: J) -> R:
        """Run one job anywhere; never opens the catalog."""
        ...

    def failure(self, job: J, exc: BaseException) -> R:
        """A job that will not succeed, as the result the owner records."""
        ...

    def record(self, run: Run, catalog: Catalog, result: R) -> None:
        """Write one result into the catalog and the run's report (owner side)."""
        ...


class BaseStage:
    """What most stages share: their jobs add to a count named after the stage (a stage whose phases count apart,
    like `embed:<method>`, overrides `tally`)."""

    name: ClassVar[str]

    def tally(self, run: Run) -> str:
        return self.name


_STAGES: dict[str, Stage] = {}


def register(stage: Stage) -> Stage:
    if _STAGES.setdefault(stage.name, stage) is not stage:
        raise HubindexError(f"two stages named {stage.name!r}")
    return stage


def stage(name: str) -> Stage:
    try:
        return _STAGES[name]
    except KeyError:
        raise HubindexError(f"no {name!r} stage in this process (known: {', '.join(sorted(_STAGES))})") from None


def stages() -> list[Stage]:
    return list(_STAGES.values())


def parse_result(payload: object) -> Result:
    """A result as it arrived on the queue, validated by its stage's result type (ValueError when malformed)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("stage"), str):
        raise ValueError("a result names its stage")
    try:
        kind = stage(payload["stage"]).result_type
    except HubindexError as exc:
        raise ValueError(str(exc)) from None
    return kind.model_validate(payload)


def message(exc: BaseException) -> str:
    """The recorded reason, bounded: a library's message may carry a large piece of what it was reading."""
    text = str(exc)
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + " [...]"


def execute(job: Job) -> Result:
    """Run a job; a permanent error becomes a failed Result, a transient one propagates (the caller retries)."""
    runner = stage(job.stage)
    try:
        return runner.execute(job)
    except HubindexError as exc:
        return runner.failure(job, exc)
    except TRANSIENT:
        raise  # the caller retries (a queue worker) or records it (in-process)
    except Exception as exc:  # a library choking on one model's files (transformers, peft, torch) is that model's
        return runner.failure(job, HubindexError(f"unexpected {type(exc).__name__} while reading this model: {exc}"))


def failure(job: Job, exc: BaseException) -> Result:
    return stage(job.stage).failure(job, exc)
