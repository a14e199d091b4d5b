"""Two SGD runs of one base (parents.uncapped_siblings): SGD moves each coordinate in proportion to its gradient,
so the base's largest gradients dominate every SGD run from it, whatever the domain. The longer run lies beyond
the shorter by distance and angle and holds its step evenly, as a child would; only the missing displacement cap
says that nothing in the weights names the shorter one, so the root stays the parent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from hubindex.lineage.context import Context
from hubindex.lineage.engine import infer_family
from hubindex.lineage.evidence import UNCAPPED, increment_tail
from hubindex.lineage.family import Family
from hubindex.lineage.parents import BETWEEN, uncapped_siblings
from tests.toy_family import toy_family

TENSORS, WIDTH = 8, 512
BOUNDS = np.arange(TENSORS + 1) * WIDTH
IDS = ["t/root", "t/sgd-a", "t/sgd-b", "t/adam"]


def _family(weights: np.ndarray) -> Family:
    return toy_family(IDS, weights, BOUNDS, datetime(2024, 1, 1, tzinfo=UTC), timedelta(days=1))


def _zoo() -> np.ndarray:
    """Root; SGD runs on two domains at lr 0.02 and 0.05 (the base's heavy-tailed gradient plus a domain part and
    minibatch noise, both lighter); an Adam-like run (capped: cap * tanh) for contrast."""
    rng = np.random.default_rng(3)
    n = TENSORS * WIDTH
    root = 0.05 * rng.standard_normal(n)
    gradient = 0.02 * rng.standard_t(2, n)  # the base's own gradient: a few coordinates far above the rest

    def sgd(lr: float) -> np.ndarray:
        return root - lr * (gradient + 0.01 * rng.standard_normal(n) + 0.004 * rng.standard_normal(n))

    adam = root + 0.004 * np.tanh((rng.standard_normal(n) + 0.8 * rng.standard_normal(n)) / 3.0)
    return np.stack([root, sgd(0.02), sgd(0.05), adam])


def test_the_longer_of_two_sgd_runs_of_one_base_keeps_the_base():
    weights = _zoo()
    root, short, long, adam = weights
    # What distance, angle and tail see: the longer run beyond the shorter, nearer it than the root, its step
    # from the shorter one no longer-tailed than from the root, both steps uncapped.
    cosine = float((root - short) @ (long - short)) / (np.linalg.norm(root - short) * np.linalg.norm(long - short))
    assert cosine <= BETWEEN
    assert np.linalg.norm(long - short) < np.linalg.norm(long - root)
    assert increment_tail(short, root) >= UNCAPPED and increment_tail(long, root) >= UNCAPPED
    assert increment_tail(long, short) <= increment_tail(long, root)
    found = {e.model: e for e in infer_family(_family(weights))}
    assert found["t/sgd-b"].parents == ["t/root"], found["t/sgd-b"].evidence
    assert found["t/sgd-b"].evidence["sibling_of"] == "t/sgd-a" and found["t/sgd-b"].evidence["uncapped_runs"]
    assert found["t/sgd-a"].parents == ["t/root"]
    # A capped (Adam) run is never taken for an uncapped sibling, nor the model when its own step is capped.
    ctx = Context(_family(weights))
    ctx.parent[[1, 2, 3]] = 0
    assert increment_tail(adam, root) < UNCAPPED
    assert uncapped_siblings(ctx, 2, 1) and not uncapped_siblings(ctx, 2, 3) and not uncapped_siblings(ctx, 3, 1)
