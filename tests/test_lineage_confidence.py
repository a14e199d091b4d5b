"""Confidence terms (hubindex.lineage.confidence): pure functions of the evidence, and the engine's use of them."""

from __future__ import annotations

import numpy as np

from hubindex.lineage import confidence
from hubindex.status import BaseSource
from tests.toy_family import infer_toy_family


def test_a_move_to_the_parents_parent_keeps_the_sign_of_the_tail_margin():
    """The sibling test moved the choice to Q: sure when the step from Q is as clean as the step from the sibling,
    doubtful when it is much less clean (a merge of models outside the shortlist, moved to the family root)."""
    clean = confidence.finetune(0.0, 0.02, False, True, sibling_residual=0.0, moved=True)
    unclean = confidence.finetune(0.0, -0.3, False, True, sibling_residual=0.0, moved=True)
    assert clean >= 0.9
    assert unclean < confidence.FINETUNE_BASE < clean
    assert unclean >= confidence.FINETUNE_RANGE[0]


def test_a_finetune_whose_margins_all_go_against_it_is_near_the_floor():
    worst = confidence.finetune(0.0, -0.3, False, False, ancestor_ratio=0.95, sibling_residual=0.2)
    assert worst == confidence.FINETUNE_RANGE[0] < 0.2
    assert confidence.finetune(0.0, -0.1, False, True) < confidence.finetune(0.0, 0.0, False, True)


def test_a_quantized_resave_is_sure_by_its_grid_not_its_distance():
    near_radius = confidence.resave(0.007, 0.01)
    assert near_radius < confidence.resave(0.007, 0.01, quantized=True) == confidence.RESAVE_QUANTIZED
    assert confidence.resave(0.0, 0.01, quantized=True) == 1.0
    assert confidence.resave(0.007, 0.01, ordered=False, quantized=True) == confidence.RESAVE_UNORDERED


def test_merge_confidence_sparse_level_and_merge_sources():
    assert confidence.merge(0.6, [0.25, 0.22]) == confidence.merge(0.4, [0.1, 0.1, 0.1]) == confidence.SPARSE_MERGE
    exact, loose = confidence.merge(0.01, None), confidence.merge(0.1, None)
    assert exact > loose > confidence.SPARSE_MERGE
    assert confidence.merge(0.01, None, merge_source=True) == confidence.MERGE_OF_MERGE < loose
    assert confidence.merge(0.6, [0.25, 0.22], merge_source=True) == confidence.MERGE_OF_MERGE


def test_an_adapter_on_a_finetune_is_less_sure_than_one_on_a_root_at_any_margin():
    for margin in (0.0, 0.05, 0.15, 0.4, 1.0):
        on_root = confidence.adapter(BaseSource.GRADIENT, margin)
        on_finetune = confidence.adapter(BaseSource.GRADIENT, margin, on_root=False)
        assert confidence.ADAPTER_ON_FINETUNE[0] <= on_finetune <= confidence.ADAPTER_ON_FINETUNE[1]
        assert on_finetune < on_root
    # Still rising with the margin, so the margin keeps ranking adapters on finetunes among themselves.
    assert confidence.adapter(BaseSource.GRADIENT, 0.0, False) < confidence.adapter(BaseSource.GRADIENT, 0.1, False)
    # Whoever decided: the weights' choice of a finetune has the same near twins; a card naming the base does not.
    assert confidence.adapter(BaseSource.WEIGHTS, on_root=False) == confidence.ADAPTER_ON_FINETUNE[1]
    assert confidence.adapter(BaseSource.WEIGHTS) == confidence.ADAPTER["weights"]
    assert confidence.adapter(BaseSource.DECLARED, on_root=False) == confidence.ADAPTER["declared"]


def test_where_facts_are_stored_agreeing_with_the_weights_choice_picks_the_adapters_scale_not_the_root():
    # Both readings picked the same finetune: counted as on a root, above every answer the near-twin cap allows.
    for margin in (0.05, 0.15, 0.4):
        agreed = confidence.adapter(BaseSource.GRADIENT, margin, on_root=False, weights_choice=True)
        assert agreed == confidence.adapter(BaseSource.GRADIENT, margin)
        assert agreed > confidence.adapter(BaseSource.GRADIENT, margin, on_root=False)
        # The gradient overruled the weights: a root is no surer than a finetune at the same margin.
        split = confidence.adapter(BaseSource.GRADIENT, margin, on_root=True, weights_choice=False)
        assert split == confidence.adapter(BaseSource.GRADIENT, margin, on_root=False)
        assert split <= confidence.ADAPTER_ON_FINETUNE[1] < confidence.adapter(BaseSource.GRADIENT, 0.4)
    # No stored facts: on_root decides as before; the fact is only the gradient's (a card or the weights decided).
    assert confidence.adapter(BaseSource.GRADIENT, 0.2, on_root=False, weights_choice=None) == \
        confidence.adapter(BaseSource.GRADIENT, 0.2, on_root=False)
    assert confidence.adapter(BaseSource.WEIGHTS, on_root=False, weights_choice=True) == \
        confidence.ADAPTER_ON_FINETUNE[1]
    assert confidence.is_weights_choice("org/a", "org/a") is True
    assert confidence.is_weights_choice("org/b", "org/a") is False
    assert confidence.is_weights_choice("org/a", None) is None


def test_a_family_is_recomputed_when_its_adapters_weights_choice_changes():
    from hubindex.lineage.update import family_digest

    # Re-measured facts can move the weights' choice without moving the base: the adapter's confidence then changes,
    # so its family's stored lineage must not be taken as current.
    adapter = {"id": "org/adapter", "revision": "r1", "declared_base": None, "adapter_base": None, "created_at": None,
               "base": "org/ft", "dtype": "F32", "base_margin": 0.1, "base_alignment": 0.2, "weights_choice": True}
    digests = {family_digest([{**adapter, "weights_choice": choice}]) for choice in (True, False, None)}
    assert len(digests) == 3


def test_a_child_of_an_unordered_resave_pair_is_no_surer_than_the_pair():
    """Model 3 was trained from model 1, which a re-sharded copy (model 2) duplicates. With tied times nothing tells
    which of 1 and 2 is the original, so the child's answer may name the wrong one; distinct times orient the pair
    and the child's answer stands on its own evidence."""
    rng = np.random.default_rng(6)
    base = rng.normal(size=4_000)
    run = base + 0.05 * np.tanh(rng.normal(size=4_000))
    child = run + 0.05 * np.tanh(rng.normal(size=4_000))
    weights = np.stack([base, run, run.copy(), child])
    for tied in (True, False):
        ids, found = infer_toy_family(weights, tied)
        assert found[ids[3]].parents[0] in ids[1:3]
        if tied:
            assert found[ids[3]].confidence <= confidence.RESAVE_UNORDERED
        else:
            assert found[ids[3]].parents == [ids[1]]
            assert found[ids[3]].confidence > confidence.RESAVE_UNORDERED


def test_a_finetune_whose_nearest_candidate_a_test_overruled_is_no_surer_than_one_with_no_margin():
    """The sibling or hold test moved the parent away from the nearest candidate: the score's margins measured the
    candidate that lost, so a sure-looking score is capped; the cap never raises a score, and a low-rank delta from
    the chosen parent (a second test) or another relation is left alone."""
    sure = confidence.finetune(1.0, 0.2, False, True, sibling_residual=0.05, moved=True)
    assert sure == confidence.FINETUNE_RANGE[1]
    for moved_by in confidence.OVERRULED_BY:
        evidence = {moved_by: "org/sibling", "lora_merged": False}
        assert confidence.from_evidence("finetune", evidence, sure) == confidence.OVERRULED_NEAREST < sure
        assert confidence.from_evidence("finetune", evidence, 0.3) == 0.3
        capped = confidence.from_evidence("finetune", evidence, sure)
        assert confidence.from_evidence("finetune", evidence, capped) == capped  # applied twice: the same
    assert confidence.from_evidence("finetune", {"sibling_of": None, "not_held": None}, sure) == sure
    assert confidence.from_evidence("finetune", {"sibling_of": "org/s", "lora_merged": True}, 0.95) == 0.95
    assert confidence.from_evidence("finetune", {}, sure) == sure  # older catalogs, other decisions: no keys
    assert confidence.from_evidence("merge", {"sibling_of": "org/s"}, 0.9) == 0.9
