"""Option parsing shared by subcommands."""

from __future__ import annotations

import click


def split_list(values: tuple[str, ...]) -> list[str]:
    """`--models a --models b` and `--models a,b` both give [a, b]."""
    return [part for value in values for part in value.split(",") if part]


def float_list(values: tuple[str, ...], option: str) -> list[float]:
    try:
        return [float(v) for v in split_list(values)]
    except ValueError:
        raise click.BadParameter(f"{option} takes numbers, e.g. 0.5,0.5") from None
