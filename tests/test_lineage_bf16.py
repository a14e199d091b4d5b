"""Children of bf16-saved finetunes (parents.py): a child trained on another domain partly undoes its parent's short
step, so the parent lies beside it (acute angle) and a little farther than a shorter run of the child's domain; the
displacement cap still names it, and the uneven share of its step the child keeps does not reject it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from hubindex.lineage.context import Context
from hubindex.lineage.engine import infer_family
from hubindex.lineage.evidence import increment_tail, round_bf16
from hubindex.lineage.family import Family
from hubindex.lineage.parents import BETWEEN, held_whole
from hubindex.lineage.runs import SPREAD_MAX

TENSORS, WIDTH = 8, 512
BOUNDS = np.arange(TENSORS + 1) * WIDTH
UNEVEN = np.repeat([0.2, 1.8, 0.4, 1.6, 0.3, 1.7, 0.5, 1.5], WIDTH)  # a share per tensor, mean 1


def _run(rng: np.random.Generator, direction: np.ndarray, cap: float, undo: np.ndarray | float = 0.0,
         undone: np.ndarray | None = None) -> np.ndarray:
    """One Adam-like run: cap * tanh(drive / 3) per coordinate (about a tenth of the coordinates near the cap, so
    its step has a capped tail and the sum of two runs has not). `undo` pulls the drive against `undone` (a
    parent's step divided by its cap): a run on another domain partly undoing what its parent learnt."""
    drive = direction + 0.8 * rng.standard_normal(TENSORS * WIDTH)
    if undone is not None:
        drive = drive - undo * undone
    return cap * np.tanh(drive / 3.0)


def _family(weights: np.ndarray, ids: list[str], dtypes: list[str]) -> Family:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = {m: {"id": m, "created_at": start + timedelta(days=i), "dtype": dtypes[i], "declared_base": None,
                "adapter_base": None, "base_source": None, "kind": "model", "base": None, "family": ids[0]}
            for i, m in enumerate(ids)}
    return Family(root=ids[0], ids=ids, raw=weights.astype(np.float32), scaled=weights, rows=rows, adapters=[],
                  kurtosis=np.zeros(len(ids)), bounds=BOUNDS)


def _zoo(undo: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Root, a short bf16-saved finetune of it (domain A), a short finetune of the root on domain B, and the bf16
    finetune's child on domain B (twice the cap) undoing `undo` of its parent's step. Also the parent's step."""
    rng = np.random.default_rng(0)
    root = 0.05 * rng.standard_normal(TENSORS * WIDTH)
    domain_a, domain_b = rng.standard_normal(TENSORS * WIDTH), rng.standard_normal(TENSORS * WIDTH)
    step = _run(rng, domain_a, 0.004)
    parent = round_bf16(root + step)
    shorter = root + _run(rng, domain_b, 0.005)
    child = parent + _run(rng, domain_b, 0.008, undo, step / 0.004)
    return np.stack([root, parent, shorter, child]), step


IDS = ["t/root", "t/bf16-parent", "t/short-b", "t/child"]
DTYPES = ["F32", "BF16", "F32", "F32"]


def test_a_child_undoing_part_of_its_bf16_parents_step_is_given_that_parent():
    weights, _ = _zoo(0.5)
    root, parent, shorter, child = weights
    distance = {name: float(np.linalg.norm(child - w)) for name, w in zip(IDS, weights, strict=True)}
    cosine = float((root - parent) @ (child - parent)) / (np.linalg.norm(root - parent) * distance["t/bf16-parent"])
    # What betweenness and distance see: the parent beside the child, farther than the root's short run of the
    # child's domain; the displacement cap tells the truth.
    assert cosine > BETWEEN
    assert distance["t/short-b"] < distance["t/bf16-parent"] < distance["t/root"]
    assert increment_tail(child, parent) + 0.15 < min(increment_tail(child, shorter), increment_tail(child, root))
    found = {e.model: e for e in infer_family(_family(weights, IDS, DTYPES))}
    assert found["t/child"].parents == ["t/bf16-parent"], found["t/child"].evidence
    assert found["t/child"].evidence["beside_over"] == "t/short-b"
    assert found["t/short-b"].parents == ["t/root"] and found["t/bf16-parent"].parents == ["t/root"]


def test_a_parent_whose_step_is_kept_unevenly_stays_unless_its_own_parent_is_the_better_single_run():
    # The child undoes its parent's step unevenly, tensor by tensor: the held-spread test alone would reject it.
    weights, step = _zoo(0.9 * UNEVEN)
    root = weights[0]
    # A run of the root beside the parent: holds an uneven share of the parent's step, and is one run from the root.
    beside = root + UNEVEN * step + _run(np.random.default_rng(1), np.zeros(TENSORS * WIDTH), 0.008)
    weights = np.vstack([weights, beside])
    ctx = Context(_family(weights, [*IDS, "t/beside"], [*DTYPES, "F32"]))
    ctx.parent[[1, 2]] = 0  # both finetunes decided from the root
    child_tail = increment_tail(weights[3], weights[1])
    held, spread = held_whole(ctx, 3, 1, child_tail)
    assert spread is not None and spread > SPREAD_MAX and held
    held, spread = held_whole(ctx, 4, 1, increment_tail(weights[4], weights[1]))
    assert spread is not None and spread > SPREAD_MAX and not held
