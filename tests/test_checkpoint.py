"""The safetensors reader and writer: round trips, sharding, and every way a file can lie."""

import json
import struct

import pytest
import torch
from safetensors.torch import load_file, save_file

from hubindex.checkpoint import ModelFolder, SafetensorsFile
from hubindex.errors import CheckpointError, UnsupportedFormatError
from tests.helpers import random_tensors, write_checkpoint

SHAPES = {"a.weight": (8, 4), "b.weight": (16, 4), "c.bias": (16,), "d.weight": (4, 4)}


def test_round_trip_matches_safetensors_library(tmp_path):
    tensors = random_tensors(0, SHAPES)
    tensors["e.half"] = torch.randn(3, 5).to(torch.bfloat16)
    tensors["f.int"] = torch.arange(6, dtype=torch.int64)
    write_checkpoint(tmp_path, tensors)
    loaded = load_file(tmp_path / "model.safetensors")  # the reference reader accepts our files
    ours = SafetensorsFile(tmp_path / "model.safetensors")
    for name, tensor in tensors.items():
        assert torch.equal(loaded[name], tensor)
        assert torch.equal(ours.read(name), tensor)


def test_sharded_write_has_index_and_reads_back(tmp_path):
    tensors = random_tensors(1, SHAPES)
    write_checkpoint(tmp_path, tensors, max_shard_bytes=200)
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) >= 3 and all((tmp_path / s).is_file() for s in shards)
    assert index["metadata"]["total_size"] == sum(t.numel() * 4 for t in tensors.values())
    folder = ModelFolder.open(tmp_path)
    assert set(folder.tensors) == set(tensors)
    for name, tensor in tensors.items():
        assert torch.equal(folder.read(name), tensor)


def test_reads_files_written_by_safetensors(tmp_path):
    tensors = random_tensors(2, SHAPES)
    save_file(tensors, tmp_path / "model.safetensors", metadata={"format": "pt"})
    f = SafetensorsFile(tmp_path / "model.safetensors")
    assert f.metadata == {"format": "pt"}
    assert all(torch.equal(f.read(n), t) for n, t in tensors.items())


def _rewrite_header(path, mutate):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    mutate(header)
    new = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n :])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda h: h["a.weight"].update(data_offsets=[0, 64]), "need 128"),
        (lambda h: h["a.weight"].update(shape=[8, 5]), "need 160"),
        (lambda h: h["a.weight"].update(dtype="Q7"), "unknown dtype"),
        (lambda h: h["b.weight"].update(data_offsets=[h["b.weight"]["data_offsets"][0] + 4,
                                                      h["b.weight"]["data_offsets"][1] + 4]), "gap"),
        (lambda h: h["b.weight"].update(data_offsets=[0, 256]), "overlaps"),
    ],
)
def test_lying_headers_are_rejected(tmp_path, mutate, message):
    write_checkpoint(tmp_path, random_tensors(3, SHAPES))
    _rewrite_header(tmp_path / "model.safetensors", mutate)
    with pytest.raises(CheckpointError, match=message):
        SafetensorsFile(tmp_path / "model.safetensors")


def test_truncated_file_and_header(tmp_path):
    write_checkpoint(tmp_path, random_tensors(4, SHAPES))
    path = tmp_path / "model.safetensors"
    raw = path.read_bytes()
    path.write_bytes(raw[:-10])
    with pytest.raises(CheckpointError, match="truncated"):
        SafetensorsFile(path)
    path.write_bytes(raw[:20])
    with pytest.raises(CheckpointError, match="truncated safetensors header"):
        SafetensorsFile(path)
    path.write_bytes(b"\x01\x02")
    with pytest.raises(CheckpointError, match="no header length"):
        SafetensorsFile(path)
    path.write_bytes(struct.pack("<Q", 5) + b"{oops")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        SafetensorsFile(path)


def test_pickle_only_folder_is_unsupported_and_never_opened(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    # Not a real pickle: if anything tried to unpickle it, it would fail differently.
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(UnsupportedFormatError, match="never unpickles"):
        ModelFolder.open(tmp_path)


def test_missing_config_and_missing_weights(tmp_path):
    write_checkpoint(tmp_path / "m", random_tensors(5, SHAPES))
    (tmp_path / "m" / "config.json").unlink()
    with pytest.raises(CheckpointError, match=r"missing config\.json"):
        ModelFolder.open(tmp_path / "m")
    assert ModelFolder.open(tmp_path / "m", require_config=False).kind == "model"
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="missing weight file"):
        ModelFolder.open(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="no such directory"):
        ModelFolder.open(tmp_path / "absent")


def test_index_that_disagrees_with_shards(tmp_path):
    write_checkpoint(tmp_path, random_tensors(6, SHAPES), max_shard_bytes=200)
    index_path = tmp_path / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    index["weight_map"]["a.weight"] = index["weight_map"]["d.weight"]
    index_path.write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match="does not hold it"):
        ModelFolder.open(tmp_path)
    index["weight_map"]["a.weight"] = "../outside.safetensors"
    index_path.write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match="invalid shard file name"):
        ModelFolder.open(tmp_path)


def test_writer_refuses_out_of_plan_tensors(tmp_path):
    from hubindex.checkpoint import PlannedTensor, ShardedWriter

    plan = [PlannedTensor("x", "F32", (2,)), PlannedTensor("y", "F32", (2,))]
    with pytest.raises(CheckpointError, match="out of order"), ShardedWriter(tmp_path, plan) as w:
        w.write("y", torch.zeros(2))
    with pytest.raises(CheckpointError, match="plan says"), ShardedWriter(tmp_path, plan) as w:
        w.write("x", torch.zeros(3))
    with pytest.raises(CheckpointError, match="never written"), ShardedWriter(tmp_path, plan) as w:
        w.write("x", torch.zeros(2))
