"""Build a zoo from its plan: each model in its own process slot, parents first, resumable.

Every model is trained with one torch thread, so its weights do not depend on how many run side by side: a zoo
is bit-identical for a seed whatever `jobs` is. A finished model is recorded in `.zoo-build.json` with its spec
digest; a rerun skips it, and an interrupted build picks up where it stopped.
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from hubindex import __version__
from hubindex.errors import HubindexError
from hubindex.ids import model_path
from hubindex.progress import ProgressCallback
from hubindex.zoo.clock import apply_clock, shown_times
from hubindex.zoo.realistic import DIMS as REALISTIC_DIMS
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
    profile: str = "reference"
    clock: str = "real"  # only file times: a zoo rebuilt with another clock is re-stamped, never retrained

    def as_dict(self) -> dict:
        # As zoo.json holds it (JSON has no tuples), so a zoo asked for with domains as a tuple is the same zoo.
        domains = None if self.domains is None else list(self.domains)
        return {"seed": self.seed, "size": self.size, "domains": domains,
                "strip_metadata": self.strip_metadata, "families": self.families, "profile": self.profile}

    def plan(self) -> list[ModelSpec]:
        return plan_zoo(self.seed, self.size, self.domains, self.strip_metadata, self.families, self.profile)

    @property
    def dims(self) -> str:
        """The model dimensions (a hubindex.train size) its models are made with."""
        return REALISTIC_DIMS if self.profile == "realistic" else self.size


def build_zoo(root: Path, options: ZooOptions, jobs: int = 1, force: bool = False,
              progress: ProgressCallback | None = None) -> dict:
    """Build (or finish building) the zoo under `root`; returns the zoo.json summary it writes. `progress` hears
    `("zoo", models done, models planned)` as models finish."""
    root = Path(root)
    report_progress = progress or (lambda stage, done, total: None)
    plan = options.plan()
    shown_times(plan, options.clock)  # an unknown clock fails before anything is built
    _claim(root, options, force)
    state_path = root / STATE_FILE
    state: dict[str, str] = json.loads(state_path.read_text()) if state_path.exists() else {}
    todo = [s for s in plan if state.get(s.id) != s.digest() or not model_path(root, s.id).is_dir()]
    started = time.perf_counter()
    done = {s.id for s in plan} - {s.id for s in todo}
    report_progress("zoo", len(done), len(plan))
    with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=get_context("spawn"),
                             initializer=_init_worker) as pool:
        running: dict[Future, ModelSpec] = {}
        pending = list(todo)
        while pending or running:
            ready = sorted((s for s in pending if _deps(s) <= done), key=lambda s: s.relation != "root")
            for spec in ready[: max(1, jobs) - len(running)]:  # roots first: they train longest and unlock most
                pending.remove(spec)
                running[pool.submit(make_model, str(root), spec, options.dims, options.strip_metadata)] = spec
            if not running:
                raise HubindexError(f"zoo plan has unmet dependencies: {[s.id for s in pending][:3]}")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                spec = running.pop(future)
                future.result()  # a failure stops the build; finished models stay recorded
                done.add(spec.id)
                state[spec.id] = spec.digest()
                state_path.write_text(json.dumps(state, indent=1, sort_keys=True))
                report_progress("zoo", len(done), len(plan))
    apply_clock(root, plan, options.clock)
    truth = truth_from_plan(plan)
    (root / TRUTH_FILE).write_text(json.dumps(truth, indent=1) + "\n")
    summary = {**options.as_dict(), "clock": options.clock, "complete": True, "hubindex_version": __version__,
               "models": len(plan), "built_models": len(todo), "build_seconds": round(time.perf_counter() - started, 1)}
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
        # Zoos built before profiles existed are reference zoos.
        if {k: previous.get(k, "reference" if k == "profile" else None) for k in options.as_dict()} != \
                options.as_dict():
            raise HubindexError(f"{root} holds another zoo ({_describe(previous)}); use --force to rebuild it")
    root.mkdir(parents=True, exist_ok=True)
    zoo_file.write_text(json.dumps({**options.as_dict(), "complete": False}, indent=1) + "\n")


def _describe(zoo: dict) -> str:
    return (f"profile {zoo.get('profile', 'reference')}, size {zoo.get('size')}, seed {zoo.get('seed')}, "
            f"strip_metadata {zoo.get('strip_metadata')}")


def _init_worker() -> None:
    import torch
    from transformers.utils import logging

    torch.set_num_threads(1)
    logging.set_verbosity_error()  # the zoo's own progress callback says what happens
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


def _pretrain(root: Path, spec: ModelSpec, size: str, out: Path, shard: int | None) -> None:
    from hubindex.train.pretrain import pretrain

    p = spec.params
    pretrain(spec.arch, size, out, p["seed"], steps=p.get("steps"), max_shard_bytes=shard, overwrite=True,
             quiet=True, mix=p.get("mix"), tie_embeddings=p.get("tie"))


def _finetune(root: Path, spec: ModelSpec, size: str, out: Path, shard: int | None) -> None:
    from hubindex import corpus
    from hubindex.train.architectures import get_size
    from hubindex.train.data import domain_texts
    from hubindex.train.finetune import finetune
    from hubindex.train.loop import Recipe

    p, dims = spec.params, get_size(size)
    n_docs = max(300, p["steps"] * dims.batch * dims.seq_len // TOKENS_PER_DOC)
    # Continued pretraining reads a fresh pretraining mix; every other finetune reads its domain.
    texts = corpus.pretraining_mix(n_docs, p["seed"]) if p.get("corpus") == "mix" else \
        domain_texts(spec.domain, n_docs, p["seed"])
    finetune(model_path(root, spec.parents[0]), out, texts, p["seed"], p["steps"], p["lr"], spec.parents[0],
             lora_rank=p.get("rank"), merge_lora=spec.method == "lora_merged", domain=spec.domain,
             seq_len=dims.seq_len, batch=dims.batch, max_shard_bytes=shard, overwrite=True, quiet=True,
             recipe=Recipe.from_params(p), lora_targets=p.get("targets"), added_tokens=p.get("added_tokens"),
             pad_vocab_to=p.get("pad_to"), save_dtype=p.get("save_dtype"))


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
                           "parameters": {"t": p["t"]} if "t" in p else {"normalize": True} if dare else {},
                           # bf16 merges of the realistic zoo: computed in the inputs' fp32, written in bf16
                           "out_dtype": p.get("dtype")})
    merge(recipe, out, resolve=lambda ref: model_path(root, ref), max_shard_bytes=shard, overwrite=True,
          quiet=True)


def _resave(root: Path, spec: ModelSpec, size: str, out: Path, shard: int | None) -> None:
    from hubindex.train.convert import convert_dtype, quantize_int8

    source = model_path(root, spec.parents[0])
    if spec.method == "int8":
        quantize_int8(source, out, spec.parents[0], max_shard_bytes=shard, overwrite=True)
    else:
        convert_dtype(source, out, RESAVE_DTYPES[spec.method], spec.parents[0], max_shard_bytes=shard,
                      overwrite=True)


RESAVE_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "reshard": "float32"}  # reshard: same dtype, other shards
_MAKERS = {"pretrain": _pretrain, "full": _finetune, "lora": _finetune, "lora_merged": _finetune,
           "merge": _merge, "int8": _resave, **dict.fromkeys(RESAVE_DTYPES, _resave)}
