"""`hubindex eval`: score the catalog against a zoo's truth.json."""

from __future__ import annotations

from pathlib import Path

import click
from hubindex.cli.options import DB_OPTION
from hubindex.cli.output import Table, console


@click.command("eval")
@DB_OPTION
@click.option("--truth", "truth_path", type=click.Path(path_type=Path, exists=True), required=True,
              help="truth.json of a zoo (or the zoo folder).")
@click.option("--merge", "merges", is_flag=True, help="Instead: merge the top and bottom merge candidates of "
              "several finetunes and compare held-out loss (schemas/merge_eval).")
@click.option("--queries", type=click.IntRange(1, 50), default=3, show_default=True, help="With --merge: models.")
@click.option("--per-side", type=click.IntRange(1, 10), default=3, show_default=True,
              help="With --merge: candidates merged from the top and from the bottom of each ranking.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (schemas/embedding_eval, or merge_eval).")
def evaluate(db: Path, truth_path: Path, merges: bool, queries: int, per_side: int, as_json: bool) -> None:
    """Lineage (with baselines) and embedding quality (hubindex default vs the paper recipe) against truth."""
    from hubindex.catalog import Catalog

    if merges:
        _evaluate_merges(db, truth_path, queries, per_side, as_json)
        return
    from hubindex.embed.methods import METHODS
    from hubindex.evaluate.embedding import evaluate_embeddings
    from hubindex.evaluate.lineage import evaluate_lineage

    with Catalog(db, read_only=True) as catalog:
        report = evaluate_embeddings(catalog, str(truth_path), list(METHODS))
        report.lineage = evaluate_lineage(catalog, str(truth_path))
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
    lineage = report.lineage
    table = Table("lineage", "parent acc", "edge P", "edge R", "edge F1", "relation acc", "merge exact",
                  title=f"Lineage ({lineage.models} models, family ARI {lineage.family_ari:.3f})")
    for s in [lineage.hubindex, *lineage.baselines]:
        table.add_row(s.name, f"{s.parent_accuracy:.3f}", f"{s.edge_precision:.3f}", f"{s.edge_recall:.3f}",
                      f"{s.edge_f1:.3f}", "-" if s.relation_accuracy is None else f"{s.relation_accuracy:.3f}",
                      "-" if s.merge_exact is None else f"{s.merge_exact:.3f}")
    console.print(table)
    console.print("relation accuracy by type: " + ", ".join(f"{k} {v:.2f}"
                                                             for k, v in lineage.hubindex.relation_by_type.items()))
    if lineage.by_kind:
        table = Table("kind", "models", "parent acc", "relation acc", title="hubindex by kind (truth.json)")
        for kind, k in lineage.by_kind.items():
            table.add_row(kind, str(k.models), f"{k.parent_accuracy:.3f}", f"{k.relation_accuracy:.3f}")
        console.print(table)
    if (cal := lineage.calibration) is not None:
        auroc = "-" if cal.auroc is None else f"{cal.auroc:.3f}"
        console.print(f"confidence calibration ({cal.right} right, {cal.wrong} wrong parent sets): AUROC {auroc}, "
                      f"ECE {cal.ece:.3f} over {len(cal.bins)} equal-width bins "
                      + " ".join(f"[{b.lower:.1f},{b.upper:.1f}):{b.models}" for b in cal.bins if b.models))
    if (lora := lineage.lora_merged) is not None:
        def share(value: float | None) -> str:
            return "-" if value is None else f"{value:.3f}"
        console.print(f"LoRA-merged recognition ({lora.checked} finetunes checked, {lora.flagged} flagged, "
                      f"{lora.truth} in truth): precision {share(lora.precision)}, recall {share(lora.recall)}")


def _evaluate_merges(db: Path, truth_path: Path, queries: int, per_side: int, as_json: bool) -> None:
    from hubindex.catalog import Catalog
    from hubindex.evaluate.merging import evaluate_merges

    if truth_path.is_dir():
        truth_path = truth_path / "truth.json"
    with Catalog(db, read_only=True) as catalog:
        report = evaluate_merges(catalog, str(truth_path), queries, per_side)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
        return
    table = Table("model", "candidate", "group", "score", "domains", "merged loss", "model loss", "candidate loss",
                  "gain", title="merges of top and bottom candidates (TIES, density 0.5; held-out loss)")
    for p in report.pairs:
        def fmt(losses: dict[str, float]) -> str:
            return " ".join(f"{v:.3f}" for v in losses.values())

        table.add_row(p.model, p.candidate, p.group, f"{p.score:.3f}", ",".join(p.domains), fmt(p.loss_merged),
                      fmt(p.loss_model), fmt(p.loss_candidate), f"{p.gain:+.3f}")
    console.print(table)
    console.print(f"mean held-out loss of merges: top {report.top_mean_loss:.4f}, bottom "
                  f"{report.bottom_mean_loss:.4f}; "
                  f"mean gain over the better parent: top {report.top_mean_gain:+.4f}, bottom "
                  f"{report.bottom_mean_gain:+.4f} -> {'top beats bottom' if report.top_beats_bottom else 'NOT met'}")
