"""Confidence terms (hubindex.lineage.confidence): pure functions of the evidence, and the engine's use of them."""

from __future__ import annotations

from hubindex.lineage import confidence
from hubindex.status import BaseSource


def test_a_move_to_the_parents_parent_keeps_the_sign_of_the_tail_margin():
    """The sibling test moved the choice to Q: sure when the step from Q is as clean as the step from the sibling,
    doubtful when it is much less clean (a merge of models outside the shortlist, moved to the family root)."""
    clean = confidence.finetune(0.0, 0.02, False, True, sibling_residual=0.0, moved=True)
    unclean = confidence.finetune(0.0, -0.3, False, True, sibling_residual=0.0, moved=True)
    assert clean >= 0.9
    assert unclean < confidence.FINETUNE_BASE < clean
    assert unclean >= confidence.FINETUNE_RANGE[0]


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
    assert confidence.adapter("weights", 0.0, on_root=False) == confidence.ADAPTER["weights"]

