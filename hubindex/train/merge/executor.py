"""Plan, check, then stream a merge tensor by tensor.

Every check that can fail (inputs exist and are safetensors, same architecture, same tensor layout, same vocabulary
and tokenizer) runs before a byte of output is written: a recipe error costs seconds, not a long run. Memory holds
the current tensor of each input plus the output tensor, never a whole model.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.progress import Progress

from hubindex.card import lineage_meta, write_card
from hubindex.checkpoint import ModelFolder, PlannedTensor, ShardedWriter
from hubindex.checkpoint.dtypes import FLOAT_CODES, code_for, torch_dtype
from hubindex.checkpoint.staging import staged_dir
from hubindex.errors import HubindexError, MergeError
from hubindex.train.merge.methods import MergeMethod, TensorMergeInputs, get_method
from hubindex.train.merge.recipe import MergeRecipe
from hubindex.train.outputs import copy_side_files, set_config_dtype

RECIPE_FILE = "mergekit_config.yml"


@dataclass
class MergePlan:
    recipe: MergeRecipe
    method: MergeMethod
    base: ModelFolder | None
    models: list[ModelFolder]
    reference: ModelFolder  # layout, config and tokenizer come from here (the base when there is one)
    tensors: list[PlannedTensor]


def plan_merge(recipe: MergeRecipe, resolve: Callable[[str], Path]) -> MergePlan:
    method = get_method(recipe.merge_method)
    base = _open(recipe.base_model, resolve) if recipe.base_model else None
    models = [_open(m.model, resolve) for m in recipe.models]
    reference = base or models[0]
    _check_compatible(reference, [m for m in [base, *models] if m is not None])
    out_code = code_for(recipe.dtype) if recipe.dtype else None
    tensors = [PlannedTensor(n, out_code if (out_code and d in FLOAT_CODES) else d, s)
               for n, d, s in reference.layout()]
    return MergePlan(recipe, method, base, models, reference, tensors)


def _open(ref: str, resolve: Callable[[str], Path]) -> ModelFolder:
    try:
        folder = ModelFolder.open(resolve(ref))
    except HubindexError as exc:
        raise MergeError(f"merge input {ref!r}: {exc}") from None
    if folder.kind == "adapter":
        raise MergeError(f"merge input {ref!r} is a LoRA adapter; merge it into its base first "
                         "(hubindex train finetune --merge-lora) or pass the merged model")
    return folder


def _tokenizer_digest(folder: ModelFolder) -> str | None:
    path = folder.path / "tokenizer.json"
    if not path.is_file():
        return None
    vocab = json.loads(path.read_text()).get("model", {}).get("vocab")
    return hashlib.sha256(json.dumps(vocab, sort_keys=True).encode()).hexdigest()


def _check_compatible(reference: ModelFolder, folders: list[ModelFolder]) -> None:
    ref_type = reference.config.get("model_type")
    ref_vocab = reference.config.get("vocab_size")
    ref_layout = {n: s for n, _, s in reference.layout()}
    ref_tok = _tokenizer_digest(reference)
    for folder in folders:
        where = str(folder.path)
        if folder.config.get("model_type") != ref_type:
            raise MergeError(f"{where}: architecture {folder.config.get('model_type')!r} differs from {ref_type!r}")
        if folder.config.get("vocab_size") != ref_vocab:
            raise MergeError(f"{where}: vocab_size {folder.config.get('vocab_size')} differs from {ref_vocab}; "
                             "merging different vocabularies produces garbage")
        layout = {n: s for n, _, s in folder.layout()}
        missing, extra = sorted(set(ref_layout) - set(layout)), sorted(set(layout) - set(ref_layout))
        if missing or extra:
            raise MergeError(f"{where}: tensor names differ (missing {missing[:3]}, extra {extra[:3]})")
        wrong = [n for n, s in ref_layout.items() if layout[n] != s]
        if wrong:
            raise MergeError(f"{where}: tensor {wrong[0]!r} has shape {list(layout[wrong[0]])}, "
                             f"expected {list(ref_layout[wrong[0]])}")
        tok = _tokenizer_digest(folder)
        if ref_tok and tok and tok != ref_tok:
            raise MergeError(f"{where}: tokenizer vocabulary differs from {reference.path}")


def _read_fp32(folder: ModelFolder, name: str) -> torch.Tensor:
    tensor = folder.read(name).float()
    if not torch.isfinite(tensor).all():
        raise MergeError(f"{folder.path}: tensor {name!r} contains NaN or inf")
    return tensor


def _generators(seed: int, name: str, n: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(zlib.crc32(f"{seed}:{name}:{i}".encode())) for i in range(n)]


def merge_tensor(plan: MergePlan, item: PlannedTensor) -> torch.Tensor:
    if item.dtype not in FLOAT_CODES:
        return plan.reference.read(item.name)
    recipe = plan.recipe
    inputs = TensorMergeInputs(
        name=item.name,
        base=_read_fp32(plan.base, item.name) if plan.base else None,
        models=[_read_fp32(m, item.name) for m in plan.models],
        weights=recipe.weights(),
        densities=recipe.densities(),
        normalize=recipe.parameters.normalize,
        scale=recipe.parameters.scale,
        t=recipe.parameters.t,
        gamma=recipe.parameters.gamma,
        generators=_generators(recipe.seed, item.name, len(plan.models)),
    )
    return plan.method.merge(inputs).to(torch_dtype(item.dtype))


def execute_merge(plan: MergePlan, out: Path, ids: list[str], max_shard_bytes: int | None = None,
                  overwrite: bool = False, quiet: bool = False) -> None:
    """Write the merged model to `out`; `ids` name the merged models in the card (its declared parents)."""
    with staged_dir(Path(out), overwrite) as staging:
        with ShardedWriter(staging, plan.tensors, max_shard_bytes) as writer, Progress(
                transient=True, disable=quiet) as progress:
            task = progress.add_task(f"merge ({plan.method.name})", total=len(plan.tensors))
            for item in plan.tensors:
                writer.write(item.name, merge_tensor(plan, item))
                progress.advance(task)
        copy_side_files(plan.reference, staging)
        if plan.recipe.dtype:
            set_config_dtype(staging, code_for(plan.recipe.dtype))
        recipe_yaml = plan.recipe.to_yaml()
        (staging / RECIPE_FILE).write_text(recipe_yaml)
        card = {"library_name": "transformers", "pipeline_tag": "text-generation",
                **lineage_meta(ids, "merge"), "tags": ["hubindex", "mergekit", "merge"]}
        body = (f"# {Path(out).name}\n\nA {plan.method.name} merge made with hubindex.\n\n"
                f"## Configuration\n\n```yaml\n{recipe_yaml}```")
        write_card(staging, card, body)


def merge(recipe: MergeRecipe, out: Path, resolve: Callable[[str], Path] = Path,
          max_shard_bytes: int | None = None, overwrite: bool = False, quiet: bool = False) -> MergePlan:
    """Plan and run a merge; the card names the models by their ids in the recipe."""
    plan = plan_merge(recipe, resolve)
    execute_merge(plan, out, [m.model for m in recipe.models], max_shard_bytes, overwrite, quiet)
    return plan
