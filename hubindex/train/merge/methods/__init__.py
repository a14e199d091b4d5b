"""Registry of merge methods: one module each, listed in `_registry` (a new method: its module and one entry there).

Each method declares its parameters the way mergekit 0.1.5 does (name, scope, type, default or required), so a
recipe means the same thing in both tools: `weight` is required for every method that takes it, `density`
defaults to 1.0 (nothing dropped), `normalize` and `rescale` defaults differ per method (table in the notes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from hubindex.errors import MergeError

REQUIRED = object()  # a parameter without a default: mergekit refuses a recipe that leaves it unset


@dataclass(frozen=True)
class Param:
    name: str
    kind: type
    # shared: one value for the tensor; input: one per input (the base too); non_base: one per non-base input
    scope: Literal["shared", "input", "non_base"]
    default: Any = REQUIRED


@dataclass(frozen=True)
class TensorInputs:
    """What a method sees for one tensor: the inputs in recipe order (models, then the base unless it is listed),
    already cast to the compute dtype and checked for shape and finiteness, with their resolved parameters."""

    name: str
    tensors: list[torch.Tensor]
    base_index: int | None
    shared: dict[str, Any]
    per_input: list[dict[str, Any]]  # non_base parameters are absent from the base's entry
    generators: list[torch.Generator]  # one per input, seeded from (recipe seed, tensor name, input index)

    @property
    def base(self) -> torch.Tensor:
        assert self.base_index is not None
        return self.tensors[self.base_index]

    def non_base(self) -> list[int]:
        return [i for i in range(len(self.tensors)) if i != self.base_index]


@dataclass(frozen=True)
class MergeMethod:
    name: str
    merge: Callable[[TensorInputs], torch.Tensor]
    params: tuple[Param, ...] = field(default=())
    needs_base: bool = True  # False: a base_model is one more input (mergekit's "ignored" base policy)
    min_inputs: int = 1  # counted with the base, as mergekit counts them
    max_inputs: int | None = None

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


def _registry() -> dict[str, MergeMethod]:
    from hubindex.train.merge.methods import breadcrumbs, dare, linear, model_stock, slerp, task_arithmetic, ties

    methods = [linear.METHOD, task_arithmetic.METHOD, ties.METHOD, *dare.METHODS, slerp.METHOD,
               *breadcrumbs.METHODS, model_stock.METHOD]
    return {m.name: m for m in methods}


def method_names() -> list[str]:
    return list(_registry())


def parameter_names() -> set[str]:
    return {p.name for m in _registry().values() for p in m.params}


def get_method(name: str) -> MergeMethod:
    registry = _registry()
    if name not in registry:
        raise MergeError(f"unknown merge method {name!r}; hubindex runs {', '.join(registry)} "
                         "(mergekit's other methods, e.g. della, sce, nuslerp, passthrough: run them with mergekit)")
    return registry[name]
