"""Merge detection on task vectors (merges.py): pure numpy, bf16 merges built here the way mergekit builds them."""

import numpy as np
import pytest

from hubindex.lineage.context import Context
from hubindex.lineage.evidence import round_bf16
from hubindex.lineage.merge_search import _completed, unit_in_last_place
from hubindex.lineage.merges import NEAR_EXACT, SPARSE_COMPLETE, Incomplete, detect_merge, unexplained
from tests.toy_family import toy_family

D = 6000


def ties(tasks: np.ndarray, weights: np.ndarray, density: float) -> np.ndarray:
    """TIES: keep each task vector's largest `density` share, elect a sign per coordinate by the weighted sum,
    average the agreeing survivors with their weights."""
    keep = np.abs(tasks) >= np.quantile(np.abs(tasks), 1 - density, axis=1, keepdims=True)
    trimmed = np.where(keep, tasks, 0.0) * weights[:, None]
    sign = np.sign(trimmed.sum(axis=0))
    agree = keep & (np.sign(tasks) == sign)
    total = (np.where(agree, trimmed, 0.0)).sum(axis=0)
    count = (agree * weights[:, None]).sum(axis=0)
    return np.where(count > 0, total / np.where(count > 0, count, 1.0), 0.0)


def zoo(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A root and 8 finetunes: 0-2 on their own domains, 3-4 siblings of 0 (same domain, own noise), 5-7 others."""
    root = rng.normal(0, 0.02, D)
    domains = rng.normal(0, 2e-3, (3, D))
    own = rng.normal(0, 1.2e-3, (8, D))
    tasks = np.concatenate([domains + own[:3], domains[[0, 0]] + own[3:5], rng.normal(0, 2e-3, (3, D)) + own[5:]])
    return root, tasks


def detect(root: np.ndarray, model: np.ndarray, candidates: np.ndarray, ids: list[str], known=None):
    """As merge_search.fit_merge does for a bf16 model: sources and root rounded alike, slack one bf16 step."""
    root_b = round_bf16(root)
    raw = np.concatenate([[model], round_bf16(candidates)])
    return detect_merge(ids, raw - root, raw - root_b, known, unit_in_last_place(model, "BF16"))


def test_a_bf16_ties_merge_gets_all_its_sources_and_no_sibling():
    rng = np.random.default_rng(3)
    root, tasks = zoo(rng)
    merged = round_bf16(root + ties(tasks[:3], np.array([0.7, 0.4, 0.5]), density=0.5))
    ids = [f"m{i}" for i in range(8)]
    found = detect(root, merged, root + tasks, ids)
    assert found is not None and found.method == "ties"
    assert sorted(found.sources) == ["m0", "m1", "m2"]
    assert found.evidence["unexplained"] <= SPARSE_COMPLETE


def test_a_ties_merge_missing_a_source_is_no_merge_of_the_rest():
    """The coordinates only the absent source kept lie outside what the others span: no partial answer, but
    Incomplete, on which merge_search.find_merge widens the search with a matching pursuit over the family."""
    rng = np.random.default_rng(4)
    root, tasks = zoo(rng)
    merged = round_bf16(root + ties(tasks[:3], np.array([0.6, 0.6, 0.6]), density=0.5))
    rest = [0, 1, 3, 4, 5, 6, 7]
    task = merged - round_bf16(root)
    assert unexplained(task, round_bf16(root + tasks[[0, 1]]) - round_bf16(root)) > 3 * SPARSE_COMPLETE
    assert unexplained(task, round_bf16(root + tasks[[0, 1, 2]]) - round_bf16(root)) <= SPARSE_COMPLETE
    found = detect(root, merged, root + tasks[rest], [f"m{i}" for i in rest])
    assert isinstance(found, Incomplete) and found.unexplained > SPARSE_COMPLETE


def test_a_merge_of_an_earlier_merges_sources_is_not_read_as_a_merge_of_that_merge():
    """m8 = SLERP(m0, m1) exists, its t varying by layer as merge recipes set it; the model is task arithmetic of
    m0, m1 and m2. m8 with m2 explains it loosely (m8 is off its sources' span), m0, m1 and m2 exactly."""
    rng = np.random.default_rng(5)
    root, tasks = zoo(rng)
    t = np.repeat([0.2, 0.5, 0.8], D // 3)  # three "layers"
    slerp = root + (1 - t) * tasks[0] + t * tasks[1]  # slerp of nearly parallel weights: the lerp, per layer
    candidates = np.concatenate([root + tasks, [round_bf16(slerp)]])
    merged = round_bf16(root + 0.6 * tasks[0] + 0.6 * tasks[1] + 0.8 * tasks[2])
    ids = [f"m{i}" for i in range(9)]
    found = detect(root, merged, candidates, ids, known={"m8": {"m0", "m1"}})
    assert found is not None
    assert sorted(found.sources) == ["m0", "m1", "m2"]
    assert found.residual < 0.05


def test_a_sibling_run_is_no_merge_of_its_siblings():
    rng = np.random.default_rng(6)
    root, tasks = zoo(rng)
    ids = [f"m{i}" for i in range(7)]
    assert detect(root, round_bf16(root + tasks[4]), root + np.delete(tasks, 4, axis=0), ids) is None


def test_an_exact_merge_drops_a_relative_its_sources_make_idle():
    """A decoy close to two of the sources (their sum plus a little of its own) makes the best pair with the third;
    the greedy search then adds the two it stands for, and the fit no longer needs it (weight ~0): the answer is the
    three sources (bench seed 10 had three such four-source answers)."""
    rng = np.random.default_rng(7)
    root, tasks = zoo(rng)
    merged = root + 0.5 * tasks[0] + 0.7 * tasks[1] + 0.4 * tasks[2]
    decoy = root + 0.5 * tasks[0] + 0.7 * tasks[1] + 0.1 * rng.normal(0, 2e-3, D)
    candidates = np.concatenate([root + tasks, [decoy]])
    ids = [f"m{i}" for i in range(9)]
    found = detect_merge(ids, np.concatenate([[merged], candidates]) - root,
                         (np.concatenate([[merged], candidates]) - root)[:1])
    assert found is not None and found.method == "task_arithmetic"
    assert sorted(found.sources) == ["m0", "m1", "m2"]
    weights = dict(zip(found.sources, found.weights, strict=True))
    assert [weights[m] for m in ("m0", "m1", "m2")] == pytest.approx([0.5, 0.7, 0.4], abs=1e-3)


def test_a_merge_is_found_past_an_earlier_merge_that_shares_one_of_its_sources():
    """An earlier merge of source 3 and a larger sweep run of source 0's domain explains part of every source, so
    the best pair holds it; with it in the fit the true sources need it at a negative weight and the greedy path
    stops short. Grown again without earlier merges, the three sources fit to bf16 rounding (s121-real
    northwind/model-6c8d1a22, a bf16 linear merge answered as a finetune of the root)."""
    rng = np.random.default_rng(0)
    root = rng.normal(0, 0.02, D)
    domains = rng.normal(0, 2e-3, (4, D))
    own = rng.normal(0, 0.8e-3, (6, D))
    # m0, m1: two sweep runs of one domain (learning rates 1 and 1.4); m2, m3: two other domains; m4, m5 another
    tasks = np.stack([domains[0] + own[0], 1.4 * domains[0] + own[1], domains[1] + own[2], domains[2] + own[3],
                      domains[3] + own[4], 0.7 * domains[3] + own[5]])
    earlier = 0.5 * tasks[1] + 0.5 * tasks[3]
    merged = round_bf16((root + 0.2 * tasks[0] + 0.45 * tasks[2] + 0.35 * tasks[3])[None])[0]
    rows = np.concatenate([[merged - root], tasks, [earlier]])
    ids = [f"m{i}" for i in range(6)] + ["e"]
    found = detect_merge(ids, rows, rows[:1], {"e": {"m1", "m3"}})
    assert found is not None and sorted(found.sources) == ["m0", "m2", "m3"], found
    assert found.residual < NEAR_EXACT
    # The earlier merge is not dropped where it is a source: a merge of it and m2 is found with it.
    of_merge = round_bf16((root + 0.5 * earlier + 0.5 * tasks[2])[None])[0]
    rows = np.concatenate([[of_merge - root], tasks, [earlier]])
    found = detect_merge(ids, rows, rows[:1], {"e": {"m1", "m3"}})
    assert found is not None and "m2" in found.sources


def test_an_incomplete_ties_merge_is_completed_by_the_model_that_carries_its_unexplained_coordinates():
    """Two of a bf16 TIES merge's three sources found (Incomplete): the coordinates only the third kept hold its
    rounded value exactly, and no other model's (merge_search._completed; s121-reset quill-labs/model-9dd3a3aa,
    whose third source was neither among the nearest nor picked by the pursuit)."""
    rng = np.random.default_rng(4)
    root, tasks = zoo(rng)
    merged = round_bf16(root + ties(tasks[:3], np.array([0.6, 0.6, 0.6]), density=0.5))
    ids = ["root", *[f"m{i}" for i in range(8)], "merge"]
    fam = toy_family(ids, np.concatenate([[root], root + tasks, [merged]]))
    for m in ids[1:-1]:
        fam.rows[m]["dtype"] = "F32"
    fam.rows["merge"]["dtype"] = "BF16"
    fam.raw = np.concatenate([[root], round_bf16(root + tasks), [merged]]).astype(np.float32)
    ctx = Context(fam)
    original = np.ones(len(ids), dtype=bool)
    found = _completed(ctx, len(ids) - 1, Incomplete(["m0", "m1"], 0.05), original, fam.raw[0].astype(np.float64),
                       {})
    assert found is not None and sorted(found.sources) == ["m0", "m1", "m2"], found
    # A missing source absent from the family: nothing carries those coordinates, and no partial merge is made.
    original[ids.index("m2")] = False
    assert _completed(ctx, len(ids) - 1, Incomplete(["m0", "m1"], 0.05), original, fam.raw[0].astype(np.float64),
                      {}) is None
