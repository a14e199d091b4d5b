"""Plan, check, then stream a merge tensor by tensor.

Every check that can fail (inputs exist and are safetensors, the gates in gates.py) runs before a byte of output is
written: a recipe error costs seconds, not a long run. Memory holds the current tensor of each input plus the output
tensor, never a whole model. Tensors are computed in mergekit's compute dtype (`dtype`, else the inputs' promoted
dtype; hubindex's `compute_dtype` overrides it) and written in `out_dtype`, else the compute dtype.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from hubindex.card import lineage_meta, write_card
from hubindex.checkpoint import ModelFolder, PlannedTensor, ShardedWriter
from hubindex.checkpoint.dtypes import CODES, FLOAT_CODES, code_for, torch_dtype
from hubindex.checkpoint.staging import staged_dir
from hubindex.errors import HubindexError, MergeError
from hubindex.progress import ProgressCallback
from hubindex.train.merge.gates import InputMeta, check_inputs, vocab_digest
from hubindex.train.merge.methods import MergeMethod, TensorInputs, get_method
from hubindex.train.merge.recipe import MergeRecipe, layer_fraction
from hubindex.train.outputs import copy_side_files, set_config_dtype

RECIPE_FILE = "mergekit_config.yml"


@dataclass
class MergePlan:
    recipe: MergeRecipe
    method: MergeMethod
    inputs: list[ModelFolder]  # recipe.inputs() order: the models, then the base unless it is listed
    base_index: int | None
    reference: ModelFolder  # layout and config come from here (the base when there is one, else the first model)
    tokenizer: ModelFolder  # where the tokenizer files come from (tokenizer_source, else the reference)
    tensors: list[PlannedTensor]
    num_layers: int | None


def local_meta(ref: str, folder: ModelFolder) -> InputMeta:
    path = folder.path / "tokenizer.json"
    data = path.read_bytes() if path.is_file() else None
    return InputMeta(ref, folder.kind, folder.config or {}, {n: (d, tuple(s)) for n, d, s in folder.layout()},
                     hashlib.sha256(data).hexdigest() if data is not None else None,
                     lambda: vocab_digest(data) if data is not None else None)


def plan_merge(recipe: MergeRecipe, resolve: Callable[[str], Path]) -> MergePlan:
    method = get_method(recipe.merge_method)
    refs = recipe.inputs()
    folders = [_open(ref, resolve) for ref in refs]
    base_index = refs.index(recipe.base_model) if recipe.base_model and method.needs_base else None
    reference = folders[refs.index(recipe.base_model)] if recipe.base_model else folders[0]
    metas = [local_meta(ref, f) for ref, f in zip(refs, folders, strict=True)]
    check_inputs(metas[folders.index(reference)], metas)
    source = recipe.tokenizer_source
    tokenizer = folders[refs.index(source)] if source in refs else reference
    out_code = code_for(recipe.out_dtype or recipe.dtype) if (recipe.out_dtype or recipe.dtype) else None
    tensors = []
    for name, code, shape in reference.layout():
        if code in FLOAT_CODES:
            code = out_code or _promoted(f.tensors[name].dtype for f in folders)
        tensors.append(PlannedTensor(name, code, shape))
    config = reference.config or {}
    num_layers = config.get("num_hidden_layers") or config.get("n_layer")
    return MergePlan(recipe, method, folders, base_index, reference, tokenizer, tensors, num_layers)


def _promoted(codes) -> str:
    dtype = None
    for code in codes:
        dtype = torch_dtype(code) if dtype is None else torch.promote_types(dtype, torch_dtype(code))
    return CODES[dtype]


def _open(ref: str, resolve: Callable[[str], Path]) -> ModelFolder:
    try:
        return ModelFolder.open(resolve(ref))
    except HubindexError as exc:
        raise MergeError(f"merge input {ref!r}: {exc}") from None


def _read_checked(folder: ModelFolder, name: str) -> torch.Tensor:
    tensor = folder.read(name)
    if tensor.is_floating_point() and not torch.isfinite(tensor).all():
        raise MergeError(f"{folder.path}: tensor {name!r} contains NaN or inf")
    return tensor


def _generators(seed: int, name: str, n: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(zlib.crc32(f"{seed}:{name}:{i}".encode())) for i in range(n)]


def merge_tensor(plan: MergePlan, item: PlannedTensor) -> torch.Tensor:
    if item.dtype not in FLOAT_CODES:
        return plan.reference.read(item.name)
    recipe = plan.recipe
    tensors = [_read_checked(f, item.name) for f in plan.inputs]
    compute = recipe.compute_dtype or recipe.dtype
    dtype = torch_dtype(code_for(compute)) if compute else torch_dtype(_promoted(CODES[t.dtype] for t in tensors))
    shared, per_input = recipe.resolve(item.name, layer_fraction(item.name, plan.num_layers))
    shared["inverse_density"] = recipe.dare_rescale == "inverse_density"
    inputs = TensorInputs(name=item.name, tensors=[t.to(dtype) for t in tensors], base_index=plan.base_index,
                          shared=shared, per_input=per_input,
                          generators=_generators(recipe.seed, item.name, len(tensors)))
    return plan.method.merge(inputs).to(torch_dtype(item.dtype))


def execute_merge(plan: MergePlan, out: Path, ids: list[str], max_shard_bytes: int | None = None,
                  overwrite: bool = False, quiet: bool = False, progress: ProgressCallback | None = None) -> None:
    """Write the merged model to `out`; `ids` name the merged models in the card (its declared parents).
    `progress` hears `("merge (method)", tensors written, tensors)` (not when `quiet`)."""
    report_progress = (lambda stage, done, total: None) if quiet or progress is None else progress
    stage = f"merge ({plan.method.name})"
    with staged_dir(Path(out), overwrite) as staging:
        with ShardedWriter(staging, plan.tensors, max_shard_bytes) as writer:
            for done, item in enumerate(plan.tensors, 1):
                writer.write(item.name, merge_tensor(plan, item))
                report_progress(stage, done, len(plan.tensors))
        copy_side_files(plan.reference, staging)
        for path in plan.tokenizer.tokenizer_files():
            (staging / path.name).write_bytes(path.read_bytes())
        float_codes = {t.dtype for t in plan.tensors if t.dtype in FLOAT_CODES}
        if len(float_codes) == 1 and (plan.recipe.dtype or plan.recipe.out_dtype):
            set_config_dtype(staging, float_codes.pop())
        recipe_yaml = plan.recipe.to_yaml()
        (staging / RECIPE_FILE).write_text(recipe_yaml)
        card = {"library_name": "transformers", "pipeline_tag": "text-generation",
                **lineage_meta(ids, "merge"), "tags": ["hubindex", "mergekit", "merge"]}
        body = (f"# {Path(out).name}\n\nA {plan.method.name} merge made with hubindex.\n\n"
                f"## Configuration\n\n```yaml\n{recipe_yaml}```")
        write_card(staging, card, body)


def merge(recipe: MergeRecipe, out: Path, resolve: Callable[[str], Path] = Path,
          max_shard_bytes: int | None = None, overwrite: bool = False, quiet: bool = False,
          progress: ProgressCallback | None = None) -> MergePlan:
    """Plan and run a merge; the card names the models by their ids in the recipe."""
    plan = plan_merge(recipe, resolve)
    execute_merge(plan, out, [m.model for m in recipe.models], max_shard_bytes, overwrite, quiet, progress)
    return plan
