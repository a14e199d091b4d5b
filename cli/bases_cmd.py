"""`hubindex remeasure-bases`: the bases stage's facts of an indexed catalog's adapters, measured again."""

from __future__ import annotations

from pathlib import Path

import click
from hubindex.cli.options import DB_OPTION, split_list
from hubindex.cli.output import Table, console, err_console


@click.command("remeasure-bases")
@DB_OPTION
@click.option("--every", is_flag=True, help="Every adapter with several candidate bases, not only those without "
              "stored facts of their current revision.")
@click.option("--method", default="hubindex", show_default=True,
              help="Delta Activations recipe whose probes score a full model's candidate bases.")
@click.option("--adapter", "adapters", multiple=True,
              help="Only these adapters (repeat or comma-separate ids); default: all that qualify.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (schemas/remeasured_bases).")
def remeasure_bases(db: Path, every: bool, method: str, adapters: tuple[str, ...], as_json: bool) -> None:
    """Measure the adapters of an indexed catalog on their candidate bases again (the bases stage alone, on the
    model folders the catalog records) and store those facts, so that lineage updates decide their bases from
    them; then recompute the lineage of the families that changed. Nothing else is indexed again."""
    from hubindex.catalog import Catalog
    from hubindex.errors import HubindexError
    from hubindex.indexer.adapter_remeasure import remeasure_adapter_bases

    if not db.is_file():
        raise HubindexError(f"{db}: no such catalog")
    # One line per adapter as it is measured (minutes each): on stderr, so that --json's stdout stays JSON.
    progress = err_console if as_json else console
    with Catalog(db) as catalog:
        answer = remeasure_adapter_bases(
            catalog, method, every, only=set(split_list(adapters)) or None,
            done=lambda m, r: progress.print(f"{m}: {'measured' if r.ok else r.error}"))
    if as_json:
        click.echo(answer.model_dump_json(indent=2))
        return
    table = Table("adapter", "base before", "base now", "decided by", "alignment", title="adapter bases measured")
    for entry in sorted(answer.adapters, key=lambda e: e.adapter):
        table.add_row(entry.adapter, entry.base_before or "-", entry.base or "-", entry.decided_by or "-",
                      "-" if entry.alignment is None else f"{entry.alignment:.3f}")
    console.print(table)
    console.print(f"{answer.measured} adapters measured, {answer.failed} failed")
