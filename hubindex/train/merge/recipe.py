"""A merge recipe in mergekit's YAML shape, with mergekit 0.1.5's meanings.

Keys mergekit reads: merge_method, base_model, models[].model, models[].parameters, parameters, dtype (the compute
dtype), out_dtype (the output dtype; default: the compute dtype), tokenizer_source. A parameter value is a scalar,
a gradient (a list interpolated over the layers), or a list of `{filter, value}` conditions matched by substring of
the tensor name, first match wins; model-level values come before global ones, then the method's default.
Keys hubindex adds, which mergekit ignores: `seed` (DARE's random drops) and `compute_dtype` (e.g. float32 to merge
bf16 models in fp32; mergekit computes in `dtype`). `slices`, `modules`, `tokenizer` and `chat_template` are refused
with the alternative named. Everything is validated here, before any weights are opened.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, field_validator, model_validator

from hubindex.errors import MergeError
from hubindex.train.merge.methods import REQUIRED, Param, get_method, parameter_names

Scalar = bool | int | float | str


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: Scalar | list[Scalar]
    filter: str | None = None


Setting = list[Condition] | Condition | list[Scalar] | Scalar
MERGEKIT_DTYPES = ("float32", "bfloat16", "float16", "float64")
_ALIASES = {"fp32": "float32", "f32": "float32", "bf16": "bfloat16", "fp16": "float16", "f16": "float16",
            "fp64": "float64", "f64": "float64"}
LAYER = re.compile(r"(?:^|\.)(?:layers|h|blocks)\.(\d+)\.")

REFUSED_KEYS = {
    "slices": "layer slices (passthrough frankenmerges, per-range merges) are not supported: run this recipe with "
              "mergekit (`mergekit-yaml recipe.yml OUT`), or use `models:` with gradient or filtered parameters "
              "for per-layer control",
    "modules": "`modules:` (multi-module models) is not supported: run this recipe with mergekit",
    "tokenizer": "`tokenizer:` (building a new vocabulary) is not supported: use tokenizer_source with models that "
                 "share one tokenizer, or run this recipe with mergekit",
    "chat_template": "`chat_template:` is not supported: copy the template into the merged tokenizer_config.json, "
                     "or run this recipe with mergekit",
}


def dtype_name(value: str | None) -> str | None:
    """A dtype name as mergekit spells it (float32, bfloat16, float16, float64); hubindex's aliases are accepted."""
    if value is None:
        return None
    name = str(value).strip()
    name = name.removeprefix("torch.")
    name = _ALIASES.get(name.lower(), name)
    if name not in MERGEKIT_DTYPES:
        raise ValueError(f"unknown dtype {value!r}; use one of {', '.join(MERGEKIT_DTYPES)}")
    return name


class InputModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    parameters: dict[str, Setting] | None = None

    _unset = field_validator("parameters", mode="before")(classmethod(lambda cls, v: _drop_unset(v)))

    @field_validator("model")
    @classmethod
    def _plain_reference(cls, value: str) -> str:
        if "+" in value:
            raise ValueError(f"{value!r}: model+LoRA references are not supported; merge the adapter into its base "
                             "first (hubindex train finetune --merge-lora)")
        return value


class MergeRecipe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    merge_method: str
    base_model: str | None = None
    models: list[InputModel]
    parameters: dict[str, Setting] | None = None
    dtype: str | None = None  # compute dtype (mergekit's meaning); None: the inputs' promoted dtype
    out_dtype: str | None = None  # output dtype; None: the compute dtype
    tokenizer_source: str | None = None  # "base", "union" or a model: all must share one tokenizer here
    seed: int = 0  # hubindex: DARE's random drops are drawn from this, so a recipe reproduces its output
    compute_dtype: str | None = None  # hubindex: overrides `dtype` as the compute dtype (mergekit ignores it)
    # hubindex: how DARE's `rescale` scales survivors: "l1" keeps each tensor's L1 norm (mergekit's only way),
    # "inverse_density" multiplies by 1/density (the DARE paper's; the zoo's merges). mergekit ignores this key.
    dare_rescale: Literal["l1", "inverse_density"] = "l1"

    _unset = field_validator("parameters", mode="before")(classmethod(lambda cls, v: _drop_unset(v)))

    @field_validator("dtype", "out_dtype", "compute_dtype")
    @classmethod
    def _dtype(cls, value: str | None) -> str | None:
        return dtype_name(value)

    @model_validator(mode="after")
    def _check(self) -> MergeRecipe:
        method = get_method(self.merge_method)
        known = parameter_names()
        for where, params in [("parameters", self.parameters),
                              *((f"models[{i}].parameters", m.parameters) for i, m in enumerate(self.models))]:
            unknown = sorted(set(params or {}) - known)
            if unknown:
                raise ValueError(f"{where}: unknown parameter(s) {', '.join(unknown)} (known: "
                                 f"{', '.join(sorted(known))}; mergekit would silently ignore them)")
        names = [m.model for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError("a model is listed twice under models:")
        if method.needs_base and not self.base_model:
            if self.merge_method == "slerp":
                # hubindex's older SLERP recipes had no base: t ran from the first model, which is what a base means
                if len(self.models) != 2:
                    raise ValueError("slerp merges 2 inputs: base_model and one model (t = 0 is the base)")
                self.base_model = self.models[0].model
            else:
                raise ValueError(f"{method.name} needs a base_model (task vectors and t are taken against it)")
        n = len(self.inputs())
        if n < method.min_inputs or (method.max_inputs and n > method.max_inputs):
            wanted = method.min_inputs if method.min_inputs == method.max_inputs else f">= {method.min_inputs}"
            raise ValueError(f"{method.name} merges {wanted} inputs counting the base, got {n} "
                             f"({', '.join(self.inputs())})")
        for param in method.params:
            if param.scope == "shared" and param.default is REQUIRED and not _has(self.parameters, param.name):
                raise ValueError(f"{method.name} needs parameters.{param.name}")
            if param.scope != "shared" and param.default is REQUIRED:
                for ref in self.inputs():
                    if param.scope == "non_base" and ref == self.base_model and method.needs_base:
                        continue
                    if not (_has(self.parameters, param.name) or _has(self.model_parameters(ref), param.name)):
                        raise ValueError(f"{method.name} needs {param.name} for {ref} "
                                         f"(models[].parameters.{param.name} or parameters.{param.name})")
        if self.tokenizer_source not in (None, "base", "union") and self.tokenizer_source not in self.inputs():
            raise ValueError(f"tokenizer_source {self.tokenizer_source!r} is not base, union or one of the inputs")
        return self

    def inputs(self) -> list[str]:
        """The merge's inputs in mergekit's order: the listed models, then the base when it is not listed."""
        names = [m.model for m in self.models]
        return names + ([self.base_model] if self.base_model and self.base_model not in names else [])

    def model_parameters(self, ref: str) -> dict[str, Setting] | None:
        return next((m.parameters for m in self.models if m.model == ref), None)

    def resolve(self, tensor_name: str, layer_t: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(shared parameters, one dict per input) for one tensor, as mergekit resolves them."""
        method = get_method(self.merge_method)
        shared = {p.name: _resolve(p, [self.parameters], tensor_name, layer_t)
                  for p in method.params if p.scope == "shared"}
        per_input = []
        for ref in self.inputs():
            is_base = method.needs_base and ref == self.base_model
            per_input.append({p.name: _resolve(p, [self.model_parameters(ref), self.parameters], tensor_name,
                                               layer_t, f"{ref}.")
                              for p in method.params
                              if p.scope == "input" or (p.scope == "non_base" and not is_base)})
        return shared, per_input

    def to_yaml(self) -> str:
        # Required fields always appear, so the file reads like mergekit's: method first, then inputs.
        data = self.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        for entry in [data, *data["models"]]:
            if entry.get("parameters") == {}:
                del entry["parameters"]
        data = {"merge_method": data.pop("merge_method"), **({"base_model": data.pop("base_model")}
                                                            if "base_model" in data else {}), **data}
        return yaml.safe_dump(data, sort_keys=False)


def _drop_unset(params: object) -> object:
    """`key: null` means unset (hubindex's own callers build recipes that way); it is not written back."""
    return {k: v for k, v in params.items() if v is not None} if isinstance(params, dict) else params


def _has(params: dict | None, name: str) -> bool:
    return bool(params) and name in params


def layer_fraction(tensor_name: str, num_layers: int | None) -> float:
    """mergekit's `t` for gradients: layer i of L is i / (L - 1) (1 when L == 1); embeddings, the final norm and
    the head (outside the layers) are at 0."""
    match = LAYER.search(tensor_name)
    if not match or not num_layers:
        return 0.0
    return int(match.group(1)) / (num_layers - 1) if num_layers > 1 else 1.0


def _evaluate(setting: Any, tensor_name: str, t: float, validate) -> Any:
    if isinstance(setting, Condition):
        setting = [setting]
    if isinstance(setting, list):
        if not setting:
            return None
        if all(not isinstance(e, Condition) for e in setting):
            values = [validate(e) for e in setting]
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                return values[int(t * (len(values) - 1))]
            scaled = t * (len(values) - 1)
            i0 = int(scaled)
            i1 = min(len(values) - 1, i0 + 1)
            frac = scaled - i0
            return validate((1 - frac) * values[i0] + frac * values[i1])
        for cond in setting:
            if cond.filter in (None, "*") or (tensor_name and cond.filter in tensor_name):
                return _evaluate(cond.value, tensor_name, t, validate)
        return None
    return validate(setting)


@functools.cache
def _adapter(kind: type) -> TypeAdapter:
    return TypeAdapter(kind)  # mergekit validates parameter values with pydantic too (e.g. "0.5" is a float)


def _resolve(param: Param, scopes: list[dict | None], tensor_name: str, t: float, where: str = "") -> Any:
    adapter = _adapter(param.kind)
    for scope in scopes:
        if scope and param.name in scope:
            try:
                value = _evaluate(scope[param.name], tensor_name, t, adapter.validate_python)
            except ValidationError:
                raise MergeError(f"parameter {param.name} for {where}{tensor_name}: not a {param.kind.__name__} "
                                 f"({scope[param.name]!r})") from None
            if value is not None:
                return value
    if param.default is REQUIRED:
        raise MergeError(f"missing required parameter {param.name} for {where}{tensor_name} (no filter matched)")
    return param.default


def parse_recipe(data: object) -> MergeRecipe:
    if isinstance(data, dict):
        for key, why in REFUSED_KEYS.items():
            if data.get(key) is not None:
                raise MergeError(f"invalid merge recipe: {why}")
    try:
        return MergeRecipe.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'recipe'}: {e['msg']}" for e in exc.errors())
        raise MergeError(f"invalid merge recipe: {problems}") from None
    except MergeError as exc:
        raise MergeError(f"invalid merge recipe: {exc}") from None


def load_recipe(path: Path) -> MergeRecipe:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise MergeError(f"{path}: cannot read merge recipe ({exc})") from None
    return parse_recipe(data)
