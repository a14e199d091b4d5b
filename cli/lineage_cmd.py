"""`hubindex lineage` and `hubindex parents`: lineage inferred from the weights."""

from __future__ import annotations

import json
from pathlib import Path

import click
from hubindex.cli.output import Table, console
from hubindex.cli.remote import db_or_api, fetch, model_path, need_db
from rich.table import Column
from rich.tree import Tree

STYLE = {"root": "bold", "finetune": "green", "adapter": "cyan", "merge": "magenta", "copy": "yellow",
         "quantized": "blue"}


def _label(model: str, relation: str, confidence: float) -> str:
    return f"[{STYLE.get(relation, '')}]{model}[/] {relation} ({confidence:.2f})"


@click.command()
@click.argument("model", required=False)
@db_or_api
@click.option("--json", "as_json", is_flag=True, help="JSON: every model (schemas/lineage), or MODEL's tree "
              "(schemas/lineage_tree).")
def lineage(model: str | None, db: Path | None, api: str | None, as_json: bool) -> None:
    """Parents and relation of every model, or the tree around MODEL (ancestors and descendants)."""
    from hubindex.catalog import Catalog
    from hubindex.lineage.answers import LineageEntry, LineageTree
    from hubindex.lineage.queries import entries, tree

    db = need_db(db, api)
    if db is None and model is not None:
        answer = fetch(api, model_path(model, "/lineage"), LineageTree)
    elif model is None:
        if db is None:
            found = fetch(api, "/lineage", list[LineageEntry])
        else:
            with Catalog(db, read_only=True) as catalog:
                found = entries(catalog)
        if as_json:
            click.echo(json.dumps([e.model_dump() for e in found], indent=2))
            return
        table = Table(Column("model", no_wrap=True), "relation", Column("parents", overflow="fold"),
                      "confidence", title="lineage")
        for e in found:
            table.add_row(e.model, e.relation, ", ".join(e.parents) or "-", f"{e.confidence:.2f}")
        console.print(table)
        return
    else:
        with Catalog(db, read_only=True) as catalog:
            answer = tree(catalog, model)
    if as_json:
        click.echo(answer.model_dump_json(indent=2))
        return
    top = Tree(f"[bold]{model}[/]")
    if answer.ancestors:
        up = top.add("ancestors")
        for e in answer.ancestors:
            up.add(_label(e.model, e.relation, e.confidence) + (f" <- {', '.join(e.parents)}" if e.parents else ""))
    down = top.add("descendants")

    def add(branch: Tree, node) -> None:
        for child in node.children:
            add(branch.add(_label(child.model, child.relation, child.confidence)), child)

    add(down, answer.descendants)
    console.print(top)


@click.command()
@click.argument("model")
@db_or_api
@click.option("-k", "k", type=int, default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (schemas/parents).")
def parents(model: str, db: Path | None, api: str | None, k: int, as_json: bool) -> None:
    """Ranked parent candidates of MODEL with scores and evidence (the chosen parents first)."""
    from hubindex.lineage.answers import ParentCandidate

    if need_db(db, api):
        from hubindex.catalog import Catalog
        from hubindex.lineage.queries import parents as query

        with Catalog(db, read_only=True) as catalog:
            found = query(catalog, model, k)
    else:
        found = fetch(api, model_path(model, "/parents"), list[ParentCandidate], {"k": k})
    if as_json:
        click.echo(json.dumps([c.model_dump() for c in found], indent=2))
        return
    table = Table("#", Column("candidate", no_wrap=True), "score", "distance", "allowed", Column("evidence",
                  overflow="fold"), title=f"parents of {model}")
    for rank, c in enumerate(found, 1):
        table.add_row(str(rank), c.model, f"{c.score:.3f}", "-" if c.distance is None else f"{c.distance:.4g}",
                      "yes" if c.allowed else "no", json.dumps(c.evidence)[:200])
    console.print(table)
