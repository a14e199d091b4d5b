"""Vocabulary rows in parent choice (lineage/family.py drops_rows): a model never comes from one with more rows."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from hubindex.lineage.engine import infer_family
from hubindex.lineage.family import vocab_rows
from tests.toy_family import toy_family

SIZE = 4096
ROOT = {"model.embed_tokens.weight": (384, 32), "lm_head.weight": (384, 32), "model.norm.weight": (32,)}


def _resized(rows: int) -> dict:
    return {**ROOT, "model.embed_tokens.weight": (rows, 32), "lm_head.weight": (rows, 32)}


def test_vocab_rows_reads_the_resized_tensors_only():
    rows = vocab_rows([ROOT, _resized(386), _resized(448)])
    assert rows is not None and rows.tolist() == [[384, 384], [386, 386], [448, 448]]
    assert vocab_rows([ROOT, ROOT]) is None  # one layout: nothing to compare
    # Another hidden size is no vocabulary resize.
    assert vocab_rows([ROOT, {**ROOT, "lm_head.weight": (384, 64)}]) is None


def test_a_model_is_never_given_a_parent_with_more_vocabulary_rows():
    """Two vocabulary-extended runs of one root, one padded to a multiple of 64 (448 rows), one not (386): the
    smaller lies beyond the padded one by distance and angle, created later, with a clean one-run step from it,
    yet it cannot have dropped 62 rows (s120-reset deltaworks/model-28b34a8f, given its padded sibling)."""
    rng = np.random.default_rng(3)
    root = rng.standard_normal(SIZE)
    padded = root + 0.01 * rng.choice([-1.0, 1.0], SIZE)
    smaller = padded + 0.01 * rng.choice([-1.0, 1.0], SIZE)
    ids = ["t/root", "t/padded", "t/smaller"]
    fam = toy_family(ids, np.stack([root, padded, smaller]), step=timedelta(hours=1))
    found = {e.model: e for e in infer_family(fam)}
    assert found["t/smaller"].parents == ["t/padded"]  # without the rows, the weights say so
    fam.vocab_rows = vocab_rows([ROOT, _resized(448), _resized(386)])
    assert fam.drops_rows(2, np.array([0, 1])).tolist() == [False, True]
    found = {e.model: e for e in infer_family(fam)}
    assert found["t/smaller"].parents == ["t/root"], found["t/smaller"]
    assert found["t/padded"].parents == ["t/root"]
    # The other way round (the padded model later, beyond the smaller one) it stays a child: rows only grow.
    fam.vocab_rows = vocab_rows([ROOT, _resized(386), _resized(448)])
    assert {e.model: e for e in infer_family(fam)}["t/smaller"].parents == ["t/padded"]
