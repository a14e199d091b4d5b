"""Whole-run evidence (lineage/runs.py): a child holds its parent's step in every tensor, a run beside it does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from hubindex.fingerprint.sampling import sample_counts
from hubindex.fingerprint.signature import split_samples
from hubindex.lineage.engine import infer_family
from hubindex.lineage.family import Family, tensor_bounds
from hubindex.lineage.runs import SPREAD_MAX, held_spread
from tests.toy_family import toy_family

TENSORS, WIDTH = 8, 512
BOUNDS = np.arange(TENSORS + 1) * WIDTH
# How much of a continued-pretraining step a run of another domain shares, tensor by tensor: about all of it on
# average (so by distance and angle it lies beyond that run), but unevenly.
SHARES = np.repeat([0.3, 1.7, 0.5, 1.5, 0.4, 1.6, 0.6, 1.4], WIDTH)


def _capped(rng: np.random.Generator, size: float) -> np.ndarray:
    """An Adam-like step: every coordinate moves by about the same cap (a clean tail, so tails decide nothing)."""
    return size * rng.choice([-1.0, 1.0], TENSORS * WIDTH) * rng.uniform(0.8, 1.0, TENSORS * WIDTH)


def test_a_child_holds_its_parents_step_in_every_tensor_and_a_run_beside_it_does_not():
    rng = np.random.default_rng(0)
    parent_step = _capped(rng, 0.01)
    child_step = parent_step + _capped(rng, 0.02)  # its own step, in another domain, twice as long
    beside = SHARES * parent_step + _capped(rng, 0.02)
    assert held_spread(child_step, parent_step, BOUNDS) < 0.1 < SPREAD_MAX < held_spread(beside, parent_step, BOUNDS)
    # Tensors without samples (empty segments) and tensors the parent never moved count for nothing.
    gaps = np.concatenate([[0], BOUNDS[:4], BOUNDS[3:]])
    assert held_spread(child_step, parent_step, gaps) == held_spread(child_step, parent_step, BOUNDS)
    assert held_spread(child_step, np.zeros_like(parent_step), BOUNDS) == 0.0


def _family(weights: np.ndarray, bounds: np.ndarray | None) -> Family:
    ids = ["t/root", "t/continued", "t/long"]
    return toy_family(ids, weights, bounds, datetime(2024, 1, 1, tzinfo=UTC), timedelta(days=1))


def test_a_long_run_beside_a_continued_pretraining_run_is_given_their_common_root():
    """The long run lies beyond the continued run by angle (about 90 degrees at it) and is nearer to it than to the
    root, with clean tails from both: only the uneven share of the continued run's step, tensor by tensor, says
    that it never started there (s110's 300-step medical run beside its root's continued pretraining)."""
    rng = np.random.default_rng(1)
    root = rng.standard_normal(TENSORS * WIDTH)
    continued = _capped(rng, 0.01)
    long_run = SHARES * continued + _capped(rng, 0.025)
    weights = np.stack([root, root + continued, root + long_run])
    assert np.linalg.norm(long_run - continued) < np.linalg.norm(long_run)  # nearer the continued run
    found = {e.model: e for e in infer_family(_family(weights, BOUNDS))}
    assert found["t/long"].parents == ["t/root"], found["t/long"]
    assert found["t/long"].evidence["not_held"] == "t/continued"
    # Without tensor structure (synthetic sketches) the test is not made, and distance alone decides.
    assert {e.model: e for e in infer_family(_family(weights, None))}["t/long"].parents == ["t/continued"]
    # A true child of the continued run holds its step evenly and stays there.
    child = continued + _capped(rng, 0.025)
    found = {e.model: e for e in infer_family(_family(np.stack([root, root + continued, root + child]), BOUNDS))}
    assert found["t/long"].parents == ["t/continued"] and "not_held" not in found["t/long"].evidence


def test_tensor_bounds_cut_the_samples_where_the_catalog_stores_each_tensor():
    shapes = {"b.weight": (64, 32), "a.bias": (32,), "c.weight": (128, 64), "a.weight": (32, 32)}
    counts = sample_counts(shapes)
    vector = np.arange(sum(counts.values()), dtype=np.float32)
    segments = split_samples(vector, shapes)
    bounds = tensor_bounds(shapes)
    assert bounds[-1] == len(vector)
    for name, start, end in zip(sorted(shapes), bounds[:-1], bounds[1:], strict=True):
        assert np.array_equal(segments[name], vector[start:end])


def test_a_merge_of_a_model_and_its_own_child_is_a_chain_read_backwards_only_where_the_clock_is_silent():
    from hubindex.lineage.context import Context
    from hubindex.lineage.decide import chain_read_as_merge
    from hubindex.lineage.merges import NEAR_EXACT

    rng = np.random.default_rng(2)
    root = rng.standard_normal(TENSORS * WIDTH)
    first = root + _capped(rng, 0.01)
    middle = first + _capped(rng, 0.01)
    weights = np.stack([root, first, middle, middle - 0.5 * (middle - first) + _capped(rng, 0.005)])
    family = _family(weights[:3], BOUNDS)
    family = Family(root="t/root", ids=[*family.ids, "t/child"], raw=weights.astype(np.float32), scaled=weights,
                    rows={**family.rows, "t/child": {**family.rows["t/long"], "id": "t/child"}}, adapters=[],
                    kurtosis=np.zeros(4), bounds=BOUNDS)
    ctx = Context(family)
    ctx.parent[3] = 1  # the child was decided first (nearer the root), from the first finetune
    sources = np.array([1, 3])
    ctx.times[:] = ctx.times[0]  # one time for all (a copied folder)
    assert chain_read_as_merge(ctx, 2, sources, 0.1) == 3
    assert chain_read_as_merge(ctx, 2, sources[::-1], 0.1) == 3
    # Any number of sources: one rule for a merge of a line.
    assert chain_read_as_merge(ctx, 2, np.array([0, 3, 1]), 0.1) == 3
    ctx.parent[3] = 0
    assert chain_read_as_merge(ctx, 2, sources, 0.1) is None  # two runs of the root: a merge may combine them
    ctx.parent[3] = 1
    ctx.times[3] -= 3600.0  # the child created before the model, the parent still tied with it: no order
    assert chain_read_as_merge(ctx, 2, sources, 0.1) == 3
    ctx.times[1] -= 7200.0  # the clock puts every source before the model: the merge stands or falls on its fit
    assert chain_read_as_merge(ctx, 2, sources, 0.1) is None
    ctx.times[2] = np.nan  # a missing time orders nothing
    assert chain_read_as_merge(ctx, 2, sources, 0.1) == 3
    # A fit within bf16 rounding of an exact merge is a merge: the line among its sources is a tied clock's guess.
    assert chain_read_as_merge(ctx, 2, sources, 0.5 * NEAR_EXACT) is None


def test_a_merge_is_the_parent_only_of_a_model_that_holds_its_whole_step_in_every_tensor():
    """A run of the root that shares every source's direction, unevenly from tensor to tensor (a continued
    pretraining beside a merge of two domain runs: s113 floor and reset), holds each source's share over all
    tensors (held_share) as a child of the merge would; only the per-tensor spread tells it never started there."""
    from hubindex.lineage.context import Context
    from hubindex.lineage.parents import holds_merge

    rng = np.random.default_rng(3)
    root = rng.standard_normal(TENSORS * WIDTH)
    first, second = root + _capped(rng, 0.01), root + _capped(rng, 0.01)
    merge = root + 0.6 * (first - root) + 0.5 * (second - root)
    beside = root + SHARES * (merge - root) + _capped(rng, 0.01)
    child = merge + _capped(rng, 0.01)
    weights = np.stack([root, first, second, merge, beside, child])
    ids = ["t/root", "t/first", "t/second", "t/merge", "t/beside", "t/child"]
    for bounds in (BOUNDS, None):
        family = _family(weights[:3], bounds)
        rows = {m: {**family.rows["t/long"], "id": m} for m in ids}
        family = Family(root="t/root", ids=ids, raw=weights.astype(np.float32), scaled=weights, rows=rows,
                        adapters=[], kurtosis=np.zeros(len(ids)), bounds=bounds)
        ctx = Context(family)
        ctx.merge_sources[3] = np.array([1, 2])
        assert holds_merge(ctx, 5, 3)
        # Without tensor structure only the share over all tensors is read, and it passes the run beside.
        assert holds_merge(ctx, 4, 3) is (bounds is None)


def test_a_run_of_the_root_beside_a_line_is_told_by_the_lines_first_step_where_the_clock_is_silent():
    """A long run from the root, decided after every member of a same-domain line (times tie: distance from the root
    orders them), holds the step of the line's last member evenly but not the line's first step from the root: it is
    a run of the root. A true child of the last member holds every step. With the clock ordering the pair, or a
    parent that is itself the line's first member (the held walk tests that step), nothing is read here."""
    from hubindex.lineage.context import Context
    from hubindex.lineage.runs import run_of_root

    rng = np.random.default_rng(4)
    root = rng.standard_normal(TENSORS * WIDTH)
    steps = [_capped(rng, 0.01) for _ in range(3)]
    line = np.cumsum([root, *steps], axis=0)  # root, first, second, third
    beside = root + SHARES * steps[0] + steps[1] + steps[2] + _capped(rng, 0.01)
    child = line[3] + _capped(rng, 0.01)
    weights = np.vstack([line, beside, child])
    ids = ["t/root", "t/first", "t/second", "t/third", "t/beside", "t/child"]
    family = _family(weights[:3], BOUNDS)
    family = Family(root="t/root", ids=ids, raw=weights.astype(np.float32), scaled=weights,
                    rows={m: {**family.rows["t/long"], "id": m} for m in ids}, adapters=[],
                    kurtosis=np.zeros(len(ids)), bounds=BOUNDS)
    ctx = Context(family)
    ctx.times[:] = ctx.times[0]  # one time for all (a copied folder)
    ctx.parent[1:4] = [0, 1, 2]
    assert held_spread(beside - line[2], line[3] - line[2], BOUNDS) <= SPREAD_MAX  # the last step alone passes
    first, spread = run_of_root(ctx, 4, 3)
    assert first == 1 and spread > SPREAD_MAX
    assert run_of_root(ctx, 5, 3) is None
    assert run_of_root(ctx, 4, 1) is None
    ctx.times[4] += 3600.0  # created after the line's last member: the clock, not this test, orders them
    assert run_of_root(ctx, 4, 3) is None
