"""`hubindex worker` (consume queues) and `hubindex jobs` (progress of queued runs)."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import click
from hubindex.cli.options import split_list
from hubindex.cli.output import Table, console, make_console
from rich.console import Group
from rich.live import Live


def _default_queues() -> str:
    from hubindex.pipeline.devices import cuda_available  # asks the CUDA driver: no torch in a routing worker

    return "cpu,gpu" if cuda_available() else "cpu"


@click.command()
@click.option("--queues", "queues_", multiple=True,
              help="Queues to consume: cpu (read + signature), gpu (Delta Activations, probe loss), ingest (the "
                   "catalog owner; needs --db). Default: cpu, plus gpu when CUDA is available.")
@click.option("--concurrency", type=click.IntRange(1), default=1, show_default=True,
              help="Task processes (1: tasks run in this process).")
@click.option("--db", type=click.Path(path_type=Path, dir_okay=False),
              help="Catalog file this worker owns (with --queues ingest).")
@click.option("--loglevel", default="warning", show_default=True)
def worker(queues_: tuple[str, ...], concurrency: int, db: Path | None, loglevel: str) -> None:
    """Consume indexing jobs from Redis (HUBINDEX_BROKER_URL)."""
    import os

    from hubindex.workers.app import CPU, GPU, INGEST, app, require_broker

    from hubindex.errors import HubindexError
    from hubindex.pipeline.stage import declared, stage

    require_broker()
    queues = split_list(queues_) or split_list((_default_queues(),))
    unknown = set(queues) - {CPU, GPU, INGEST}
    if unknown:
        raise click.BadParameter(f"unknown queue(s) {sorted(unknown)}; choose among cpu, gpu, ingest")
    if INGEST in queues and db is None:
        raise HubindexError("--queues ingest makes this worker the catalog owner: give its --db")
    stop, owner = threading.Event(), None
    if INGEST in queues:
        from hubindex.workers.ingest import run_owner

        from hubindex.catalog import Catalog

        catalog = Catalog(db)
        owner = threading.Thread(target=run_owner, args=(catalog, stop), name="catalog-owner", daemon=True)
    task_queues = [q for q in queues if q != INGEST]
    for ref in declared():  # before the pool forks, so its processes share them instead of each importing torch
        if ref.queue in task_queues:
            stage(ref.name)
    if not task_queues:  # the owner alone: run it here until SIGTERM / Ctrl-C
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        owner.start()
        while owner.is_alive():
            owner.join(0.5)
        catalog.close()
        return
    if owner is not None:
        from celery.signals import worker_ready, worker_shutdown

        worker_ready.connect(lambda **_: owner.start(), weak=False)  # after the pool forked its processes
        def shut_down(**_) -> None:
            stop.set()
            owner.join(30)
            catalog.close()

        worker_shutdown.connect(shut_down, weak=False)
    app.worker_main(["worker", "--queues", ",".join(task_queues), "--concurrency", str(concurrency),
                     "--pool", "solo" if concurrency == 1 else "prefork", "--loglevel", loglevel,
                     "--hostname", f"hubindex{os.getpid()}@%h", "--without-gossip", "--without-mingle"])


def _table(answer) -> Group:
    parts = []
    for run in answer.runs:
        table = Table("stage", "queued", "running", "done", "failed",
                      title=f"run {run.id[:8]}  {run.phase}  {', '.join(run.paths)}", title_justify="left")
        for stage in run.stages:
            table.add_row(stage.stage, str(stage.queued), str(stage.running), str(stage.done), str(stage.failed))
        if run.error:
            table.caption = f"error: {run.error}"
        parts.append(table)
    parts.append(f"waiting messages: {answer.queues}")
    return Group(*parts)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print progress as JSON (schemas/jobs).")
@click.option("--watch", is_flag=True, help="Live view, refreshed every second until every run has finished.")
@click.option("--limit", type=click.IntRange(1), default=10, show_default=True, help="Newest runs shown.")
def jobs(as_json: bool, watch: bool, limit: int) -> None:
    """Per-stage progress of queued indexing runs: queued, running, done, failed."""
    from hubindex.workers.state import client
    from hubindex.workers.state import jobs as snapshot

    r = client()
    if as_json:
        click.echo(snapshot(r, limit).model_dump_json(indent=2))
        return
    if not watch:
        console.print(_table(snapshot(r, limit)))
        return
    with Live(_table(snapshot(r, limit)), console=make_console(), refresh_per_second=2) as live:
        while True:
            answer = snapshot(r, limit)
            live.update(_table(answer))
            if all(run.phase in ("finished", "failed") for run in answer.runs):
                return
            time.sleep(1)
