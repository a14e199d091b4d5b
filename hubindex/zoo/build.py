"""Build a zoo from its plan: each model in its own process slot, parents first, resumable.

Every model is trained with one torch thread, so its weights do not depend on how many run side by side: a zoo
is bit-identical for a seed whatever `jobs` is. A finished model is recorded in `.zoo-build.json` with its spec
digest; a rerun skips it, and an interrupted build picks up where it stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hubindex import __version__
from hubindex.errors import HubindexError
from hubindex.ids import model_path
from hubindex.zoo.spec import ModelSpec, plan_zoo
from hubindex.zoo.truth import TRUTH_FILE, truth_from_plan

STATE_FILE = ".zoo-build.json"
ZOO_FILE = "zoo.json"
TOKENS_PER_DOC = 50


@dataclass(frozen=True)
class ZooOptions:
    seed: int
    size: str
    domains: list[str] | None = None
    strip_metadata: bool = False
    families: int | None = None

    def as_dict(self) -> dict:
        return {"seed": self.seed, "size": self.size, "domains": self.domains,
                "strip_metadata": self.strip_metadata, "families": self.families}


def build_zoo(root: Path, options: ZooOptions, jobs: int = 1, force: bool = False,
              console: Console | None = None) -> dict:
    """Build (or finish building) the zoo under `root`; returns the zoo.json summary it writes."""
    root = Path(root)
    console = console or Console(stderr=True)
    plan = plan_zoo(options.seed, options.size, options.domains, options.strip_metadata, options.families)
    _claim(root, options, force)
    state_path = root / STATE_FILE
    state: dict[str, str] = json.loads(state_path.read_text()) if state_path.exists() else {}
    todo = [s for s in plan if state.get(s.id) != s.digest() or not model_path(root, s.id).is_dir()]
    started = time.perf_counter()
    done = {s.id for s in plan} - {s.id for s in todo}
    columns = (TextColumn("zoo {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress, ProcessPoolExecutor(
        max_workers=max(1, jobs), mp_context=get_context("spawn"), initializer=_init_worker
    ) as pool:
        task = progress.add_task(f"{options.size} seed {options.seed}", total=len(plan), completed=len(done))
        running: dict[Future, ModelSpec] = {}
        pending = list(todo)
        while pending or running:
            for spec in [s for s in pending if _deps(s) <= done][: max(1, jobs) - len(running)]:
                pending.remove(spec)
                running[pool.submit(make_model, str(root), spec, options.size, options.strip_metadata)] = spec
            if not running:
                raise HubindexError(f"zoo plan has unmet dependencies: {[s.id for s in pending][:3]}")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                spec = running.pop(future)
                future.result()  # a failure stops the build; finished models stay recorded
                done.add(spec.id)
                state[spec.id] = spec.digest()
                state_path.write_text(json.dumps(state, indent=1, sort_keys=True))
                progress.update(task, advance=1)
                progress.console.print(f"  {spec.relation:<9} {spec.id}", highlight=False)
    truth = truth_from_plan(plan)
    (root / TRUTH_FILE).write_text(json.dumps(truth, indent=1) + "\n")
    summary = {**options.as_dict(), "complete": True, "hubindex_version": __version__, "models": len(plan),
               "built_models": len(todo), "build_seconds": round(time.perf_counter() - started, 1)}
    (root / ZOO_FILE).write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _deps(spec: ModelSpec) -> set[str]:
    return set(spec.parents) | ({spec.params["base"]} if "base" in spec.params else set())


def _claim(root: Path, options: ZooOptions, force: bool) -> None:
    """A folder holds one zoo: refuse to mix two plans unless --force wipes the old one."""
    zoo_file = root / ZOO_FILE
    is_zoo = zoo_file.exists() or (root / STATE_FILE).exists()
    if root.exists() and any(root.iterdir()) and not is_zoo:
        raise HubindexError(f"{root} is not empty and is not a zoo; choose an empty folder")
    if force and root.exists():
        shutil.rmtree(root)  # only ever a zoo folder, checked above
    elif zoo_file.exists():
        previous = json.loads(zoo_file.read_text())
        if {k: previous.get(k) for k in options.as_dict()} != options.as_dict():
            raise HubindexError(f"{root} holds another zoo ({_describe(previous)}); use --force to rebuild it")
    root.mkdir(parents=True, exist_ok=True)
    zoo_file.write_text(json.dumps({**options.as_dict(), "complete": False}, indent=1) + "\n")


def _describe(zoo: dict) -> str:
    return f"size {zoo.get('size')}, seed {zoo.get('seed')}, strip_metadata {zoo.get('strip_metadata')}"


def _init_worker() -> None:
    import torch
    from transformers.utils import logging

    torch.set_num_threads(1)
    logging.set_verbosity_error()  # the zoo's own progress bar says what happens
    logging.disable_progress_bar()


def make_model(root: str, spec: ModelSpec, size: str, strip: bool) -> None:
    """Make one model of the plan (runs in a worker process)."""
    from hubindex.train.architectures import get_size
    from hubindex.zoo.strip import strip_metadata

    root_path = Path(root)
    out = model_path(root_path, spec.id)
    shard = get_size(size).shard_bytes if spec.sharded else None
    _MAKERS[spec.method if spec.relation != "merge" else "merge"](root_path, spec, size, out, shard)
    if strip:
        strip_metadata(out)
    stamp = datetime.strptime(spec.created_at, "%Y-%m-%dT%H:%M:%SZ").timestamp()
    for path in [out, *out.rglob("*")]:
        os.utime(path, (stamp, stamp))


def _pretrain(root: Path, spec: ModelSpec, size: str, out: Path, shard: int | None) -> None:
    from hubindex.train.pretrain import pretrain

    pretrain(spec.arch, size, out, spec.params["seed"], max_shard_bytes=shard, overwrite=True, quiet=True)


def _finetune(root: Path, spec: ModelSpec, size: str, out: Path, shard: int | None) -> None:
    from hubindex.train.architectures import get_size
    from hubindex.train.data import domain_texts
    from hubindex.train.finetune import finetune

    p, dims = spec.params, get_size(size)
    n_docs = max(300, p["steps"] * dims.batch * dims.seq_len // TOKENS_PER_DOC)
    texts = domain_texts(spec.domain, n_docs, p["seed"])
    finetune(model_path(root, spec.parents[0]), out, texts, p["seed"], p["steps"], p["lr"], spec.parents[0],
             lora_rank=p.get("rank"), merge_lora=spec.method == "lora_merged", domain=spec.domain,
             seq_len=dims.seq_len, batch=dims.batch, max_shard_bytes=shard, overwrite=True, quiet=True)


def _merge(root: Path, spec: ModelSpec, size: str, out: Path, shard: int | None) -> None:
    from hubindex.train.merge import merge, parse_recipe

    p = spec.params
    weights = p.get("weights") or [None] * len(spec.parents)
    models = [{"model": m, "parameters": {"weight": w, "density": p.get("density")}}
              for m, w in zip(spec.parents, weights, strict=True)]
    # DARE as the zoo has always merged it (normalized, survivors times 1/density): explicit, since mergekit's
    # defaults differ (no normalize, L1-norm rescale) and lineage's exact-ratio evidence relies on these.
    dare = {"dare_rescale": "inverse_density"} if spec.method.startswith("dare") else {}
    recipe = parse_recipe({"merge_method": spec.method, "models": models, "seed": p["seed"], **dare,
                           "base_model": None if spec.method in ("slerp", "linear") else p["base"],
                           "parameters": {"t": p["t"]} if "t" in p else {"normalize": True} if dare else {}})
    merge(recipe, out, resolve=lambda ref: model_path(root, ref), max_shard_bytes=shard, overwrite=True,
          quiet=True)


def _resave(root: Path, spec: ModelSpec, size: str, out: Path, shard: int | None) -> None:
    from hubindex.train.convert import convert_dtype, quantize_int8

    source = model_path(root, spec.parents[0])
    if spec.method == "int8":
        quantize_int8(source, out, spec.parents[0], max_shard_bytes=shard, overwrite=True)
    else:
        convert_dtype(source, out, "bfloat16", spec.parents[0], max_shard_bytes=shard, overwrite=True)


_MAKERS = {"pretrain": _pretrain, "full": _finetune, "lora": _finetune, "lora_merged": _finetune,
           "merge": _merge, "bf16": _resave, "int8": _resave}
