"""Where a model belongs: its family, the base its Delta Activations are taken against, and who decided."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Assignment:
    family: str | None
    base: str | None
    source: str | None
    candidates: tuple[str, ...] = ()  # adapters with an ambiguous base


GRADIENT = "gradient"  # an adapter's base chosen by gradient alignment among a shortlist (indexer/adapter_base.py)


def gradient_source(margin: float) -> str:
    """base_source of a gradient-alignment decision, with its margin (best over runner-up alignment, relative):
    `gradient:0.123`. The catalog has no column for it; the confidence of the adapter's lineage is read from it."""
    return f"{GRADIENT}:{margin:.3f}"


def source_margin(base_source: str | None) -> tuple[str | None, float | None]:
    """(source, margin) of a base_source: the margin of a gradient decision, else None."""
    if base_source and base_source.startswith(GRADIENT + ":"):
        try:
            return GRADIENT, float(base_source.split(":", 1)[1])
        except ValueError:
            return GRADIENT, None
    return base_source, None
