"""`hubindex index` and `hubindex reindex`: fill the catalog from local folders, rebuild its FAISS indexes."""

from __future__ import annotations

from pathlib import Path

import click
from hubindex.cli.options import DB_OPTION, split_list
from hubindex.cli.output import Table, console, progress_bars


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, file_okay=False))
@DB_OPTION
@click.option("--method", "methods", multiple=True, default=("hubindex",), show_default=True,
              help="Delta Activations recipe(s): hubindex (default) and/or paper; comma-separated or repeated.")
@click.option("--no-embed", is_flag=True, help="Weight signatures only, no Delta Activations.")
@click.option("--prune", is_flag=True, help="Remove catalog models of these roots whose folders are gone.")
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON (schemas/index_report).")
@click.option("--queue", "queued", is_flag=True,
              help="Hand the run to the workers (HUBINDEX_BROKER_URL); the catalog owner plans and records it.")
@click.option("--wait", is_flag=True, help="With --queue: wait for the run to finish and print its report.")
def index(paths: tuple[Path, ...], db: Path, methods: tuple[str, ...], no_embed: bool, prune: bool,
          as_json: bool, queued: bool, wait: bool) -> None:
    """Index model folders: PATH is a Hugging Face cache, a hub-like root (PATH/org/name/) or one model folder.

    With no PATH, the Hugging Face cache ($HF_HUB_CACHE, else ~/.cache/huggingface/hub)."""
    from hubindex.embed.methods import get_method
    from hubindex.errors import HubindexError

    if not paths:
        from hubindex.indexer.discover import hf_cache_dir  # checkpoint/ (torch): not for `--queue PATH`

        cache = hf_cache_dir()
        if not cache.is_dir():
            raise HubindexError(f"no Hugging Face cache at {cache} (set HF_HUB_CACHE, or give a PATH to index)")
        paths = (cache,)

    chosen = split_list(methods) or ["hubindex"]
    for name in chosen:
        get_method(name)
    if queued:
        report = _queue(db, paths, chosen, not no_embed, prune, as_json, wait)
        if report is None:
            return
    else:
        from hubindex.indexer.pipeline import index_paths  # the stages load as their first job runs

        with progress_bars(enabled=not as_json) as progress:
            report = index_paths(db, list(paths), chosen, embed=not no_embed, prune=prune, progress=progress)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
        return
    console.print(f"[bold]{report.seen}[/] folders: {report.indexed} indexed, {report.unchanged} unchanged, "
                  f"{len(report.failed)} problems, {len(report.pruned)} pruned; embedded {report.embedded}; "
                  f"lineage recomputed for {report.lineage_families} families; {report.spaces} FAISS spaces; "
                  f"{report.seconds:.1f} s")
    if report.failed or report.skipped:
        table = Table("model", "status", "reason", title="recorded problems")
        for failure in report.failed:
            table.add_row(failure.model, failure.status, failure.error)
        for skipped in report.skipped:
            table.add_row("-", "skipped", skipped)
        console.print(table)


def _queue(db: Path, paths: tuple[Path, ...], methods: list[str], embed: bool, prune: bool, as_json: bool,
           wait: bool):
    from hubindex.workers.ingest import submit, wait_for

    from hubindex.errors import HubindexError
    from hubindex.indexer.progress import progress_of

    for path in paths:
        if not path.is_dir():
            raise HubindexError(f"{path}: no such directory")
    run = submit(db, list(paths), methods, embed=embed, prune=prune)
    if not wait:
        if as_json:
            click.echo(progress_of(run, set()).model_dump_json(indent=2))
        else:
            console.print(f"queued run {run.id} for {db}; follow it with `hubindex jobs --watch`")
        return None
    done = wait_for(run.id)
    if done.phase == "failed":
        raise HubindexError(f"run {run.id} failed: {done.error}")
    return done.report


@click.command()
@DB_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the spaces rebuilt as JSON (schemas/reindexed).")
def reindex(db: Path, as_json: bool) -> None:
    """Apply pending catalog migrations and rebuild every FAISS index from the catalog tables."""
    from hubindex.catalog import Catalog
    from hubindex.catalog.answers import Reindexed
    from hubindex.catalog.spaces import rebuild

    with Catalog(db) as catalog:
        spaces = rebuild(catalog)
    if as_json:
        click.echo(Reindexed(db=str(db), spaces_dir=str(catalog.spaces_dir), spaces=spaces,
                             vectors=sum(spaces.values())).model_dump_json(indent=2))
        return
    console.print(f"rebuilt {len(spaces)} FAISS spaces ({sum(spaces.values())} vectors) in {catalog.spaces_dir}")
