"""`hubindex similar` and `hubindex show`: read-only queries on the catalog."""

from __future__ import annotations

import json
from pathlib import Path

import click
from hubindex.cli.options import DB_OPTION
from hubindex.cli.output import Table, console
from hubindex.cli.remote import db_or_api, fetch, model_path, need_db
from pydantic import ValidationError
from rich.table import Column

from hubindex.errors import HubindexError


@click.command()
@click.argument("model")
@db_or_api
@click.option("-k", "k", type=int, default=10, show_default=True)
@click.option("--by", type=click.Choice(["delta", "weights"]), default="delta", show_default=True,
              help="delta: Delta Activations (what it was tuned for); weights: weight-space distance.")
@click.option("--method", default="hubindex", show_default=True, help="Delta Activations recipe (with --by delta).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (schemas/similar).")
def similar(model: str, db: Path | None, api: str | None, k: int, by: str, method: str, as_json: bool) -> None:
    """Models closest to MODEL, best first (MODEL itself excluded)."""
    from hubindex.catalog.answers import SimilarHit

    if need_db(db, api):
        from hubindex.catalog import Catalog
        from hubindex.catalog.queries import similar as query

        with Catalog(db, read_only=True) as catalog:
            hits = query(catalog, model, k, by, method)
    else:
        hits = fetch(api, model_path(model, "/similar"), list[SimilarHit], {"k": k, "by": by, "method": method})
    if as_json:
        click.echo(json.dumps([h.model_dump() for h in hits], indent=2))
        return
    table = Table("#", Column("model", no_wrap=True), "score", "distance", Column("family", overflow="fold"), "kind",
                  title=f"closest to {model} by {by}")
    for rank, hit in enumerate(hits, 1):
        table.add_row(str(rank), hit.model, f"{hit.score:.4f}", f"{hit.distance:.4g}", hit.family or "-",
                      hit.kind or "-")
    console.print(table)


@click.command()
@click.argument("model")
@DB_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON (schemas/model_view).")
def show(model: str, db: Path, as_json: bool) -> None:
    """Everything the catalog holds about MODEL."""
    from hubindex.catalog import Catalog
    from hubindex.catalog.queries import show as query

    with Catalog(db, read_only=True) as catalog:
        view = query(catalog, model)
    if as_json:
        click.echo(view.model_dump_json(indent=2))
        return
    table = Table(show_header=False, title=view.id)
    for key in ("status", "error", "kind", "architecture", "model_type", "params", "dtype", "revision", "layout",
                "family", "base", "base_source", "created_at", "samples"):
        value = getattr(view, key)
        if value is not None:
            table.add_row(key, str(value))
    table.add_row("declared", view.declared.model_dump_json(exclude_none=True))
    table.add_row("tags", ", ".join(view.tags) or "-")
    table.add_row("files", ", ".join(f"{f.name} ({f.bytes:,} B)" for f in view.files) or "-")
    table.add_row("embeddings", ", ".join(f"{e.method} (dim {e.dim}, |d|={e.norm:.3g})" for e in view.embeddings)
                  or "-")
    console.print(table)


@click.command()
@click.argument("query", required=False)
@db_or_api
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--examples", "examples_file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Search by a task instead: a JSON array (or JSON lines) of {\"input\", \"output\"} examples, "
              "embedded against --base like a model (POST /search/examples); prints schemas/examples_search.")
@click.option("--base", help="With --examples: the family root (base model) to embed the examples against.")
@click.option("--method", default="hubindex", show_default=True, help="With --examples: Delta Activations recipe.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (schemas/search).")
def search(query: str | None, db: Path | None, api: str | None, limit: int, examples_file: Path | None,
           base: str | None, method: str, as_json: bool) -> None:
    """Models whose id, tags or card text contain every word of QUERY, best first; or, with --examples FILE and
    --base ROOT, the --limit models nearest to the task the examples show."""
    from hubindex.catalog.answers import SearchHit

    if (query is None) == (examples_file is None):
        raise click.UsageError("give QUERY or --examples FILE (with --base)")
    if examples_file is not None:
        search_by_examples(examples_file, base, db, api, limit, method, as_json)
        return
    if need_db(db, api):
        from hubindex.catalog import Catalog
        from hubindex.catalog.browse import search as run

        with Catalog(db, read_only=True) as catalog:
            hits = run(catalog, query, limit)
    else:
        hits = fetch(api, "/search", list[SearchHit], {"q": query, "limit": limit})
    if as_json:
        click.echo(json.dumps([h.model_dump(mode="json") for h in hits], indent=2))
        return
    table = Table("#", Column("model", no_wrap=True), "score", "matched", "kind", Column("snippet", overflow="fold"),
                  title=f"search: {query}")
    for rank, hit in enumerate(hits, 1):
        table.add_row(str(rank), hit.model.id, f"{hit.score:g}", ", ".join(hit.matched), hit.model.kind or "-",
                      hit.snippet or "-")
    console.print(table)


@click.command("merge-candidates")
@click.argument("model")
@db_or_api
@click.option("-k", "k", type=int, default=10, show_default=True)
@click.option("--method", default="hubindex", show_default=True, help="Delta Activations recipe for complementarity.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (schemas/merge_candidates).")
@click.option("--recipe", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write a mergekit YAML (TIES with the top candidate) here; mergekit and `hubindex train merge "
              "--config` run it.")
def merge_candidates(model: str, db: Path | None, api: str | None, k: int, method: str, as_json: bool,
                     recipe: Path | None) -> None:
    """Models sharing MODEL's base, ranked by expected merge benefit, with the reasons."""
    from hubindex.merge_candidates.answers import MergeCandidates
    from hubindex.merge_candidates.recipe import catalog_locator, write_candidate_recipe

    if need_db(db, api):
        from hubindex.catalog import Catalog
        from hubindex.merge_candidates.candidates import rank

        with Catalog(db, read_only=True) as catalog:
            answer = rank(catalog, model, k, method)
            if recipe:
                write_candidate_recipe(answer, recipe, catalog_locator(catalog))
    else:
        answer = fetch(api, model_path(model, "/merge-candidates"), MergeCandidates, {"k": k, "method": method})
        if recipe:
            write_candidate_recipe(answer, recipe)
    if recipe:
        click.echo(f"wrote {recipe} (ties of {model} and {answer.candidates[0].model})", err=True)
    if as_json:
        click.echo(answer.model_dump_json(indent=2))
        return
    table = Table("#", Column("candidate", no_wrap=True), "score", "delta cos", "task cos", "sign conflict",
                  Column("reasons", overflow="fold"), title=f"merge candidates for {model} (base {answer.base})")
    for rank_, c in enumerate(answer.candidates, 1):
        table.add_row(str(rank_), c.model, f"{c.score:.3f}", "-" if c.delta_cosine is None else f"{c.delta_cosine:.2f}",
                      f"{c.task_cosine:.2f}", f"{c.sign_conflict:.2f}", "; ".join(c.reasons[1:]))
    console.print(table)
    if answer.excluded:
        console.print(f"{len(answer.excluded)} family members left out: " + "; ".join(
            f"{m} ({why})" for m, why in sorted(answer.excluded.items())[:8]), highlight=False)


# `hubindex search --examples FILE --base ROOT`: the task is embedded like a model (a short finetune of the family
# root read with the recipe's probes, hubindex.search_by_examples); with --db here, with --api by the server or its
# gpu worker.
def read_examples(path: Path) -> list[dict]:
    """A JSON array of {"input", "output"} objects, or one such object per line (JSON lines)."""
    text = path.read_text()
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError:
        try:
            loaded = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise HubindexError(f"{path}: neither a JSON array nor JSON lines of examples ({exc})") from None
    if not isinstance(loaded, list):
        raise HubindexError(f"{path}: expected a JSON array of {{\"input\", \"output\"}} examples")
    return loaded


def search_by_examples(path: Path, base: str | None, db: Path | None, api: str | None, k: int, method: str,
                       as_json: bool) -> None:
    from hubindex.catalog.answers import SimilarHit
    from hubindex.search_by_examples import ExamplesQuery

    if not base:
        raise click.UsageError("--examples needs --base ROOT: the family root to embed the examples against")
    try:
        query = ExamplesQuery(base=base, examples=read_examples(path), k=k, method=method)
    except ValidationError as exc:
        raise HubindexError(f"{path}: not a valid example search ({exc.error_count()} problems: "
                            f"{exc.errors()[0]['loc']}: {exc.errors()[0]['msg']})") from None
    if need_db(db, api):
        from hubindex.catalog import Catalog
        from hubindex.ids import validate_model_id
        from hubindex.search_by_examples import nearest_to_examples

        validate_model_id(base)
        with Catalog(db, read_only=True) as catalog:
            hits = nearest_to_examples(catalog, query)
    else:
        hits = fetch(api, "/search/examples", list[SimilarHit], body=query.model_dump())
    if as_json:
        click.echo(json.dumps([h.model_dump() for h in hits], indent=2))
        return
    table = Table("#", Column("model", no_wrap=True), "score", Column("family", overflow="fold"), "kind",
                  title=f"nearest to the {len(query.examples)} examples (base {base}, {method})")
    for rank, hit in enumerate(hits, 1):
        table.add_row(str(rank), hit.model, f"{hit.score:.4f}", hit.family or "-", hit.kind or "-")
    console.print(table)
