"""A fan's parent whose first children were decided as the grandparent's (bench seed 10's cascade): the sibling
test must not read those children as witnesses of the common part, and must still read longer same-domain siblings
(a sweep) as such. Pure numpy."""

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from hubindex.lineage.context import Context
from hubindex.lineage.family import Family
from hubindex.lineage.fans import runs_from_parent
from hubindex.lineage.parents import SIBLING_RESIDUAL, sibling_residual

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from lineage_scale import plant_family  # the bench's planted family: pure numpy, no files

DIM = 1024


def _run(rng: np.random.Generator, domain: np.ndarray, cap: float) -> np.ndarray:
    """One Adam-like run's step (bench/lineage_scale.py's increment): the domain's direction plus the run's noise."""
    return cap * np.tanh((domain + 0.8 * rng.standard_normal(DIM)) / 2.0)


def _context(weights: np.ndarray, parents: list[int]) -> Context:
    """A family created in row order (a day apart), with the given decided parents (-1: none yet)."""
    ids = ["t/root", *(f"t/m{i}" for i in range(1, len(weights)))]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = {m: {"id": m, "created_at": start + timedelta(days=i), "dtype": "F32", "declared_base": None,
                "adapter_base": None, "base_source": None, "kind": "model", "base": None, "family": ids[0]}
            for i, m in enumerate(ids)}
    ctx = Context(Family(root=ids[0], ids=ids, raw=weights.astype(np.float32), scaled=weights, rows=rows,
                         adapters=[], kurtosis=np.zeros(len(ids))))
    ctx.parent[:] = parents
    return ctx


def test_a_parents_own_children_decided_as_the_grandparents_do_not_make_its_next_child_a_sibling() -> None:
    """Bench seed 10's cascade, on the bench's own planted family: m00034's first two children (m01283, m01439)
    were decided as its parent m01901's by the tail rule; with them as witnesses its third child m01807 read as
    m00034's sibling (residual 0.12) and moved to m01901, and so did 30 more."""
    planted = plant_family(2000, 1024, 10, saturation=(0.002, 0.01))
    fam = planted.family
    ctx = Context(fam)
    grand, parent, child = (fam.index(f"bench/m{n}") for n in ("01901", "00034", "01807"))
    first = [fam.index(f"bench/m{n}") for n in ("01283", "01439")]
    ctx.parent[[parent, *first]] = grand
    members = np.array([parent, *first, child])
    above, residual = sibling_residual(ctx, child, parent, members)
    assert above == grand
    assert residual is None or residual >= SIBLING_RESIDUAL, residual
    steps = fam.scaled[[*first, child]] - fam.scaled[parent]
    assert runs_from_parent(fam.scaled[parent] - fam.scaled[grand], steps)


def test_longer_same_domain_siblings_after_the_parent_still_make_the_model_its_sibling() -> None:
    for seed in range(5):
        rng = np.random.default_rng(seed)
        root = rng.standard_normal(DIM)
        domain = rng.standard_normal(DIM)
        # A sweep from the root: the shortest run first, then longer ones created after it, all the root's.
        runs = [root + _run(rng, domain, cap) for cap in (0.03, 0.08, 0.1, 0.07, 0.12, 0.09)]
        ctx = _context(np.stack([root, *runs]), [-1, 0, 0, 0, 0, 0, -1])
        above, residual = sibling_residual(ctx, 6, 1, np.arange(7))
        assert above == 0
        assert residual is not None and residual < SIBLING_RESIDUAL, (seed, residual)
        assert not runs_from_parent(runs[0] - root, np.stack(runs[1:]) - runs[0])


def _infer(weights: np.ndarray) -> dict[str, list[str]]:
    """Parents found by the engine for a family created in row order, a day apart (known, distinct times)."""
    from hubindex.lineage.engine import infer_family

    ctx = _context(weights, [-1] * len(weights))
    return {e.model: e.parents for e in infer_family(ctx.fam)}


def test_a_sweep_on_a_known_clock_is_read_with_its_runs_created_after_the_model() -> None:
    """A same-domain sweep from the root, created smallest run first: the third run finds the first beyond the
    root with only the second, decided, as a witness of the common part (residual 0.26 > SIBLING_RESIDUAL), and the
    sweep cascades onto the first run. The runs created after it (no answer yet) span that part, and the steps from
    the first run to them are no runs from it (share outside 0.92): parents.sweep_sibling reads them."""
    rng = np.random.default_rng(0)
    root, domain = rng.standard_normal(DIM), rng.standard_normal(DIM)
    runs = [root + _run(rng, domain, cap) for cap in (0.03, 0.06, 0.09, 0.12, 0.15, 0.18)]
    found = _infer(np.stack([root, *runs]))
    assert {m: p for m, p in found.items() if m != "t/root"} == {f"t/m{i}": ["t/root"] for i in range(1, 7)}


def test_a_parents_own_children_created_after_the_model_keep_it_its_child() -> None:
    """The guard on a known clock: a fan of one finetune's children on its own domain, created after the first of
    them. They are runs from the parent (share of its step outside their span 0.68-0.73 < OWN_NOISE_SHARE), so
    they do not witness the common part and every child keeps its parent."""
    for seed in range(3):
        rng = np.random.default_rng(seed)
        root, domain = rng.standard_normal(DIM), rng.standard_normal(DIM)
        parent = root + _run(rng, domain, 0.06)
        children = [parent + _run(rng, domain, cap) for cap in (0.05, 0.08, 0.04, 0.1, 0.06)]
        found = _infer(np.stack([root, parent, *children]))
        assert found["t/m1"] == ["t/root"]
        assert all(found[f"t/m{i}"] == ["t/m1"] for i in range(2, 7)), (seed, found)
