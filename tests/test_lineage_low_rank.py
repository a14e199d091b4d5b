"""LoRA-merged full checkpoints are recognised by the low rank of their delta from the parent (lineage/low_rank.py)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from hubindex.catalog import Catalog
from hubindex.checkpoint import ModelFolder
from hubindex.evaluate.lineage import evaluate_lineage
from hubindex.indexer.pipeline import index_paths
from hubindex.lineage.engine import update_lineage
from hubindex.lineage.low_rank import checked_tensors, delta_spectrum, energy_rank, low_rank_evidence
from hubindex.lineage.queries import entries
from hubindex.zoo.spec import LORA_MERGED_RANK
from hubindex.zoo.truth import load_truth


@pytest.mark.slow
def test_every_lora_merged_finetune_is_flagged_and_no_full_finetune(tiny_zoo, tiny_catalog):
    truth = load_truth(tiny_zoo)
    with Catalog(tiny_catalog, read_only=True) as catalog:
        found = {e.model: e for e in entries(catalog)}
        score = evaluate_lineage(catalog, str(tiny_zoo / "truth.json")).lora_merged
    merged = [m for m, e in truth.items() if e["method"] == "lora_merged"]
    full = [m for m, e in truth.items() if e["method"] == "full" and found[m].relation == "finetune"]
    assert len(merged) >= 4 and len(full) >= 10
    for model_id in merged:
        evidence = found[model_id].evidence
        assert found[model_id].relation == "finetune" and evidence["lora_merged"] is True, (model_id, evidence)
        assert 0 < evidence["low_rank_delta"]["rank"] <= LORA_MERGED_RANK, (model_id, evidence)
        assert evidence["low_rank_delta"]["tensors"] >= 2 and evidence["low_rank_delta"]["energy"] >= 0.99
    for model_id in full:
        evidence = found[model_id].evidence
        assert evidence["lora_merged"] is False, (model_id, evidence)
        assert evidence["low_rank_delta"]["rank"] > evidence["low_rank_delta"]["bound"]
    assert score is not None and score.precision == 1.0 and score.recall == 1.0
    assert score.truth == len(merged) and score.checked >= len(merged) + len(full)


def test_randomized_spectrum_of_a_wide_delta_agrees_with_the_exact_one():
    generator = torch.Generator().manual_seed(0)
    low = torch.randn(1200, 16, generator=generator) @ torch.randn(16, 1100, generator=generator) * 1e-3
    full = torch.randn(1200, 1100, generator=generator) * 1e-3
    for delta, expected_low in ((low, True), (full, False)):
        sketch = energy_rank(*delta_spectrum(delta, bound=64))
        exact = energy_rank(torch.linalg.svdvals(delta.double()) ** 2, float(delta.double().pow(2).sum()))
        assert (sketch <= 64) is expected_low and (exact <= 64) is expected_low, (sketch, exact)
        if expected_low:
            assert sketch == exact == 16
    assert energy_rank(torch.zeros(3), 0.0) == 0


def _lora_pair(tiny_zoo):
    truth = load_truth(tiny_zoo)
    child = next(m for m in sorted(truth) if truth[m]["method"] == "lora_merged" and truth[m]["family"] == "lm")
    return truth, child, truth[child]["parents"][0]


def _indexed_trio(tiny_zoo, tmp_path):
    """A merged LoRA, its parent and a full-finetune sibling copied into a hub of their own and indexed (no
    embeddings): (child, parent, sibling, hub, db)."""
    truth, child, parent = _lora_pair(tiny_zoo)
    sibling = next(m for m in sorted(truth) if truth[m]["method"] == "full" and truth[m]["parents"] == [parent])
    hub = tmp_path / "hub"
    for model_id in (parent, child, sibling):
        shutil.copytree(tiny_zoo / model_id, hub / model_id)
    db = tmp_path / "c.duckdb"
    index_paths(db, [hub], ["hubindex"], embed=False, quiet=True)
    return child, parent, sibling, hub, db


def _poison(folder, name: str, value: float) -> None:
    """Overwrite tensor `name` of a copied F32 checkpoint in place with `value` everywhere."""
    opened = ModelFolder.open(folder)
    info = opened.tensors[name]
    owner = next(f for f in opened.files if name in f.tensors)
    with open(owner.path, "r+b") as handle:
        handle.seek(info.start)
        handle.write(np.full(info.shape, value, dtype=np.float32).tobytes())


def test_bad_or_missing_weights_are_recorded_as_not_checked(tiny_zoo, tmp_path):
    truth, child, parent = _lora_pair(tiny_zoo)
    assert low_rank_evidence(None, str(tiny_zoo / parent)) == {}  # crawled fingerprint: no local weights
    adapter = next(m for m in sorted(truth) if truth[m]["relation"] == "adapter")
    assert low_rank_evidence(str(tiny_zoo / adapter), str(tiny_zoo / parent)) == {}
    assert low_rank_evidence(str(tiny_zoo / child), str(tiny_zoo / parent))["lora_merged"] is True

    def reason(child_path, parent_path=tiny_zoo / parent) -> str:
        found = low_rank_evidence(str(child_path), str(parent_path))
        assert set(found) == {"low_rank_delta"} and set(found["low_rank_delta"]) == {"not_checked"}, found
        return found["low_rank_delta"]["not_checked"]

    assert "no such directory" in reason(tmp_path / "gone")
    other_family = next(m for m in sorted(truth) if truth[m]["family"] == "gpt" and truth[m]["relation"] == "root")
    assert "no tensor named" in reason(tiny_zoo / child, tiny_zoo / other_family)
    nan = tmp_path / "nan"
    shutil.copytree(tiny_zoo / child, nan)
    _poison(nan, checked_tensors(ModelFolder.open(nan))[0], float("nan"))
    assert "non-finite" in reason(nan)
    truncated = tmp_path / "truncated"
    shutil.copytree(tiny_zoo / child, truncated)
    weights = next(truncated.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-100])
    assert "truncated" in reason(truncated)


@pytest.mark.slow
def test_a_file_broken_after_indexing_costs_only_its_own_check(tiny_zoo, tmp_path):
    """Lineage is recomputed from the catalog's samples; the low-rank check reads the files, and a broken one is
    recorded on its model while the family's answers and its siblings' checks stand."""
    child, parent, sibling, hub, db = _indexed_trio(tiny_zoo, tmp_path)
    weights = next((hub / child).glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-100])
    with Catalog(db) as catalog:
        assert update_lineage(catalog, force=True) == {parent: 3}
        found = {e.model: e for e in entries(catalog)}
    assert found[child].parents == [parent] and found[child].relation == "finetune"
    assert "truncated" in found[child].evidence["low_rank_delta"]["not_checked"]
    assert "lora_merged" not in found[child].evidence
    assert found[sibling].parents == [parent] and found[sibling].evidence["lora_merged"] is False


@pytest.mark.slow
def test_a_low_rank_delta_from_the_root_overrules_a_wrong_sibling_parent(tiny_zoo, tmp_path):
    """A merged LoRA put on a sibling finetune (what the engine does when a same-domain sibling looks nearer by
    distance and step tail, seen on stripped zoos) is moved back to the root, where its delta is low rank."""
    from hubindex.lineage.engine import infer_family
    from hubindex.lineage.family import families
    from hubindex.lineage.low_rank import check_low_rank

    child, parent, sibling, _hub, db = _indexed_trio(tiny_zoo, tmp_path)
    with Catalog(db, read_only=True) as catalog:
        family = families(catalog)[0]
    found = {e.model: e for e in infer_family(family)}
    assert found[child].parents == [parent] and "parent_by_rank" not in found[child].evidence
    wrong = found[child].model_copy(update={"parents": [sibling], "evidence": {"runner_up": None}})
    check_low_rank(family, {child: wrong})
    assert wrong.parents == [parent] and wrong.evidence["lora_merged"] is True
    assert wrong.evidence["parent_by_rank"]["replaced"] == sibling
    assert wrong.evidence["parent_by_rank"]["its_rank"] > wrong.evidence["low_rank_delta"]["bound"]
