"""`hubindex crawl`: fingerprint a hub's models from range reads into the catalog."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import click
from hubindex.cli.options import DB_OPTION, split_list
from hubindex.cli.output import Table, console, progress_bars

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$", re.IGNORECASE)


def parse_size(value: str) -> int:
    match = _SIZE.match(value.strip())
    if not match:
        raise click.BadParameter(f"{value!r}: expected a size such as 500M, 20G or 1048576")
    return int(float(match.group(1)) * 1024 ** " KMGT".index(match.group(2).upper() or " "))


def parse_since(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected a date such as 2025-01-31 or 2025-01-31T12:00") from None


@click.command()
@DB_OPTION
@click.option("--endpoint", help="Hub URL (default: HF_ENDPOINT, else https://huggingface.co).")
@click.option("--author", help="Only this user's or organisation's models.")
@click.option("--base-model", help="Only models whose card declares this base (the hub's base_model:ID tag).")
@click.option("--search", help="Only models whose id contains this text.")
@click.option("--pipeline-tag", help="Only models with this pipeline tag, e.g. text-generation.")
@click.option("--library", help="Only models of this library, e.g. transformers or peft.")
@click.option("--limit", type=click.IntRange(min=1), help="List at most N models.")
@click.option("--since", help="Only models modified at or after this date (ISO 8601).")
@click.option("--full", is_flag=True, help="Also download whole checkpoints for Delta Activations (every listed "
                                         "repo that has only a partial signature, whichever crawl made it).")
@click.option("--metadata-only", is_flag=True, help="Only list and record metadata and card data (no weight read): "
                                                  "a page of up to 1,000 repos per request; resumes after a kill.")
@click.option("--cache", type=click.Path(path_type=Path, file_okay=False),
              help="Where --full downloads go (default: FILE.hub-cache/ beside the catalog).")
@click.option("--max-disk", help="Disk budget of --full downloads, e.g. 20G; models beyond it keep partial "
                                 "signatures.")
@click.option("--keep", is_flag=True, help="Keep --full downloads after fingerprinting (default: delete them).")
@click.option("--method", "methods", multiple=True, default=("hubindex",), show_default=True,
              help="Delta Activations recipe(s) for --full.")
@click.option("--queue", "queued", is_flag=True,
              help="Hand the crawl to the catalog owner and Celery workers (HUBINDEX_BROKER_URL) instead.")
@click.option("--wait", is_flag=True, help="With --queue: wait for the crawl to finish and print its progress.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the run report as JSON (schemas/crawl_report; with --queue: schemas/run_progress).")
def crawl(db: Path, endpoint: str | None, author: str | None, base_model: str | None, search: str | None,
          pipeline_tag: str | None, library: str | None, limit: int | None, since: str | None, full: bool,
          metadata_only: bool, cache: Path | None, max_disk: str | None, keep: bool, methods: tuple[str, ...],
          queued: bool, wait: bool, as_json: bool) -> None:
    """Crawl a hub: metadata first, weight signatures from HTTP range reads (about 1 % of the bytes).

    Honours HF_ENDPOINT, HF_TOKEN, HF_HUB_DOWNLOAD_TIMEOUT / HF_HUB_ETAG_TIMEOUT (read and connect timeouts of every
    request) and HF_HUB_OFFLINE (set by you, it stops the crawl; hubindex's own offline default for other commands
    does not apply here)."""
    from hubindex.embed.methods import get_method
    from hubindex.errors import HubindexError
    from hubindex.hub.crawl import crawl as run_crawl
    from hubindex.hub.full_fetch import FullFetchOptions
    from hubindex.hub.source import CrawlQuery, HubSource, go_online

    user_offline = click.get_current_context().find_root().meta.get("hubindex.user_offline")
    if user_offline and user_offline.strip().lower() not in ("0", "false", "no", "off"):
        raise HubindexError("HF_HUB_OFFLINE is set: crawling needs the hub (unset it to crawl)")
    go_online()  # hubindex's own offline default is for the other commands
    query = CrawlQuery(author=author, search=search, base_model=base_model, pipeline_tag=pipeline_tag,
                       library=library, limit=limit, since=parse_since(since) if since else None)
    if metadata_only and (full or queued):
        raise HubindexError("--metadata-only reads no weights: it cannot be combined with --full or --queue")
    if queued:
        if full:
            raise HubindexError("--full does not run on the queue yet: crawl --queue, then crawl --full in-process")
        _queue(db, HubSource(endpoint=endpoint).endpoint, query, wait, as_json)
        return
    options = None
    if full:
        chosen = split_list(methods) or ["hubindex"]
        for name in chosen:
            get_method(name)
        options = FullFetchOptions(cache=cache or db.with_name(db.name + ".hub-cache"),
                                   max_disk=parse_size(max_disk) if max_disk else None, keep=keep, methods=chosen)
    with progress_bars(enabled=not as_json) as progress:
        report = run_crawl(db, query, HubSource(endpoint=endpoint), options, progress=progress,
                           metadata_only=metadata_only)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
        return
    if report.metadata_only:
        resumed = f" (resumed after {report.resumed_from:,} recorded earlier)" if report.resumed_from else ""
        console.print(f"[bold]{report.listed:,}[/] listed at {report.endpoint}: metadata and card data recorded"
                      f"{resumed}; {report.seconds:.1f} s")
        return
    fraction = f"{report.fetched_fraction:.2%}" if report.fetched_fraction is not None else "-"
    console.print(f"[bold]{report.listed}[/] listed at {report.endpoint}: {report.fingerprinted} fingerprinted, "
                  f"{report.unchanged} unchanged, {len(report.problems)} problems; fetched "
                  f"{report.bytes_fetched:,} of {report.bytes_total:,} weight bytes ({fraction}); "
                  f"full fetch {len(report.full_fetched)} ({report.bytes_full:,} bytes), "
                  f"{len(report.over_budget)} over budget; {report.seconds:.1f} s")
    if report.problems:
        table = Table("model", "status", "reason", title="recorded problems")
        for problem in report.problems:
            table.add_row(problem.id, problem.status, problem.reason or "")
        console.print(table)


def _queue(db: Path, endpoint: str, query, wait: bool, as_json: bool) -> None:
    """Publish the crawl for the catalog owner, which lists the hub and hands one job per changed repo to `cpu`."""
    from hubindex.workers.ingest import submit_crawl, wait_for

    from hubindex.errors import HubindexError
    from hubindex.hub.crawl_run import CrawlRequest
    from hubindex.indexer.progress import progress_of

    run = submit_crawl(db, CrawlRequest(endpoint=endpoint, query=query))
    if wait:
        run = wait_for(run.id)
        if run.phase == "failed":
            raise HubindexError(f"crawl {run.id} failed: {run.error}")
    if as_json:
        click.echo(progress_of(run, set()).model_dump_json(indent=2))
    elif not wait:
        console.print(f"queued crawl {run.id} of {endpoint} for {db}; follow it with `hubindex jobs --watch`")
    else:
        report = run.report
        console.print(f"[bold]{report.seen}[/] listed at {endpoint}: {report.indexed} fingerprinted, "
                      f"{report.unchanged} unchanged, {len(report.failed)} problems; {report.seconds:.1f} s")
