"""`hubindex train`: pretrain tiny bases, finetune (full / LoRA / LoRA merged), merge."""

from __future__ import annotations

from pathlib import Path

import click
from hubindex.cli.options import float_list, split_list
from hubindex.cli.output import err_console, progress_bars

from hubindex.errors import HubindexError, MergeError
from hubindex.ids import id_for_folder

console = err_console
JSON_OPTION = click.option("--json", "as_json", is_flag=True,
                           help="Print the result as JSON on stdout (schemas/trained_model, merged_model).")


def _refuse_existing(out: Path, overwrite: bool) -> None:
    """Before any training: the library only finds out when it saves, minutes later."""
    if out.exists() and not overwrite:
        raise HubindexError(f"{out} already exists (pass --overwrite to replace it)")


def _trained(out: Path, kind: str, parameters: int, loop) -> None:
    from hubindex.train.answers import TrainedModel

    click.echo(TrainedModel(out=str(out), kind=kind, parameters=parameters, steps=loop.steps,
                            first_loss=loop.first_loss, final_loss=loop.final_loss).model_dump_json(indent=2))


@click.group()
def train() -> None:
    """Train and merge models; outputs are standard Hugging Face folders that index like any hub model."""


@train.command()
@click.option("--arch", type=click.Choice(["llama", "gpt2", "qwen2"]), default="llama", show_default=True)
@click.option("--size", type=click.Choice(["tiny", "small", "medium"]), default="tiny", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output model folder.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--steps", type=int, default=None, help="Training steps (default: the size's).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
@JSON_OPTION
def pretrain(arch: str, size: str, out: Path, seed: int, steps: int | None, overwrite: bool, as_json: bool) -> None:
    """Pretrain a tiny base model from scratch on generated text."""
    from hubindex.train.pretrain import pretrain as run

    _refuse_existing(out, overwrite)
    with progress_bars(enabled=not as_json) as progress:
        result = run(arch, size, out, seed, steps=steps, overwrite=overwrite, progress=progress)
    if as_json:
        _trained(out, "pretrain", result.parameters, result.loop)
        return
    console.print(f"wrote {out} ({result.parameters:,} parameters, loss {result.loop.first_loss:.2f} -> "
                  f"{result.loop.final_loss:.2f})")


@train.command()
@click.option("--base", type=click.Path(path_type=Path), required=True, help="Folder of the model to finetune.")
@click.option("--base-id", default=None, help="Hub id of the base for the card (default: its folder's org/name).")
@click.option("--data", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="JSONL with text, prompt/completion or input/output per line.")
@click.option("--domain", default=None, help="A generated text domain instead of --data (see `hubindex zoo domains`).")
@click.option("--docs", type=int, default=1000, show_default=True, help="Documents to generate for --domain.")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--lora-rank", type=int, default=None, help="Train a LoRA adapter of this rank instead of all weights.")
@click.option("--merge-lora", is_flag=True, help="Merge the LoRA into the weights and save a full model.")
@click.option("--steps", type=int, default=60, show_default=True)
@click.option("--lr", type=float, default=None, help="Learning rate (default 1e-3 full, 5e-3 LoRA).")
@click.option("--seq-len", type=int, default=128, show_default=True, help="Tokens per training block.")
@click.option("--batch", type=int, default=16, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True)
@JSON_OPTION
def finetune(base: Path, base_id: str | None, data: Path | None, domain: str | None, docs: int, out: Path,
             lora_rank: int | None, merge_lora: bool, steps: int, lr: float | None, seq_len: int, batch: int,
             seed: int, overwrite: bool, as_json: bool) -> None:
    """Finetune a model: full, LoRA adapter, or LoRA merged into full weights."""
    from hubindex.train.data import domain_texts, read_jsonl
    from hubindex.train.finetune import finetune as run

    if (data is None) == (domain is None):
        raise click.UsageError("give exactly one of --data FILE.jsonl or --domain NAME")
    _refuse_existing(out, overwrite)
    texts = read_jsonl(data) if data else domain_texts(domain, docs, seed)
    lr = lr or (5e-3 if lora_rank else 1e-3)
    with progress_bars(enabled=not as_json) as progress:
        result = run(base, out, texts, seed, steps, lr, base_id or id_for_folder(base), lora_rank=lora_rank,
                     merge_lora=merge_lora, domain=domain, seq_len=seq_len, batch=batch, overwrite=overwrite,
                     progress=progress)
    if as_json:
        _trained(out, result.kind, result.trainable_parameters, result.loop)
        return
    console.print(f"wrote {out} ({result.kind}, {result.trainable_parameters:,} trainable parameters, "
                  f"loss {result.loop.first_loss:.2f} -> {result.loop.final_loss:.2f})")


@train.command()
@click.option("--method", default=None, help="linear, task_arithmetic, ties, dare_ties, dare_linear, slerp, "
              "breadcrumbs, breadcrumbs_ties, model_stock.")
@click.option("--base", type=click.Path(path_type=Path), default=None, help="Base model (task-vector methods, SLERP's "
              "t = 0 end).")
@click.option("--models", multiple=True, help="Model folders to merge (repeat, or comma-separate).")
@click.option("--weights", multiple=True, help="One weight per model (comma-separated or repeated); default 1 each.")
@click.option("--density", multiple=True, help="Fraction kept (TIES/DARE/Breadcrumbs): one value or one per model.")
@click.option("--t", "t", type=float, default=None, help="SLERP interpolation factor (0: the base).")
@click.option("--lambda", "scale", type=float, default=None, help="Scale of the merged task vector.")
@click.option("--dtype", default=None, help="Compute dtype, as in mergekit (float32, float16, bfloat16); "
              "default: the inputs'.")
@click.option("--out-dtype", default=None, help="Output dtype; default: the compute dtype.")
@click.option("--fp32-compute", is_flag=True, help="Compute in float32 whatever --dtype says (hubindex's "
              "compute_dtype key, which mergekit ignores).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of DARE's random drops.")
@click.option("--config", "config", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="A mergekit YAML recipe instead of the options above; its models are folders or hub ids.")
@click.option("--hub-root", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="With --config: resolve model ids as folders under this hub-like root.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="With hub ids: download here instead of huggingface_hub's cache.")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--shard-size", type=int, default=None, help="Split output into shards of at most this many bytes.")
@click.option("--overwrite", is_flag=True)
@JSON_OPTION
def merge(method: str | None, base: Path | None, models: tuple[str, ...], weights: tuple[str, ...],
          density: tuple[str, ...], t: float | None, scale: float | None, dtype: str | None, out_dtype: str | None,
          fp32_compute: bool, seed: int, config: Path | None, hub_root: Path | None, cache_dir: Path | None,
          out: Path, shard_size: int | None, overwrite: bool, as_json: bool) -> None:
    """Merge models tensor by tensor (memory: a few tensors, never whole models).

    With --config, model ids that are not local folders are hub repos (HF_ENDPOINT, HF_TOKEN): every gate
    (architecture, tensor names and shapes, dtypes, vocabulary, tokenizer, base) runs on their configs, safetensors
    headers and tokenizer files before any weights are downloaded."""
    from hubindex.train.merge import load_recipe, parse_recipe
    from hubindex.train.merge import merge as run

    _refuse_existing(out, overwrite)
    if config:
        recipe = load_recipe(config)
        if fp32_compute:
            recipe.compute_dtype = "float32"
        resolve = (lambda ref: hub_root / ref) if hub_root else _resolve_inputs(recipe, cache_dir)
    else:
        if not method or not models:
            raise click.UsageError("give --method and --models (or --config recipe.yml)")
        folders = [Path(m) for m in split_list(models)]
        ids = {id_for_folder(f): f for f in folders}
        if base:
            ids[id_for_folder(base)] = base
        recipe = parse_recipe(_recipe_dict(method, base, folders, float_list(weights, "--weights"),
                                           float_list(density, "--density"), t, scale, dtype, out_dtype,
                                           "float32" if fp32_compute else None, seed))
        resolve = ids.__getitem__
    with progress_bars(enabled=not as_json) as progress:
        plan = run(recipe, out, resolve=resolve, max_shard_bytes=shard_size, overwrite=overwrite, progress=progress)
    if as_json:
        from hubindex.train.answers import MergedModel

        click.echo(MergedModel(out=str(out), method=recipe.merge_method, inputs=recipe.inputs(),
                               tensors=len(plan.tensors)).model_dump_json(indent=2))
        return
    console.print(f"wrote {out} ({recipe.merge_method} of {len(recipe.inputs())} inputs)")


def _resolve_inputs(recipe, cache_dir: Path | None):
    """Local folders as they are; hub ids checked from metadata, then downloaded. Returns ref -> folder."""
    from hubindex.checkpoint import ModelFolder
    from hubindex.train.merge.executor import local_meta
    from hubindex.train.merge.hub_inputs import download, is_hub_id, preflight

    refs = recipe.inputs()
    hub = [r for r in refs if is_hub_id(r)]
    unknown = [r for r in refs if r not in hub and not Path(r).is_dir()]
    if unknown:
        raise MergeError(f"{unknown[0]!r} is neither a model folder nor an org/name hub id")
    if not hub:
        return Path
    from hubindex.hub.source import HubSource, go_online

    user_offline = click.get_current_context().find_root().meta.get("hubindex.user_offline")
    if user_offline and user_offline.strip().lower() not in ("0", "false", "no", "off"):
        raise MergeError(f"HF_HUB_OFFLINE is set and {hub[0]} is not a local folder")
    go_online()  # hubindex's own offline default is for the other commands
    source = HubSource()
    local = {}
    for ref in refs:
        if ref not in hub:
            try:
                local[ref] = local_meta(ref, ModelFolder.open(ref))
            except HubindexError as exc:
                raise MergeError(f"merge input {ref!r}: {exc}") from None
    checked = preflight(recipe, hub, source, local)
    console.print(f"checked {len(hub)} hub models before downloading weights: {checked.bytes_report()}",
                  highlight=False)
    paths = download(source, checked, cache_dir)
    return lambda ref: paths.get(ref, Path(ref))


def _recipe_dict(method: str, base: Path | None, folders: list[Path], weights: list[float],
                 densities: list[float], t: float | None, scale: float | None, dtype: str | None,
                 out_dtype: str | None, compute_dtype: str | None, seed: int) -> dict:
    n = len(folders)
    if weights and len(weights) != n:
        raise MergeError(f"--weights has {len(weights)} values for {n} models")
    if densities and len(densities) not in (1, n):
        raise MergeError(f"--density has {len(densities)} values; give one, or one per model ({n})")
    from hubindex.train.merge.methods import get_method

    takes_weight = get_method(method).param("weight") is not None
    models = []
    for i, folder in enumerate(folders):
        # mergekit requires a weight wherever the method takes one: written out, so the recipe runs there too
        params = {"weight": (weights[i] if weights else 1.0) if takes_weight else None,
                  "density": (densities[i] if len(densities) == n else densities[0]) if densities else None}
        models.append({"model": id_for_folder(folder), "parameters": {k: v for k, v in params.items()
                                                                       if v is not None}})
    parameters = {k: v for k, v in (("t", t), ("lambda", scale)) if v is not None}
    return {"merge_method": method, "base_model": id_for_folder(base) if base else None, "models": models,
            "parameters": parameters, "dtype": dtype, "out_dtype": out_dtype, "compute_dtype": compute_dtype,
            "seed": seed}
