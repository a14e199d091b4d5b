"""`hubindex zoo`: build and show the reference zoo of models with a known family tree."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
from hubindex.cli.options import split_list
from hubindex.cli.output import Table, console, err_console, progress_bars
from rich.table import Column
from rich.tree import Tree

RELATION_STYLE = {"root": "bold", "finetune": "green", "adapter": "cyan", "merge": "magenta", "copy": "yellow",
                  "quantized": "blue"}


@click.group()
def zoo() -> None:
    """The reference zoo: tiny model families built by hubindex, with truth.json."""


@zoo.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--size", type=click.Choice(["tiny", "small", "medium"]), default="small", show_default=True,
              help="Model dimensions; with --profile realistic the scale instead (tiny: ~40 models, small: ~100).")
@click.option("--profile", type=click.Choice(["reference", "realistic"]), default="reference", show_default=True,
              help="reference: clean families (lineage tests); realistic: hub phenomena, each tagged with a kind.")
@click.option("--clock", type=click.Choice(["real", "floor", "reset"]), default="real", show_default=True,
              help="File times: real upload times; floor: the Hub's createdAt floor (2022-03-02T23:29:04Z) for "
                   "older models; reset: one time for every file, as after a copy.")
@click.option("--domains", multiple=True, help="Text domains to finetune on (default: the first six).")
@click.option("--families", type=int, default=None, help="Number of model families (default: the size's).")
@click.option("--strip-metadata", is_flag=True, help="Remove every declared lineage hint and telling name.")
@click.option("--jobs", type=int, default=min(2, os.cpu_count() or 1), show_default=True,
              help="Models trained side by side (the result does not depend on it).")
@click.option("--force", is_flag=True, help="Delete a different zoo already in DIRECTORY.")
@click.option("--json", "as_json", is_flag=True, help="Print the zoo.json written as JSON (schemas/zoo_built).")
def build(directory: Path, seed: int, size: str, profile: str, clock: str, domains: tuple[str, ...],
          families: int | None, strip_metadata: bool, jobs: int, force: bool, as_json: bool) -> None:
    """Build a zoo into DIRECTORY (resumes an interrupted build; a finished one is left as is)."""
    from hubindex.zoo.build import ZooOptions, build_zoo

    options = ZooOptions(seed=seed, size=size, domains=split_list(domains) or None,
                         strip_metadata=strip_metadata, families=families, profile=profile, clock=clock)
    with progress_bars(enabled=not as_json) as progress:
        summary = build_zoo(directory, options, jobs=jobs, force=force, progress=progress)
    if as_json:
        from hubindex.zoo.answers import ZooBuilt

        click.echo(ZooBuilt(directory=str(directory), **summary).model_dump_json(indent=2))
        return
    err_console.print(f"zoo ready: {directory} ({summary['models']} models, {summary['built_models']} "
                      f"built in {summary['build_seconds']} s)")


@zoo.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the zoo_summary JSON answer.")
def show(directory: Path, as_json: bool) -> None:
    """Show a zoo's family trees, relation counts and sizes."""
    from hubindex.zoo.summary import TreeNode, summarize

    summary = summarize(directory)
    if as_json:
        click.echo(json.dumps(summary.model_dump(mode="json"), indent=2))
        return
    table = Table(title=f"zoo {summary.path} ({summary.profile}, size {summary.size}, seed {summary.seed}, "
                        f"clock {summary.clock})")
    for column in ("family", "arch", "root", "models", "MB"):
        table.add_column(column)
    for fam in summary.families:
        table.add_row(fam.family, fam.arch, fam.root, str(fam.models), f"{fam.bytes / 1e6:.2f}")
    console.print(table)

    def add(tree: Tree, node: TreeNode) -> None:
        style = RELATION_STYLE.get(node.relation, "")
        extra = f" + {', '.join(node.parents[1:])}" if len(node.parents) > 1 else ""
        kind = f" ({node.kind})" if node.kind else ""
        label = f"[{style}]{node.model}[/] [dim]{node.relation}/{node.method}{kind} {node.domain or ''}{extra}[/]"
        branch = tree.add(label)
        for child in node.children:
            add(branch, child)

    for fam in summary.families:
        tree = Tree(f"family [bold]{fam.family}[/] ({fam.arch})")
        add(tree, fam.tree)
        console.print(tree)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.relations.items()))
    console.print(f"{summary.models} models ({counts}); {summary.bytes / 1e6:.2f} MB on disk")
    if summary.kinds:
        console.print("kinds: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.kinds.items())))


@zoo.command("plant-cards")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--wrong", "wrong_fraction", type=click.FloatRange(0, 1), default=0.2, show_default=True,
              help="Fraction of the models with parents whose card names a wrong (but plausible) parent.")
@click.option("--seed", type=int, default=0, show_default=True, help="Picks which cards lie and what they name.")
@click.option("--json", "as_json", is_flag=True, help="Print the planted_cards JSON answer (cards.json).")
def plant_cards_command(directory: Path, wrong_fraction: float, seed: int, as_json: bool) -> None:
    """Write declared lineage (base_model) into a zoo's cards, some of them wrong; records it in cards.json."""
    from hubindex.zoo.cards import CARDS_FILE, plant_cards

    answer = plant_cards(directory, wrong_fraction, seed)
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    console.print(f"planted {len(answer['planted'])} cards in {directory}: {len(answer['wrong'])} wrong "
                  f"(fraction {wrong_fraction}, seed {seed}); see {directory / CARDS_FILE}", highlight=False)
    if answer["wrong"]:
        table = Table(Column("model", no_wrap=True), Column("declared", overflow="fold"),
                      Column("truth", overflow="fold"), title="wrong cards")
        for model, lie in answer["wrong"].items():
            table.add_row(model, "\n".join(lie["declared"]), "\n".join(lie["truth"]))
        console.print(table)


@zoo.command()
@click.option("--json", "as_json", is_flag=True, help="Print the domains as JSON (schemas/domains).")
def domains(as_json: bool) -> None:
    """List the generated text domains."""
    from hubindex import corpus
    from hubindex.zoo.answers import Domain, DomainsAnswer

    answer = DomainsAnswer([Domain(name=name, sample=corpus.generate(name, 1, 0)[0].replace("\n", " ")[:90])
                            for name in corpus.domain_names()])
    if as_json:
        click.echo(answer.model_dump_json(indent=2))
        return
    table = Table("domain", "sample (seed 0)")
    for domain in answer.root:
        table.add_row(domain.name, domain.sample + "...")
    console.print(table)
