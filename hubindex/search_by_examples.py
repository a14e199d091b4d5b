"""Search by examples: embed a task given as a few input/output pairs, the way Delta Activations embeds a model.

A short full finetune of the family's base on the examples (repeated to fill a few batches) gives a model whose
activation shift on the method's probes, against the base, is the task's embedding; its nearest models in the
family's delta space are the models tuned for something like the task. The finetuned weights live in a temporary
folder and are deleted afterwards. `top_k_share` measures it: given examples of a domain, the share of the top-k
answers that have that domain (bench/embedding_eval.py --examples runs it per family and domain).

It sits on the query side, above the packages it uses (catalog, embed, train), so none of them imports it.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from hubindex.catalog import Catalog
from hubindex.catalog.answers import SimilarHit
from hubindex.catalog.spaces import Spaces, delta_space
from hubindex.embed.methods import EmbeddingMethod, get_method
from hubindex.errors import HubindexError

STEPS, LR, SEQ_LEN, BATCH = 30, 1e-3, 64, 8
FILL_CHARS = 6 * BATCH * SEQ_LEN * 4  # about six batches of tokens at ~4 characters per token


class TaskExample(BaseModel):
    input: str = Field(min_length=1, max_length=2000)
    output: str = Field(min_length=1, max_length=2000)


class ExamplesQuery(BaseModel):
    """`POST /search/examples`: a task as a handful of examples, and the family base to embed it against."""

    base: str = Field(max_length=200, description="family root (base model) the task is embedded against")
    examples: list[TaskExample] = Field(min_length=2, max_length=32)
    k: int = Field(default=10, ge=1, le=100)
    method: Literal["hubindex", "paper"] = "hubindex"


def base_folder(catalog: Catalog, base_id: str) -> Path:
    """The local weights of a family root, the only kind of model a task is embedded against."""
    row = catalog.require(base_id)
    if row["kind"] != "model" or row["family"] != base_id or not row["path"]:
        raise HubindexError(f"{base_id} is not a family root with local weights: embed examples against a base "
                            "model (see `GET /models?...` for each model's family)")
    return Path(row["path"])


def embed_examples(catalog: Catalog, base_id: str, examples: list[TaskExample], method_name: str) -> np.ndarray:
    return embed_examples_at(base_folder(catalog, base_id), base_id, examples, method_name)


def embed_examples_at(base: Path, base_id: str, examples: list[TaskExample], method_name: str) -> np.ndarray:
    """The task's Delta Activations against the base at `base` (what a gpu worker runs for a queued search)."""
    return task_vector(base, base_id, examples, get_method(method_name))


def task_vector(base: Path, base_id: str, examples: list[TaskExample], method: EmbeddingMethod,
                base_features: dict | None = None) -> np.ndarray:
    """The examples' embedding: a short finetune of `base` on them, read like any model of the family
    (`base_features`: the base's probe features when the caller has them already)."""
    cache = {method.name: base_features} if base_features is not None else {}
    return task_vectors(base, base_id, examples, (method,), cache)[method.name]


def task_vectors(base: Path, base_id: str, examples: list[TaskExample], methods: tuple[EmbeddingMethod, ...],
                 base_features: dict[str, dict] | None = None) -> dict[str, np.ndarray]:
    """The examples' embedding by each of `methods`, from ONE short finetune: the finetune does not depend on the
    recipe (same base, texts and seed), only the read-out does. `base_features`: {method name: the base's probe
    features}, filled here for the methods it lacks, so a caller embedding many tasks against one base (a benchmark,
    a worker) keeps it and runs the base once per method instead of once per task."""
    from hubindex.embed.activations import load_probe_model, probe_features  # torch: only when a task is embedded

    cache = {} if base_features is None else base_features
    with tempfile.TemporaryDirectory(prefix="hubindex-task-") as scratch:
        out = Path(scratch) / "task"
        task_model(base, base_id, examples, out)
        tuned = load_probe_model(out, tokenizer_from=base)
        tuned_features = {m.name: probe_features(tuned, m.probes, m.batch_size) for m in methods}
        del tuned
    base_probe = None
    for method in methods:
        if method.name not in cache:
            if base_probe is None:  # loaded once, for the methods whose base features the caller lacks
                base_probe = load_probe_model(base)
            cache[method.name] = probe_features(base_probe, method.probes, method.batch_size)
    return {m.name: m.delta(tuned_features[m.name], cache[m.name]) for m in methods}


def task_model(base: Path, base_id: str, examples: list[TaskExample], out: Path) -> Path:
    """The short finetune of `base` on the examples (repeated to fill a few batches), written to `out`."""
    from hubindex.train.finetune import finetune

    texts = [f"{e.input} {e.output}" for e in examples]
    texts = texts * max(1, math.ceil(FILL_CHARS / sum(len(t) + 1 for t in texts)))
    finetune(base, out, texts, seed=0, steps=STEPS, lr=LR, base_id=base_id, seq_len=SEQ_LEN, batch=BATCH, quiet=True)
    return out


def top_k_share(task: np.ndarray, vectors: dict[str, np.ndarray], domains: dict[str, set[str]], domain: str,
                k: int = 5) -> tuple[float, float]:
    """(share of the k models nearest to `task` (cosine) that have `domain`, the best share possible: fewer than k
    models of the domain cap it). `domains`: each model's domains (a merge has its sources')."""
    ids = list(vectors)
    unit = np.stack([vectors[m] / max(float(np.linalg.norm(vectors[m])), 1e-30) for m in ids])
    order = np.argsort(-(unit @ (task / max(float(np.linalg.norm(task)), 1e-30))))[:k]
    share = float(np.mean([domain in domains[ids[i]] for i in order]))
    best = min(k, sum(domain in domains[m] for m in ids)) / min(k, len(ids))
    return share, best


def nearest_to_examples(catalog: Catalog, query: ExamplesQuery, embed=embed_examples) -> list[SimilarHit]:
    """`embed(catalog, base, examples, method)` gives the task's vector: here, or on a worker (api/)."""
    spaces = Spaces.open(catalog.spaces_dir)
    space = delta_space(query.method, query.base)
    if not spaces.has(space):
        raise HubindexError(f"no {query.method} delta space for base {query.base!r}: is it a family root?")
    vector = embed(catalog, query.base, query.examples, query.method)
    norm = float(np.linalg.norm(vector))
    if not norm:
        raise HubindexError("the examples did not move the base's activations; give more or longer examples")
    # The space holds each model's read-out (spaces.read_out); a task, a finetune of the root, is read as itself.
    hits = spaces.search(space, vector / norm, query.k)
    placed = catalog.placements([m for m, _ in hits])
    return [SimilarHit(model=m, score=s, by="delta", distance=1 - s, family=placed[m].family, kind=placed[m].kind)
            for m, s in hits]
