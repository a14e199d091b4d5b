"""Where a model belongs: its family, the base its Delta Activations are taken against, and who decided."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Assignment:
    family: str | None
    base: str | None
    source: str | None
    candidates: tuple[str, ...] = ()  # adapters with an ambiguous base
    margin: float | None = None  # of a gradient decision (BaseSource.GRADIENT)
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)  # weights': (continuation, offset cosine)
