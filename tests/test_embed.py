"""Delta Activations: batching with padding reads the same features as one probe at a time; recipes are as named."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hubindex.embed.activations import load_probe_model, probe_features
from hubindex.embed.methods import METHODS, get_method
from hubindex.embed.probes import PAPER_PROBES
from hubindex.errors import CheckpointError, HubindexError
from hubindex.zoo.truth import load_truth

pytestmark = pytest.mark.slow


def _pick(truth, relation):
    return next(m for m, e in truth.items() if e["relation"] == relation and e["family"] == "lm")


def test_batched_probes_equal_one_at_a_time(tiny_zoo):
    truth = load_truth(tiny_zoo)
    probe = load_probe_model(tiny_zoo / _pick(truth, "finetune"))
    prompts = get_method("hubindex").probes[:12]  # different lengths: padding matters
    lengths = {len(probe.tokenizer(p)["input_ids"]) for p in prompts}
    assert len(lengths) > 3
    batched = probe_features(probe, prompts, batch_size=12)
    single = probe_features(probe, prompts, batch_size=1)
    for pooling in ("last", "mean"):
        torch.testing.assert_close(batched[pooling], single[pooling], atol=2e-4, rtol=1e-4)


def test_adapter_is_applied_in_memory_and_shifts_activations(tiny_zoo):
    truth = load_truth(tiny_zoo)
    adapter = _pick(truth, "adapter")
    base = tiny_zoo / truth[adapter]["parents"][0]
    before = sorted(p.name for p in (tiny_zoo / adapter).iterdir())
    with_adapter = probe_features(load_probe_model(tiny_zoo / adapter, base), PAPER_PROBES, 5)
    plain = probe_features(load_probe_model(base), PAPER_PROBES, 5)
    assert float((with_adapter["last"] - plain["last"]).abs().max()) > 1e-4
    assert sorted(p.name for p in (tiny_zoo / adapter).iterdir()) == before  # nothing merged to disk
    with pytest.raises(CheckpointError, match="without a known base"):
        load_probe_model(tiny_zoo / adapter)


def test_recipes_are_as_documented():
    paper = METHODS["paper"]
    assert len(paper.probes) == 5 and paper.batch_size == 1 and paper.pooling == "last"
    assert all("### Instruction:\nPlease provide a response. Input:Input." in p for p in paper.probes)
    default = METHODS["hubindex"]
    assert len(default.probes) == 40 and len(set(default.probes)) == 40
    features = {"last": torch.ones(5, 3, 4), "mean": torch.zeros(5, 3, 4)}
    base = {"last": torch.zeros(5, 3, 4), "mean": torch.zeros(5, 3, 4)}
    np.testing.assert_array_equal(paper.delta(features, base), np.ones(4, dtype=np.float32))
    with pytest.raises(HubindexError, match="unknown embedding method"):
        get_method("nope")
