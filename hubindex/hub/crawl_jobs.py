"""The `crawl` stage of a queued hub crawl (`crawl_run.CrawlRun`): the same stage functions as the in-process crawl.

The catalog owner lists the hub (`list_stage`) and skips commits crawled to a final outcome before; every changed
repo becomes a CrawlJob that any worker runs (`fingerprint_stage`: range reads, never the catalog) and whose
Fetched result travels back as JSON; the owner records it (`record_stage`) keyed on (repo id, sha) and runs
`finish_stage` once the last one is in.

Transient hub trouble (timeouts, dropped connections, 429/5xx that huggingface_hub's `http_backoff` still gets
after its own retries) raises TransientHubError out of `execute`. A queue worker retries the job with exponential
backoff (`workers.tasks.MAX_RETRIES`), then records an `error` outcome; a run driven in-process records the error
at once. Either way the commit is not final, so the next crawl lists and tries it again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel

from hubindex.catalog import Catalog
from hubindex.catalog.hub_rows import is_current
from hubindex.hub.partial import PartialResult
from hubindex.hub.remote_safetensors import Traffic
from hubindex.hub.repo_files import RepoFiles
from hubindex.hub.source import HubSource, go_online
from hubindex.hub.stages import CrawledModel, Fetched, Listed, fingerprint_stage, list_stage, record_stage
from hubindex.pipeline.payload import SignaturePayload
from hubindex.pipeline.run import Failure
from hubindex.pipeline.stage import BaseStage, Job, QueueName, Result, message, register
from hubindex.status import ModelStatus

if TYPE_CHECKING:
    from hubindex.hub.crawl_run import CrawlRun

FINAL = ("partial", "full")


class CrawlJob(Job):
    """Partial fingerprint of one listed repo commit by range reads (`hub.stages.fingerprint_stage`)."""

    stage: ClassVar[str] = "crawl"

    model_id: str
    sha: str | None
    endpoint: str
    listed: Listed

    @property
    def key(self) -> str:
        return f"crawl:{self.model_id}@{self.sha}"


class FetchedPayload(BaseModel):
    """A Fetched as JSON: the outcome, and the signature plus what the model row needs from the partial read."""

    outcome: CrawledModel
    signature: SignaturePayload | None = None
    config: dict = {}
    kind: str | None = None

    @classmethod
    def of(cls, fetched: Fetched) -> FetchedPayload:
        result = fetched.result
        if result is None:
            return cls(outcome=fetched.outcome)
        return cls(outcome=fetched.outcome, signature=SignaturePayload.of(result.signature), config=result.config,
                   kind=result.files.kind)

    def fetched(self) -> Fetched:
        if self.signature is None:
            return Fetched(outcome=self.outcome)
        files = RepoFiles(kind=self.kind, weights=[], index=None, config="")  # only its kind is recorded
        return Fetched(outcome=self.outcome, result=PartialResult(
            signature=self.signature.signature(), config=self.config, files=files,
            weight_bytes=self.outcome.bytes_total,
            traffic=Traffic(bytes=self.outcome.bytes_fetched, requests=self.outcome.requests)))


class CrawlResult(Result):
    stage: Literal["crawl"] = "crawl"
    job: CrawlJob
    crawled: FetchedPayload


def _source(endpoint: str) -> HubSource:
    go_online()  # a queued crawl is the command that asks for the hub (workers run offline for everything else)
    return HubSource(endpoint=endpoint)


class CrawlStage(BaseStage):
    name, job_type, result_type = "crawl", CrawlJob, CrawlResult
    queue: QueueName = "cpu"

    def plan(self, run: CrawlRun, catalog: Catalog) -> list[CrawlJob]:
        """List the hub; one job per repo whose listed commit was not crawled to a final outcome."""
        source = _source(run.request.endpoint)
        jobs: dict[str, CrawlJob] = {}
        for listed in list_stage(source, run.request.query):
            run.report.seen += 1
            if is_current(catalog, listed.id, listed.sha, source.endpoint):
                run.report.unchanged += 1
                continue
            job = CrawlJob(model_id=listed.id, sha=listed.sha, endpoint=source.endpoint, listed=listed)
            jobs.setdefault(job.key, job)
        return list(jobs.values())

    def execute(self, job: CrawlJob) -> CrawlResult:
        """A permanent problem (gated, missing, pickle-only, invalid id, bad file) is an outcome; transient hub
        trouble propagates (see the module's docstring)."""
        fetched = fingerprint_stage(_source(job.endpoint), job.listed.model_copy(deep=True))
        ok = fetched.outcome.status in FINAL
        return CrawlResult(job=job, ok=ok, crawled=FetchedPayload.of(fetched),
                           status=None if ok else fetched.outcome.status, error=fetched.outcome.reason)

    def failure(self, job: CrawlJob, exc: BaseException) -> CrawlResult:
        outcome = CrawledModel(id=job.model_id, sha=job.sha, status="error", reason=message(exc))
        return CrawlResult(job=job, ok=False, crawled=FetchedPayload(outcome=outcome), status=ModelStatus.ERROR,
                           error=outcome.reason)

    def record(self, run: CrawlRun, catalog: Catalog, result: CrawlResult) -> None:
        """Record one repo's outcome, unless this commit was recorded to a final outcome already."""
        job, fetched = result.job, result.crawled.fetched()
        outcome = fetched.outcome
        if outcome.id != job.model_id or outcome.sha != job.sha:
            raise ValueError(f"crawl result for {outcome.id}@{outcome.sha} under job {job.key}")
        if outcome.status in FINAL:
            run.report.indexed += 1
        else:
            run.report.failed.append(Failure(model=job.model_id, status=outcome.status, error=outcome.reason or ""))
        if not is_current(catalog, job.model_id, job.sha, job.endpoint):
            record_stage(catalog, job.endpoint, job.listed, fetched)


# Declared (name, queue, this name) in crawl_run.py.
CRAWL = register(CrawlStage())
