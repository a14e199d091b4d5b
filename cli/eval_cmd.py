"""`hubindex eval`: score the catalog against a zoo's truth.json."""

from __future__ import annotations

from pathlib import Path

import click
from hubindex.cli.index_cmd import DB_OPTION
from rich.console import Console
from rich.table import Table

console = Console()


@click.command("eval")
@DB_OPTION
@click.option("--truth", "truth_path", type=click.Path(path_type=Path, exists=True), required=True,
              help="truth.json of a zoo (or the zoo folder).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (schemas/embedding_eval).")
def evaluate(db: Path, truth_path: Path, as_json: bool) -> None:
    """Embedding quality (domain top-1, silhouette: hubindex default vs the paper recipe) against truth."""
    from hubindex.catalog import Catalog
    from hubindex.embed.methods import METHODS
    from hubindex.evaluate.embedding import evaluate_embeddings

    with Catalog(db, read_only=True) as catalog:
        report = evaluate_embeddings(catalog, str(truth_path), list(METHODS))
    if as_json:
        click.echo(report.model_dump_json(indent=2))
        return
    console.print(f"{report.models} models in both truth and catalog; family roots right for "
                  f"{report.family_accuracy:.1%}")
    table = Table("method", "domain top-1", "strict", "finetunes", "silhouette", "families", title="Delta Activations")
    for score in report.methods:
        table.add_row(score.method, "-" if score.domain_top1 is None else f"{score.domain_top1:.3f}",
                      "-" if score.domain_top1_strict is None else f"{score.domain_top1_strict:.3f}",
                      str(score.finetunes), "-" if score.silhouette is None else f"{score.silhouette:.3f}",
                      str(score.families))
    console.print(table)
    if report.silhouette_gain is not None:
        console.print(f"silhouette gain of hubindex over paper: {report.silhouette_gain:+.3f}")
