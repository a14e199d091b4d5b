"""Registry of merge methods: one module each, so adding a method touches one file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from hubindex.errors import MergeError


@dataclass(frozen=True)
class TensorMergeInputs:
    """What a method sees for one tensor: fp32 copies, already validated for shape and finiteness."""

    name: str
    base: torch.Tensor | None
    models: list[torch.Tensor]
    weights: list[float]
    densities: list[float | None]
    normalize: bool | None
    scale: float
    t: float
    gamma: float
    generators: list[torch.Generator]  # one per model, seeded from (recipe seed, tensor name, model index)


@dataclass(frozen=True)
class MergeMethod:
    name: str
    merge: Callable[[TensorMergeInputs], torch.Tensor]
    needs_base: bool
    min_models: int = 1
    max_models: int | None = None


def _registry() -> dict[str, MergeMethod]:
    from hubindex.train.merge.methods import (
        breadcrumbs,
        dare,
        linear,
        model_stock,
        slerp,
        task_arithmetic,
        ties,
    )

    methods = [linear.METHOD, task_arithmetic.METHOD, ties.METHOD, *dare.METHODS, slerp.METHOD,
               *breadcrumbs.METHODS, model_stock.METHOD]
    return {m.name: m for m in methods}


def method_names() -> list[str]:
    return list(_registry())


def get_method(name: str) -> MergeMethod:
    registry = _registry()
    if name not in registry:
        raise MergeError(f"unknown merge method {name!r}; choose one of {', '.join(registry)}")
    return registry[name]
