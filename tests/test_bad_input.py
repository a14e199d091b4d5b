"""Bad input is recorded with a reason, the run goes on, and nothing already indexed is lost."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import struct

import pytest

from hubindex.catalog import Catalog
from hubindex.catalog.queries import similar
from hubindex.checkpoint.folder import TOKENIZER_FILES
from hubindex.indexer.pipeline import index_paths
from hubindex.zoo.truth import load_truth
from tests.helpers import CONFIG, random_tensors, write_checkpoint

pytestmark = pytest.mark.slow


class _Payload:
    """Unpickling this creates a file: proof that a loader ran pickle code."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _lie_about_offsets(path) -> None:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    name = next(k for k in header if k != "__metadata__")
    begin, end = header[name]["data_offsets"]
    header[name]["data_offsets"] = [begin + 4, end + 4]  # same size, shifted: overlaps its neighbour
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + raw[8 + length :])


@pytest.fixture
def messy_hub(tiny_zoo, tmp_path):
    truth = load_truth(tiny_zoo)
    root_id = next(m for m, e in truth.items() if e["relation"] == "root" and e["family"] == "lm")
    tunes = [m for m, e in truth.items() if e["relation"] == "finetune" and e["parents"] == [root_id]][:3]
    hub = tmp_path / "hub"
    for model_id in [root_id, *tunes]:
        shutil.copytree(tiny_zoo / model_id, hub / model_id)
    good = [root_id, *tunes]
    source = tiny_zoo / tunes[0]
    shutil.copytree(source, hub / "bad/truncated")
    weights = next((hub / "bad/truncated").glob("*.safetensors"))
    os.truncate(weights, weights.stat().st_size - 100)
    shutil.copytree(source, hub / "bad/lying-offsets")
    _lie_about_offsets(next((hub / "bad/lying-offsets").glob("*.safetensors")))
    shutil.copytree(source, hub / "bad/wrong-vocab")
    config = json.loads((hub / "bad/wrong-vocab/config.json").read_text())
    (hub / "bad/wrong-vocab/config.json").write_text(json.dumps({**config, "vocab_size": config["vocab_size"] + 7}))
    tensors = random_tensors(0, {"model.embed_tokens.weight": (16, 8), "lm_head.weight": (16, 8)})
    tensors["lm_head.weight"][0, 0] = float("inf")
    write_checkpoint(hub / "bad/inf-weights", tensors, CONFIG)
    (hub / "bad/pickle-only").mkdir(parents=True)
    (hub / "bad/pickle-only/config.json").write_text(json.dumps(CONFIG))
    marker = tmp_path / "unpickled.txt"
    (hub / "bad/pickle-only/pytorch_model.bin").write_bytes(pickle.dumps(_Payload(str(marker))))
    shutil.copytree(source, hub / "bad/no-tokenizer")
    for name in TOKENIZER_FILES:
        (hub / "bad/no-tokenizer" / name).unlink(missing_ok=True)
    shutil.copytree(source, hub / "bad/bad name")
    (hub / "outside").mkdir()
    os.symlink(tiny_zoo / root_id, hub / "outside" / "linked")  # links could lead out of the root: not followed
    return hub, good, marker


def test_each_bad_model_is_recorded_and_the_run_goes_on(messy_hub, tmp_path):
    hub, good, marker = messy_hub
    db = tmp_path / "c.duckdb"
    report = index_paths(db, [hub], ["hubindex"], quiet=True)
    failures = {f.model: f for f in report.failed}
    expected = {"bad/truncated": ("error", "truncated"), "bad/lying-offsets": ("error", "offset"),
                "bad/wrong-vocab": ("error", "vocab_size"), "bad/inf-weights": ("error", "NaN/inf"),
                "bad/pickle-only": ("unsupported", "never unpickles")}
    for model_id, (status, words) in expected.items():
        assert failures[model_id].status == status and words in failures[model_id].error, failures[model_id]
    assert not marker.exists(), "a pickle file was unpickled"
    assert len(report.skipped) == 1 and "bad name" in report.skipped[0]
    with Catalog(db, read_only=True) as catalog:
        rows = {r["id"]: r for r in catalog.models()}
        assert "outside/linked" not in rows
        for model_id, (status, words) in expected.items():
            assert rows[model_id]["status"] == status and words in rows[model_id]["error"]
        assert rows["bad/no-tokenizer"]["status"] == "weights_only"
        assert "tokenizer" in rows["bad/no-tokenizer"]["error"]
        assert catalog.signature("bad/no-tokenizer") is not None
        for model_id in good:
            assert rows[model_id]["status"] == "indexed"
        for model_id in good[1:]:
            assert catalog.embedding(model_id, "hubindex") is not None
        assert similar(catalog, good[1], 2, "delta")


def test_a_model_corrupted_later_keeps_its_last_good_rows(messy_hub, tmp_path):
    hub, good, _ = messy_hub
    db = tmp_path / "c.duckdb"
    index_paths(db, [hub], ["hubindex"], quiet=True)
    with Catalog(db, read_only=True) as catalog:
        before = {m: catalog.model(m)["revision"] for m in good}
        signature = catalog.signature(good[1])["samples"]
    weights = next((hub / good[1]).glob("*.safetensors"))
    os.truncate(weights, weights.stat().st_size // 2)
    report = index_paths(db, [hub], ["hubindex"], quiet=True)
    assert any(f.model == good[1] and "truncated" in f.error for f in report.failed)
    with Catalog(db, read_only=True) as catalog:
        row = catalog.model(good[1])
        assert row["status"] == "error" and row["revision"] == before[good[1]]
        assert (catalog.signature(good[1])["samples"] == signature).all()
        assert {m: catalog.model(m)["revision"] for m in good} == before
        assert catalog.model(good[2])["status"] == "indexed"
        assert good[1] not in [h.model for h in similar(catalog, good[2], 5, "weights")]
