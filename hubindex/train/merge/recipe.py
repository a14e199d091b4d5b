"""A merge recipe in mergekit's YAML shape (merge_method, base_model, models[].parameters, parameters, dtype).

Validated at the edge: an unknown method, a wrong number of models or a density outside (0, 1] is an error before
any weights are opened.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hubindex.errors import MergeError


class ModelParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weight: float | None = None
    density: float | None = Field(default=None, gt=0.0, le=1.0)


class InputModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    parameters: ModelParameters = ModelParameters()


class GlobalParameters(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    weight: float | None = None
    density: float | None = Field(default=None, gt=0.0, le=1.0)
    normalize: bool | None = None
    scale: float = Field(default=1.0, alias="lambda")  # mergekit's name for the task-vector scale
    t: float = Field(default=0.5, ge=0.0, le=1.0)
    gamma: float = Field(default=0.01, ge=0.0, lt=1.0)  # breadcrumbs: fraction of largest entries dropped


class MergeRecipe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    merge_method: str
    base_model: str | None = None
    models: list[InputModel]
    parameters: GlobalParameters = GlobalParameters()
    dtype: str | None = None
    seed: int = 0  # DARE's random drops are drawn from this, so a recipe reproduces its output

    @model_validator(mode="after")
    def _check_method(self) -> MergeRecipe:
        from hubindex.train.merge.methods import get_method

        method = get_method(self.merge_method)
        n = len(self.models)
        if n < method.min_models or (method.max_models and n > method.max_models):
            wanted = method.min_models if method.min_models == method.max_models else f">= {method.min_models}"
            raise ValueError(f"{method.name} merges {wanted} models, got {n}")
        if method.needs_base and not self.base_model:
            raise ValueError(f"{method.name} needs a base_model (task vectors are taken against it)")
        return self

    def weights(self) -> list[float]:
        default = self.parameters.weight
        return [m.parameters.weight if m.parameters.weight is not None else (default if default is not None else 1.0)
                for m in self.models]

    def densities(self) -> list[float | None]:
        return [m.parameters.density if m.parameters.density is not None else self.parameters.density
                for m in self.models]

    def to_yaml(self) -> str:
        # Required fields always appear, so the file reads like mergekit's: method first, then inputs.
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
        return yaml.safe_dump(data, sort_keys=False)


def parse_recipe(data: object) -> MergeRecipe:
    try:
        return MergeRecipe.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'recipe'}: {e['msg']}" for e in exc.errors())
        raise MergeError(f"invalid merge recipe: {problems}") from None


def load_recipe(path: Path) -> MergeRecipe:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise MergeError(f"{path}: cannot read merge recipe ({exc})") from None
    if isinstance(data, dict) and "slices" in data:
        raise MergeError(f"{path}: layer slices (passthrough / frankenmerges) are not supported")
    return parse_recipe(data)
