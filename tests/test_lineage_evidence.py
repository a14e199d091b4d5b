"""Pairwise weight evidence on real optimizer runs: Adam's displacement cap tells a parent from a sibling."""

from __future__ import annotations

import numpy as np
import pytest
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


def _planted_family(seed: int, fans: int, fan_size: int, merges: int, dim: int = 1024):
    """root -> `fans` finetunes -> `fan_size` same-domain children each (Adam-like capped steps, run-specific
    noise and cap), then `merges` task-arithmetic merges of two children of different fans. Returns the Family
    and the planted parents."""
    from datetime import UTC, datetime, timedelta

    from hubindex.lineage.family import Family

    rng = np.random.default_rng(seed)

    def step(direction: np.ndarray) -> np.ndarray:
        cap = 0.05 * rng.uniform(0.5, 2.0)
        return cap * np.tanh((direction + 0.8 * rng.standard_normal(dim)) / 1.2)

    weights, parents = [rng.standard_normal(dim)], [[]]
    heads = []
    for _ in range(fans):
        weights.append(weights[0] + step(rng.standard_normal(dim)))
        parents.append([0])
        heads.append(len(weights) - 1)
    fan_of = {}
    for fan, head in enumerate(heads):
        direction = rng.standard_normal(dim)
        for _ in range(fan_size):
            weights.append(weights[head] + step(direction))
            parents.append([head])
            fan_of[len(weights) - 1] = fan
    children = list(fan_of)
    for _ in range(merges):
        a = children[int(rng.integers(len(children)))]
        b = next(c for c in rng.permutation(children) if fan_of[int(c)] != fan_of[a])
        weights.append(weights[0] + 0.6 * (weights[a] - weights[0]) + 0.8 * (weights[int(b)] - weights[0]))
        parents.append(sorted([a, int(b)]))
    ids = [f"t/m{i:04d}" for i in range(len(weights))]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = {m: {"id": m, "created_at": start + timedelta(hours=i), "dtype": "F32", "declared_base": None,
                "adapter_base": None, "base_source": None, "kind": "model", "base": None, "family": ids[0]}
            for i, m in enumerate(ids)}
    scaled = np.stack(weights)
    family = Family(root=ids[0], ids=ids, raw=scaled.astype(np.float32), scaled=scaled, rows=rows, adapters=[],
                    kurtosis=np.zeros(len(ids)))
    return family, {ids[i]: [ids[p] for p in ps] for i, ps in enumerate(parents) if ps}


def test_a_fan_parent_hidden_behind_its_children_and_merge_sources_beyond_the_shortlist_are_found():
    """Fans larger than the shortlist: each child's nearest models are its siblings, and the parent falls out of
    the shortlist; merges of two fans' children lie far from both sources."""
    from hubindex.lineage.engine import infer_family
    from hubindex.lineage.neighbours import SHORTLIST

    fan_size = SHORTLIST + 20
    family, truth = _planted_family(seed=3, fans=4, fan_size=fan_size, merges=12)
    found = {e.model: e for e in infer_family(family)}
    children = [m for m, p in truth.items() if p != [family.root] and len(p) == 1]
    merges = [m for m, p in truth.items() if len(p) == 2]
    fan_right = np.mean([found[m].parents == truth[m] for m in children])
    assert fan_right >= 0.9, fan_right
    assert all(found[m].relation == "finetune" for m in children)
    merge_right = np.mean([found[m].relation == "merge" and sorted(found[m].parents) == truth[m] for m in merges])
    assert merge_right >= 0.8, merge_right


def test_a_family_smaller_than_every_shortlist_is_inferred():
    """Fewer members than the shortlist, the pursuit's seeds or the merge candidates: nothing indexes past them."""
    from hubindex.lineage.engine import infer_family

    family, truth = _planted_family(seed=5, fans=2, fan_size=3, merges=2)
    found = {e.model: e for e in infer_family(family)}
    assert set(found) == set(family.ids)
    assert np.mean([sorted(found[m].parents) == p for m, p in truth.items()]) >= 0.8
    # A fan child's alternative to its parent is the parent's own parent (the root), farther than the parent.
    fan_children = [m for m, e in found.items() if e.relation == "finetune" and e.parents != [family.root]]
    assert fan_children
    assert all(found[m].evidence["ancestor"] == family.root for m in fan_children)
    assert all(0 < found[m].evidence["ancestor_distance_ratio"] < 1 for m in fan_children)


def test_confidence_falls_when_the_parents_own_parent_is_about_as_near():
    """Same-domain runs of one base line up: a smaller run looks like the parent of a larger one, and then the
    base, the smaller run's own parent, is about as near as it. Such an answer must not look sure."""
    from hubindex.lineage import confidence

    plain = confidence.finetune(0.3, 0.1, alone=False, timed=True)
    assert confidence.finetune(0.3, 0.1, False, True, ancestor_ratio=confidence.ANCESTOR_FREE) == plain
    doubtful = confidence.finetune(0.3, 0.1, False, True, ancestor_ratio=0.75)
    assert doubtful < plain
    assert confidence.finetune(0.3, 0.1, False, True, ancestor_ratio=0.95) < doubtful
    assert confidence.finetune(0.3, 0.1, False, False, ancestor_ratio=2.0) == confidence.FINETUNE_RANGE[0]


def test_quantized_only_on_a_grid_and_a_short_run_is_no_resave():
    """A 5-step Adam touch-up moves weights about as far as an 8-bit re-save does, but lands on no grid."""
    from hubindex.lineage.evidence import grid_share, resave_kind
    from hubindex.train.convert import quantize_int8_rows

    rng = np.random.default_rng(0)
    weight = (0.05 * rng.normal(size=(64, 256))).astype(np.float32)
    short = _adam_run(weight.ravel(), weight.ravel() + rng.normal(size=weight.size), seed=1, lr=1e-4, steps=5)
    int8 = quantize_int8_rows(torch.tensor(weight)).to(torch.float16).float().numpy().ravel()
    bf16 = torch.tensor(weight).to(torch.bfloat16).float().numpy().ravel()
    assert np.linalg.norm(short - weight.ravel()) < 0.01 * np.linalg.norm(weight)  # both within the re-save radius
    assert grid_share(int8) > 0.45 > max(grid_share(short), grid_share(bf16), grid_share(weight.ravel()))
    assert resave_kind(int8, weight.ravel()) == "quantized"
    assert resave_kind(bf16, weight.ravel()) == "copy"
    assert resave_kind(short, weight.ravel()) is None


def test_tied_created_times_give_the_tree_from_the_weights():
    """Every created time equal (the Hub's createdAt floor): the planted tree, merges included, comes back from the
    weights alone (order by distance from the root, merges after their sources). The root by weight norm is
    tested on real checkpoints (test_lineage_clock): on these sketches a step's chance correlation with the
    weights is as large as its own square, unlike on real checkpoints."""
    from datetime import UTC, datetime

    from hubindex.lineage.engine import infer_family

    family, truth = _planted_family(seed=7, fans=3, fan_size=8, merges=4)
    floor = datetime(2022, 3, 2, 23, 29, 4, tzinfo=UTC)
    for row in family.rows.values():
        row["created_at"] = floor
    found = {e.model: e for e in infer_family(family)}
    assert np.mean([sorted(found[m].parents) == p for m, p in truth.items()]) >= 0.9
    merges = [m for m, p in truth.items() if len(p) == 2]
    assert np.mean([found[m].relation == "merge" for m in merges]) >= 0.75


def test_a_long_run_keeps_the_root_over_a_farther_model_with_a_slightly_shorter_tail():
    """A long run's step tail is long from every candidate (s101's 300-step run: 1.43 from its root, 1.38 from a
    vocabulary-extended sibling just farther away). The root has no step of its own to compare a tail with, so
    nothing farther than the root replaces it."""
    from datetime import UTC, datetime, timedelta

    from hubindex.lineage.engine import infer_family
    from hubindex.lineage.evidence import increment_tail
    from hubindex.lineage.family import Family

    rng = np.random.default_rng(0)
    root = rng.standard_normal(4096)
    long_step = 0.1 * rng.standard_normal(4096)  # no common cap: a long tail
    top = np.argsort(-np.abs(long_step))[:10]
    sibling_step = 0.01 * rng.standard_normal(4096)
    sibling_step[top] += 0.2 * long_step[top]  # shares the long run's largest moves: a shorter tail from it
    weights = np.stack([root, root + sibling_step, root + long_step])
    ids = ["t/root", "t/sibling", "t/long"]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = {m: {"id": m, "created_at": start + timedelta(days=i), "dtype": "F32", "declared_base": None,
                "adapter_base": None, "base_source": None, "kind": "model", "base": None, "family": ids[0]}
            for i, m in enumerate(ids)}
    family = Family(root=ids[0], ids=ids, raw=weights.astype(np.float32), scaled=weights, rows=rows, adapters=[],
                    kurtosis=np.zeros(3))
    raw = family.raw
    assert np.linalg.norm(weights[2] - weights[1]) > np.linalg.norm(weights[2] - weights[0])  # the root is nearer
    assert increment_tail(raw[2], raw[1]) < increment_tail(raw[2], raw[0])  # the sibling's tail is shorter
    found = {e.model: e for e in infer_family(family)}
    assert found["t/long"].parents == ["t/root"] and found["t/long"].relation == "finetune"
    assert found["t/sibling"].parents == ["t/root"]


def test_shortlist_puts_members_created_later_last():
    """With created times, a model's shortlist is its nearest members that may have come first (not created later),
    then, only to fill it, the nearest later ones: a later member is neither its parent nor a merge source."""
    rng = np.random.default_rng(2)
    points = rng.normal(size=(300, 64)) @ rng.normal(size=(64, 400))
    times = rng.permutation(300).astype(np.float64)
    times[:20] = times[20]  # a tie: tied members may precede each other
    found = nearest_members(points, k=10, times=times)
    exact = np.linalg.norm(points[:, None] - points[None], axis=2)
    np.fill_diagonal(exact, np.inf)
    later = times[None, :] > times[:, None]
    truth = np.argsort(np.where(later, exact + exact[np.isfinite(exact)].max(), exact), axis=1)[:, :10]
    recall = np.mean([len(set(found.index[i]) & set(truth[i])) / 10 for i in range(len(points))])
    assert recall >= 0.95, recall
    shown_later = np.take_along_axis(later, found.index, axis=1)
    assert not np.any(shown_later[:, :-1] & ~shown_later[:, 1:])  # never a later member before an earlier one
    assert shown_later[np.argsort(times)[-1]].sum() == 0 and shown_later[np.argsort(times)[0]].all()
    unknown = nearest_members(points, k=10, times=np.full(300, np.nan))  # unknown times exclude nothing
    assert np.array_equal(unknown.index, nearest_members(points, k=10).index)


def _sweep(dim: int = 8_000):
    """A base, a learning-rate sweep of six AdamW runs on one domain (own seeds: own minibatch noise) and a child
    trained from the second run on the same domain."""
    rng = np.random.default_rng(4)
    base = rng.normal(size=dim)
    domain = base + rng.normal(size=dim)
    sweep = [_adam_run(base, domain, seed=10 + k, lr=lr) for k, lr in enumerate([3e-4, 5e-4, 1e-3, 1.5e-3, 2e-3, 3e-3])]
    child = _adam_run(sweep[1], domain, seed=20, lr=1e-3, steps=30)
    return base, sweep, child


def test_a_child_carries_its_parents_own_noise_and_a_sibling_does_not():
    """Steps from the base: after the other sweep runs' common part is projected out, the child's residual
    follows its parent's (it holds the parent's whole step), the siblings' do not, whether larger or smaller
    runs (the step tail and the angle cannot tell a larger sibling from a child)."""
    from hubindex.lineage.evidence import inherited_noise
    from hubindex.lineage.parents import SIBLING_RESIDUAL

    base, sweep, child = _sweep()
    steps = [s - base for s in sweep]
    others = np.stack([s for k, s in enumerate(steps) if k != 1])
    as_child = inherited_noise(child - base, steps[1], others)
    as_sibling = [inherited_noise(steps[k], steps[1], np.stack([s for j, s in enumerate(steps) if j not in (k, 1)]))
                  for k in range(len(steps)) if k != 1]
    assert as_child > 0.5, as_child
    assert max(as_sibling) < SIBLING_RESIDUAL, as_sibling


def test_confidence_follows_the_inherited_noise_margin():
    """A parent whose noise the model barely carries is doubtful; when the test moved the choice to the parent's
    parent, the further the residual sits below the cut, the surer."""
    from hubindex.lineage import confidence

    plain = confidence.finetune(0.3, 0.1, alone=False, timed=True)
    assert confidence.finetune(0.3, 0.1, False, True, sibling_residual=0.9) == plain
    assert confidence.finetune(0.3, 0.1, False, True, sibling_residual=0.45) < plain
    moved_far = confidence.finetune(0.0, -0.2, False, True, sibling_residual=-0.1, moved=True)
    moved_near = confidence.finetune(0.0, -0.2, False, True, sibling_residual=0.3, moved=True)
    assert moved_far > moved_near > confidence.FINETUNE_RANGE[0]


def test_a_resave_pair_nothing_orients_is_no_surer_than_a_coin():
    """A re-sharded copy holds its original's weights: same dtype, no grid. With tied times either could be the
    original, and the answers say so; distinct times orient the pair."""
    from hubindex.lineage import confidence
    from tests.toy_family import infer_toy_family

    rng = np.random.default_rng(6)
    base = rng.normal(size=4_000)
    run = base + 0.05 * np.tanh(rng.normal(size=4_000))
    weights = np.stack([base, run, run.copy(), base + 0.05 * np.tanh(rng.normal(size=4_000))])
    for tied in (True, False):
        ids, found = infer_toy_family(weights, tied)
        copy = next(m for m in ids[1:3] if found[m].relation == "copy")
        original = found[copy].parents[0]
        assert found[original].parents == [ids[0]]
        assert found[copy].evidence["ordered"] is not tied
        if tied:
            assert found[copy].confidence <= confidence.RESAVE_UNORDERED
            assert found[original].confidence <= confidence.RESAVE_UNORDERED
        else:
            assert (copy, original) == (ids[2], ids[1])
            assert found[copy].confidence > confidence.RESAVE_UNORDERED
            assert found[ids[3]].confidence > confidence.RESAVE_UNORDERED


def test_a_bf16_saved_run_keeps_a_capped_step_once_its_own_rounding_is_taken_off():
    """A finetune saved in bf16 rounds its largest weights by up to 2^-9 of themselves, which stretches the tail of
    its step; net of that rounding the step is one run's again, and a sibling's difference still is not."""
    from hubindex.lineage.evidence import HALF_ULP, round_bf16

    rng = np.random.default_rng(4)
    base = rng.normal(size=20_000) * rng.lognormal(sigma=0.5, size=20_000)  # some large weights, as in embeddings
    domain = base + rng.normal(size=20_000)
    saved = round_bf16(_adam_run(base, domain, seed=5, lr=1e-3))
    sibling = _adam_run(base, domain, seed=6, lr=2e-3)
    net = increment_tail(saved, base, HALF_ULP["BF16"])
    assert increment_tail(saved, base) > net + 0.1, (increment_tail(saved, base), net)  # 1.33 and 1.12
    assert net < 1.15, net
    assert increment_tail(saved, sibling, HALF_ULP["BF16"]) > net + 0.05  # 1.20


def test_only_a_model_holding_every_share_of_a_merge_may_be_its_child():
    """A child of a merge holds each source's share of it; the merge's base's other children of a source's domain
    (as near the merge as a child, and beyond it by angle) hold one source at most."""
    from hubindex.lineage.evidence import held_share
    from hubindex.lineage.parents import MERGE_SHARE

    rng = np.random.default_rng(7)
    base = rng.normal(size=20_000)
    domains = [base + rng.normal(size=20_000) for _ in range(2)]
    first, second = (_adam_run(base, d, seed=8 + k, lr=1e-3) for k, d in enumerate(domains))
    merge = base + 0.4 * (first - base) + 0.6 * (second - base)
    child = _adam_run(merge, domains[0], seed=10, lr=1e-3)
    beside = _adam_run(base, domains[0], seed=11, lr=2e-3)  # the first source's domain, trained from the base
    sources = np.stack([first - base, second - base])
    assert held_share(child - base, merge - base, sources) > 0.95
    assert held_share(beside - base, merge - base, sources) < MERGE_SHARE / 2


def test_the_fast_evidence_forms_equal_their_reference_forms():
    """The lineage engine's cheaper forms compute the same numbers as the plain ones they replaced: increment tails
    by one selection and a max, least squares from the normal equations, the unmoved share without np.mean."""
    from hubindex.lineage.evidence import held_share, increment_tails, inherited_noise
    from hubindex.lineage.linear import least_squares, solve
    from hubindex.lineage.merges import SPARSE_UNMOVED, sparse_possible

    rng = np.random.default_rng(3)
    child, parents = rng.normal(size=1024).astype(np.float32), rng.normal(size=(6, 1024)).astype(np.float32)
    delta = np.maximum(np.abs(child - parents) - 2.0**-9 * np.abs(child), 0.0)
    top = np.partition(delta, [1013, 1023], axis=1)  # 1013 = int(0.99 * 1024)
    assert np.array_equal(increment_tails(child, parents, 2.0**-9), top[:, 1023] / top[:, 1013])
    common = rng.normal(size=1024)
    rows = common + 0.5 * rng.normal(size=(3, 1024))  # correlated, as a merge's sources are
    target = np.array([0.3, 0.5, 0.2]) @ rows + 0.1 * rng.normal(size=1024)
    reference = np.linalg.lstsq(rows.T, target, rcond=None)[0]
    assert np.allclose(least_squares(rows, target), reference, rtol=1e-10, atol=1e-12)
    merge = np.array([0.4, 0.4, 0.2]) @ rows
    share = np.linalg.lstsq(rows.T, merge, rcond=None)[0]
    assert np.isclose(held_share(target, merge, rows), np.min(reference / share), rtol=1e-10)
    for unmoved in (0, 2, 3, 40):
        task = np.where(np.arange(1024) < unmoved, 0.0, 1.0)
        assert sparse_possible(task) == (float(np.mean(task == 0)) >= SPARSE_UNMOVED)
    child, parent = target, merge + 0.1 * rng.normal(size=1024)  # residuals off the others' span, through a QR
    basis, _ = np.linalg.qr(rows.T)
    rc, rp = child - basis @ (basis.T @ child), parent - basis @ (basis.T @ parent)
    assert np.isclose(inherited_noise(child, parent, rows), rc @ rp / np.linalg.norm(rc) / np.linalg.norm(rp),
                      rtol=1e-10)
    # LAPACK's dgesv called directly: numpy's solve (bit for bit where numpy and scipy ship the same getrf, as here)
    gram, both = rows @ rows.T, rows @ np.stack([child, parent]).T
    assert np.allclose(solve(gram, both), np.linalg.solve(gram, both), rtol=1e-12, atol=0)
    assert np.allclose(solve(gram, both[:, 0]), np.linalg.solve(gram, both[:, 0]), rtol=1e-12, atol=0)
    with pytest.raises(np.linalg.LinAlgError):
        solve(np.zeros((2, 2)), np.ones(2))


def test_the_search_by_time_selects_what_the_search_of_every_column_does():
    """With every created time known, each block of models is searched among the members created no later than
    its last one (a prefix in time order): the same projected candidates as searching every column."""
    from hubindex.lineage.neighbours import _search_all, _search_by_time

    rng = np.random.default_rng(5)
    reduced = rng.normal(size=(400, 32)).astype(np.float32)
    times = rng.permutation(400).astype(np.float64)
    times[:30] = times[30]  # a tie: tied members may precede each other
    squares = np.einsum("ij,ij->i", reduced, reduced)
    offset = np.float32(4 * squares.max() + 1)
    every = _search_all(reduced, squares, times, 24, offset, block=64)
    by_time = _search_by_time(reduced, squares, times, 24, offset, block=64)
    assert all(set(a) == set(b) for a, b in zip(every, by_time, strict=True))


def test_the_rerank_recomputes_near_distances_as_numpy_norm_does():
    """The float64 distances of near pairs, computed in blocks of pairs, equal np.linalg.norm of the differences to
    the last bit (the rerank's answers must not depend on the block size)."""
    from hubindex.lineage.neighbours import _pair_distances

    rng = np.random.default_rng(6)
    vectors = rng.normal(size=(50, 300))
    rows, others = rng.integers(0, 50, 700), rng.integers(0, 50, 700)
    expected = np.linalg.norm(vectors[others] - vectors[rows], axis=1)
    assert np.array_equal(_pair_distances(vectors, rows, others, block=64), expected)
    assert np.array_equal(_pair_distances(vectors, rows[:0], others[:0]), expected[:0])


def test_the_clock_orders_models_only_by_known_strictly_earlier_times():
    """Context.clock_orders: True only where every earlier model's created time is known and strictly before the
    later one's (a tie or a missing time leaves the order to the weights), for lists and index arrays alike."""
    from datetime import UTC, datetime, timedelta

    from hubindex.lineage.context import Context
    from hubindex.lineage.family import Family
    from hubindex.lineage.neighbours import Neighbours

    ids = [f"t/m{i}" for i in range(5)]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    created = [start, start + timedelta(days=1), start + timedelta(days=1), None, start + timedelta(days=2)]
    rows = {m: {"id": m, "created_at": c, "dtype": "F32"} for m, c in zip(ids, created, strict=True)}
    scaled = np.random.default_rng(0).normal(size=(5, 8))
    family = Family(root=ids[0], ids=ids, raw=scaled.astype(np.float32), scaled=scaled, rows=rows, adapters=[],
                    kurtosis=np.zeros(5))
    empty = Neighbours(np.zeros((5, 0), dtype=np.int64), np.zeros((5, 0)), np.zeros((5, 0), dtype=np.float32))
    ctx = Context(family, empty)
    assert ctx.clock_orders([0], 1) and ctx.clock_orders(np.array([0, 1, 2]), 4)
    assert not ctx.clock_orders([1], 2)  # tied
    assert not ctx.clock_orders([2], 1) and not ctx.clock_orders([4], 0)  # later
    assert not ctx.clock_orders([0], 3) and not ctx.clock_orders(np.array([0, 3]), 4)  # a time unknown
    assert ctx.clock_orders([], 4) and not ctx.clock_orders([], 3)


def _numpy_adam(start: np.ndarray, target: np.ndarray, seed: int, lr: float, steps: int) -> np.ndarray:
    """_adam_run in numpy: Adam (no weight decay) on noisy minibatch targets."""
    rng = np.random.default_rng(seed)
    weights, first, second = start.copy(), np.zeros_like(start), np.zeros_like(start)
    for t in range(1, steps + 1):
        gradient = 2 * (weights - target - 0.5 * rng.standard_normal(start.shape))
        first = 0.9 * first + 0.1 * gradient
        second = 0.999 * second + 0.001 * gradient**2
        weights = weights - lr * first / (1 - 0.9**t) / (np.sqrt(second / (1 - 0.999**t)) + 1e-8)
    return weights


def test_a_sweep_on_a_tied_clock_is_told_from_a_same_domain_line_by_its_later_runs():
    """Every created time tied: the weights decide a sweep from its smallest run up, so the third run finds the
    first beyond the base and only the second, decided, to read the common part from (residual 0.35: it would be
    taken for the first run's child, and the larger runs after it). The runs decided later span that part
    (parents.sweep_sibling: 0.15), and a same-domain line beside the sweep keeps its child (0.76)."""
    from datetime import UTC, datetime

    from hubindex.lineage.engine import infer_family
    from hubindex.lineage.family import Family

    rng = np.random.default_rng(5)
    base = rng.normal(size=8_000)
    domain = base + rng.normal(size=8_000)
    sweep = [_numpy_adam(base, domain, 10 + k, lr, 60) for k, lr in enumerate([3e-4, 5e-4, 1e-3, 1.5e-3, 2e-3, 3e-3])]
    first = _numpy_adam(base, domain, 30, 1e-3, 50)
    weights = np.stack([base, *sweep, first, _numpy_adam(first, domain, 31, 1e-3, 40)])
    ids = ["t/base", *[f"t/sweep{k}" for k in range(len(sweep))], "t/line1", "t/line2"]
    floor = datetime(2022, 3, 2, 23, 29, 4, tzinfo=UTC)
    rows = {m: {"id": m, "created_at": floor, "dtype": "F32", "declared_base": None, "adapter_base": None,
                "base_source": None, "kind": "model", "base": None, "family": ids[0]} for m in ids}
    family = Family(root=ids[0], ids=ids, raw=weights.astype(np.float32), scaled=weights, rows=rows, adapters=[],
                    kurtosis=np.zeros(len(ids)))
    found = {e.model: e for e in infer_family(family)}
    assert {m: found[m].parents for m in ids[1:]} == {**{m: ["t/base"] for m in ids[1:-1]}, "t/line2": ["t/line1"]}
    assert any("sweep_residual" in found[m].evidence for m in ids[1:-2])
