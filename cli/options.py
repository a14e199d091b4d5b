"""Option parsing shared by subcommands."""

from __future__ import annotations

from pathlib import Path

import click

DB_OPTION = click.option("--db", type=click.Path(path_type=Path, dir_okay=False), required=True,
                         help="DuckDB catalog file (FAISS indexes live beside it in FILE.faiss/).")


def split_list(values: tuple[str, ...]) -> list[str]:
    """`--models a --models b` and `--models a,b` both give [a, b]."""
    return [part for value in values for part in value.split(",") if part]


def float_list(values: tuple[str, ...], option: str) -> list[float]:
    try:
        return [float(v) for v in split_list(values)]
    except ValueError:
        raise click.BadParameter(f"{option} takes numbers, e.g. 0.5,0.5") from None
