"""Stages and their registry: the one place that knows how a job of each type is planned, run and recorded.

A job names what to read (ids, paths, revisions), never tensors; a result carries what the owner of the catalog
records. Both are typed pydantic models, the same objects in-process and as queue messages.

The registry is lazy: a run kind declares the stages it uses by name, queue and import path (`declare`), and the
stage's module is imported the first time a job of that stage is planned, run or recorded (`stage`). So a process
that only routes or watches jobs (`hubindex jobs`, a worker starting up, a metadata-only crawl) knows every stage
without importing torch and transformers, which the stage modules need (seconds of CPU and ~0.5 GB per process).
A stage module registers its stage object when imported (`register`).

Errors: a permanent problem (bad checkpoint, unsupported format, hostile id) is a failed Result; a transient one
(OSError and other connection trouble) propagates from `execute`, so a queue worker can retry it with backoff. Any
other exception (a library choking on one model's files) is that model's failure too: one bad folder never stops
a run.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, ClassVar, Literal, NamedTuple, Protocol, TypeVar

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


class StageRef(NamedTuple):
    """A declared stage: enough to route its jobs (name, queue) and to import it when one runs (`module:attr`)."""

    name: str
    queue: QueueName
    target: str


_DECLARED: dict[str, StageRef] = {}
_LOADED: dict[str, Stage] = {}


def declare(name: str, queue: QueueName, target: str) -> StageRef:
    """Make a stage known by name without importing it; `target` is `package.module:ATTRIBUTE`."""
    ref = StageRef(name, queue, target)
    known = _DECLARED.get(name)
    # A process may import a stage's module before the run kind that declares it (a spawned worker unpickling a
    # job): the placeholder `register` left then gives way to the declaration, if module and queue agree.
    if known is not None and known.target == f"{target.partition(':')[0]}:?" and known.queue == queue:
        known = None
    if known is not None and known != ref:
        raise HubindexError(f"two stages named {name!r}: {known.target} and {target}")
    _DECLARED[name] = ref
    return ref


def register(stage: Stage) -> Stage:
    """Called by the module that defines `stage`; its queue must be the one it was declared with."""
    ref = _DECLARED.get(stage.name)
    if ref is not None and ref.queue != stage.queue:
        raise HubindexError(f"stage {stage.name!r} declared on queue {ref.queue!r}, defined on {stage.queue!r}")
    if _LOADED.setdefault(stage.name, stage) is not stage:
        raise HubindexError(f"two stages named {stage.name!r}")
    _DECLARED.setdefault(stage.name, StageRef(stage.name, stage.queue, f"{type(stage).__module__}:?"))
    return stage


def stage(name: str) -> Stage:
    """The stage named `name`, importing its module on first use."""
    if name in _LOADED:
        return _LOADED[name]
    ref = _DECLARED.get(name)
    if ref is None:
        raise HubindexError(f"no {name!r} stage in this process (known: {', '.join(sorted(_DECLARED))})")
    module, _, attribute = ref.target.partition(":")
    loaded = getattr(importlib.import_module(module), attribute, None)
    if loaded is None or _LOADED.get(name) is not loaded:  # the module registered it, under the declared name
        raise HubindexError(f"stage {name!r}: {ref.target} is not the stage its module registered")
    return loaded


def declared() -> list[StageRef]:
    """Every stage this process knows, loaded or not (what a worker routes and makes tasks of)."""
    return list(_DECLARED.values())


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
