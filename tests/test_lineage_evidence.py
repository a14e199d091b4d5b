"""Pairwise weight evidence on real optimizer runs: Adam's displacement cap tells a parent from a sibling."""

from __future__ import annotations

import numpy as np
import torch

from hubindex.lineage.evidence import increment_tail
from hubindex.lineage.neighbours import nearest_members


def _adam_run(start: np.ndarray, target: np.ndarray, seed: int, lr: float, steps: int = 60) -> np.ndarray:
    """Fit noisy minibatch targets with AdamW (no weight decay), as a finetune would."""
    generator = torch.Generator().manual_seed(seed)
    weights = torch.nn.Parameter(torch.tensor(start))
    optimizer = torch.optim.AdamW([weights], lr=lr, weight_decay=0.0)
    goal = torch.tensor(target)
    for _ in range(steps):
        noise = torch.randn(goal.shape, generator=generator, dtype=goal.dtype)
        loss = ((weights - goal - 0.5 * noise) ** 2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return weights.detach().numpy().copy()


def test_one_run_has_a_capped_step_and_the_difference_of_two_runs_does_not():
    rng = np.random.default_rng(0)
    base = rng.normal(size=20_000)
    domain = base + rng.normal(size=20_000)  # both finetunes head for the same domain
    first = _adam_run(base, domain, seed=1, lr=1e-3)
    sibling = _adam_run(base, domain, seed=2, lr=2e-3)
    child = _adam_run(first, domain, seed=3, lr=1e-3)
    one_run = [increment_tail(first, base), increment_tail(sibling, base), increment_tail(child, first)]
    assert max(one_run) < 1.15, one_run
    # The sibling "continues" the first finetune by distance and angle, but its step from it is no single run.
    assert increment_tail(sibling, first) > max(one_run) + 0.1


def test_nearest_members_equal_brute_force_beyond_the_projection_size():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(300, 64)) @ rng.normal(size=(64, 400))  # 300 > 128 projected dimensions
    found = nearest_members(points, k=10)
    exact = np.linalg.norm(points[:, None] - points[None], axis=2)
    np.fill_diagonal(exact, np.inf)
    truth = np.argsort(exact, axis=1)[:, :10]
    recall = np.mean([len(set(found.index[i]) & set(truth[i])) / 10 for i in range(len(points))])
    assert recall >= 0.95, recall
    assert np.allclose(found.distance, np.take_along_axis(exact, found.index, axis=1))
