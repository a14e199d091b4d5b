"""The hub crawl as jobs of a queued `Run` (`hubindex crawl --queue`): the same stages as the in-process crawl.

The catalog owner lists the hub (`list_stage`) and skips commits crawled to a final outcome before; every changed
repo becomes a CrawlJob that any worker runs (`fingerprint_stage`: range reads, never the catalog) and whose
Fetched result travels back as JSON; the owner records it (`record_stage`) keyed on (repo id, sha) and runs
`finish_stage` once the last one is in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from hubindex.catalog import Catalog
from hubindex.catalog.hub_rows import is_current
from hubindex.hub.partial import PartialResult
from hubindex.hub.remote_safetensors import Traffic
from hubindex.hub.repo_files import RepoFiles
from hubindex.hub.source import HubSource, go_online
from hubindex.hub.stages import CrawledModel, Fetched, Listed, fingerprint_stage, list_stage, record_stage
from hubindex.indexer.jobs import CrawlJob, CrawlRequest, Result, SignaturePayload

if TYPE_CHECKING:
    from hubindex.indexer.run import Run

FINAL = ("partial", "full")


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


def _source(endpoint: str) -> HubSource:
    go_online()  # a queued crawl is the command that asks for the hub (workers run offline for everything else)
    return HubSource(endpoint=endpoint)


def plan(run: Run, catalog: Catalog, request: CrawlRequest) -> list[CrawlJob]:
    """List the hub; one job per repo whose listed commit was not crawled to a final outcome."""
    source = _source(request.endpoint)
    query = request.query
    jobs: dict[str, CrawlJob] = {}
    for listed in list_stage(source, query):
        run.report.seen += 1
        if is_current(catalog, listed.id, listed.sha, source.endpoint):
            run.report.unchanged += 1
            continue
        job = CrawlJob(model_id=listed.id, sha=listed.sha, endpoint=source.endpoint,
                       listed=listed.model_dump(mode="json"))
        jobs.setdefault(job.key, job)
    return list(jobs.values())


def execute(job: CrawlJob) -> Result:
    """Run on a worker: a permanent problem (gated, missing, pickle-only, invalid id, bad file) is an outcome;
    transient connection trouble beyond huggingface_hub's own retries propagates for the task's backoff."""
    fetched = fingerprint_stage(_source(job.endpoint), Listed.model_validate(job.listed))
    ok = fetched.outcome.status in FINAL
    return Result(stage="crawl", job=job.model_dump(), ok=ok, crawled=FetchedPayload.of(fetched).model_dump(),
                  status=None if ok else fetched.outcome.status, error=fetched.outcome.reason)


def failure(job: CrawlJob, exc: BaseException) -> Result:
    outcome = CrawledModel(id=job.model_id, sha=job.sha, status="error", reason=str(exc))
    return Result(stage="crawl", job=job.model_dump(), ok=False, crawled=FetchedPayload(outcome=outcome).model_dump(),
                  status="error", error=str(exc))


def record(run: Run, catalog: Catalog, job: CrawlJob, result: Result) -> None:
    """Record one repo's outcome, unless this commit was recorded to a final outcome already."""
    from hubindex.indexer.run import Failure

    fetched = FetchedPayload.model_validate(result.crawled).fetched()
    if fetched.outcome.id != job.model_id or fetched.outcome.sha != job.sha:
        raise ValueError(f"crawl result for {fetched.outcome.id}@{fetched.outcome.sha} under job {job.key}")
    outcome = fetched.outcome
    if outcome.status in FINAL:
        run.report.indexed += 1
    else:
        run.report.failed.append(Failure(model=job.model_id, status=outcome.status, error=outcome.reason or ""))
    if not is_current(catalog, job.model_id, job.sha, job.endpoint):
        record_stage(catalog, job.endpoint, Listed.model_validate(job.listed), fetched)
