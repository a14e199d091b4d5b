"""Run one job of an indexing run, anywhere: in the owner's process or on a stateless worker.

Nothing here opens the catalog: a job names folders and revisions, the result carries what the owner records.
Permanent problems (bad checkpoints, unsupported formats, hostile ids) come back as a failed Result; transient ones
(OSError and other connection trouble) are raised, so a queue worker can retry them with backoff. Any other exception
(a library choking on one model's files) is that model's failure too: one bad folder never stops a run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hubindex.checkpoint import ModelFolder
from hubindex.embed.methods import get_method
from hubindex.errors import HubindexError, UnsupportedFormatError
from hubindex.fingerprint import compute_signature
from hubindex.ids import validate_model_id
from hubindex.indexer.embedding import delta_activation, probe_loss, probe_model
from hubindex.indexer.jobs import (
    BasesJob,
    CrawlJob,
    EmbedJob,
    Fingerprinted,
    FingerprintJob,
    Job,
    ModelRow,
    Packed,
    Result,
    SignaturePayload,
)
from hubindex.indexer.metadata import declared_metadata, dominant_dtype

TRANSIENT = (OSError, ConnectionError, TimeoutError)
MAX_ERROR_CHARS = 1000


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


def embedding(job: EmbedJob) -> Packed:
    vector = delta_activation(get_method(job.method), job.model_id, job.folder, job.kind, job.applied_on, job.base,
                              job.base_folder, job.base_revision)
    return Packed.of(vector)


def execute(job: Job) -> Result:
    """Run a job; a permanent error becomes a failed Result, a transient one propagates (the caller retries)."""
    if isinstance(job, CrawlJob):
        from hubindex.hub import crawl_jobs

        return crawl_jobs.execute(job)
    try:
        if isinstance(job, FingerprintJob):
            return Result(stage="fingerprint", job=job.model_dump(), ok=True, fingerprint=fingerprint(job))
        if isinstance(job, BasesJob):
            return Result(stage="bases", job=job.model_dump(), ok=True, losses=base_losses(job))
        return Result(stage="embed", job=job.model_dump(), ok=True, vector=embedding(job))
    except HubindexError as exc:
        return failure(job, exc)
    except TRANSIENT:
        raise  # the caller retries (a queue worker) or records it (in-process)
    except Exception as exc:  # a library choking on one model's files (transformers, peft, torch) is that model's
        return failure(job, _unforeseen(exc))


def _unforeseen(exc: BaseException) -> HubindexError:
    return HubindexError(f"unexpected {type(exc).__name__} while reading this model: {exc}")


def failure(job: Job, exc: BaseException) -> Result:
    """A job that will not succeed: how its model's row records it."""
    if isinstance(job, CrawlJob):
        from hubindex.hub import crawl_jobs

        return crawl_jobs.failure(job, exc)
    if isinstance(job, FingerprintJob):
        status = "unsupported" if isinstance(exc, UnsupportedFormatError) else "error"
        return Result(stage="fingerprint", job=job.model_dump(), ok=False, status=status, error=_message(exc))
    if isinstance(job, BasesJob):
        return Result(stage="bases", job=job.model_dump(), ok=False, status="error", error=_message(exc))
    return Result(stage="embed", job=job.model_dump(), ok=False, status="weights_only", error=_message(exc))


def _message(exc: BaseException) -> str:
    """The recorded reason, bounded: a library's message may carry a large piece of what it was reading."""
    text = str(exc)
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + " [...]"
