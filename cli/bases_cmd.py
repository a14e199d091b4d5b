"""`hubindex remeasure-bases`: the bases stage's facts of an indexed catalog's adapters, measured again."""

from __future__ import annotations

from pathlib import Path

import click
from hubindex.cli.options import DB_OPTION
from hubindex.cli.output import Table, console


@click.command("remeasure-bases")
@DB_OPTION
@click.option("--every", is_flag=True, help="Every adapter with several candidate bases, not only those without "
              "stored facts of their current revision.")
@click.option("--method", default="hubindex", show_default=True,
              help="Delta Activations recipe whose probes score a full model's candidate bases.")
def remeasure_bases(db: Path, every: bool, method: str) -> None:
    """Measure the adapters of an indexed catalog on their candidate bases again (the bases stage alone, on the
    model folders the catalog records) and store those facts, so that lineage updates decide their bases from
    them; then recompute the lineage of the families that changed. Nothing else is indexed again."""
    from hubindex.catalog import Catalog
    from hubindex.errors import HubindexError
    from hubindex.indexer.adapter_remeasure import remeasure_adapter_bases

    if not db.is_file():
        raise HubindexError(f"{db}: no such catalog")
    with Catalog(db) as catalog:
        before = {r["id"]: r["base"] for r in catalog.models() if r["kind"] == "adapter"}
        results = remeasure_adapter_bases(
            catalog, method, every, done=lambda m, r: console.print(f"{m}: {'measured' if r.ok else r.error}"))
        after = {r["id"]: (r["base"], r["base_source"], r["base_alignment"]) for r in catalog.models()
                 if r["id"] in results}
    table = Table("adapter", "base before", "base now", "decided by", "alignment", title="adapter bases measured")
    for model_id, (base, source, alignment) in sorted(after.items()):
        table.add_row(model_id, before.get(model_id) or "-", base or "-", source or "-",
                      "-" if alignment is None else f"{alignment:.3f}")
    console.print(table)
    console.print(f"{len(results)} adapters measured, {sum(not r.ok for r in results.values())} failed")
