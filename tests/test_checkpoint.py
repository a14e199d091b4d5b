"""The safetensors reader and writer: round trips, sharding, and every way a file can lie."""

import json
import os
import shutil
import signal
import struct

import pytest
import torch
from safetensors.torch import load_file, save_file

from hubindex.checkpoint import ModelFolder, SafetensorsFile
from hubindex.checkpoint.safe_read import RefusedFile, check_folder, parse_json, parse_yaml, read_capped
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


# ---- reading folders someone else made (hubindex.checkpoint.safe_read)


def _hf_snapshot(tmp_path, tensors):
    """A huggingface_hub cache layout: snapshot files are relative links into the repo's blobs/."""
    source = write_checkpoint(tmp_path / "written", tensors)
    repo = tmp_path / "hub" / "models--org--name"
    snapshot = repo / "snapshots" / ("a" * 40)
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for i, path in enumerate(sorted(source.iterdir())):
        (repo / "blobs" / f"blob{i}").write_bytes(path.read_bytes())
        os.symlink(f"../../blobs/blob{i}", snapshot / path.name)
    return repo, snapshot


def test_hf_cache_snapshot_links_into_its_own_blobs_are_followed(tmp_path):
    tensors = random_tensors(4, SHAPES)
    repo, snapshot = _hf_snapshot(tmp_path, tensors)
    folder = ModelFolder.open(snapshot)
    assert all(torch.equal(folder.read(n), t) for n, t in tensors.items())
    # ...but not into another repo's blobs, nor anywhere else
    other = tmp_path / "hub" / "models--org--other" / "blobs"
    other.mkdir(parents=True)
    (other / "x").write_bytes((repo / "blobs" / "blob0").read_bytes())
    (snapshot / "config.json").unlink()
    os.symlink(other / "x", snapshot / "config.json")
    with pytest.raises(RefusedFile, match="outside the model folder or its huggingface_hub cache's blobs"):
        ModelFolder.open(snapshot)


def test_hf_cache_shared_blob_store_is_followed(tmp_path):
    """huggingface_hub >= 2 keeps Xet files once per cache (`CACHE/blobs/<xx>/<hash>`), linked from the repo's blobs."""
    tensors = random_tensors(4, SHAPES)
    repo, snapshot = _hf_snapshot(tmp_path, tensors)
    store = tmp_path / "hub" / "blobs" / "ab"
    store.mkdir(parents=True)
    for blob in sorted((repo / "blobs").iterdir()):
        (store / blob.name).write_bytes(blob.read_bytes())
        blob.unlink()
        os.symlink(f"../../blobs/ab/{blob.name}", blob)
    folder = ModelFolder.open(snapshot)
    assert all(torch.equal(folder.read(n), t) for n, t in tensors.items())


def test_links_out_of_a_plain_folder_are_refused_without_quoting_the_target(tmp_path):
    write_checkpoint(tmp_path / "m", random_tensors(5, SHAPES))
    (tmp_path / "m" / "model.safetensors").unlink()
    os.symlink("/etc/passwd", tmp_path / "m" / "model.safetensors")
    with pytest.raises(RefusedFile) as caught:
        ModelFolder.open(tmp_path / "m")
    assert "outside the model folder" in str(caught.value)
    assert "root:" not in str(caught.value) and "/etc/passwd" not in str(caught.value)
    assert "3475222254926655346" not in str(caught.value)
    (tmp_path / "m" / "model.safetensors").unlink()
    shutil.copyfile("/etc/passwd", tmp_path / "m" / "model.safetensors")  # the same bytes as a regular file
    with pytest.raises(CheckpointError, match="not a safetensors file") as caught:
        ModelFolder.open(tmp_path / "m")
    assert "3475222254926655346" not in str(caught.value)


def test_special_files_are_refused_on_the_descriptor_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "config.json")
    os.symlink("config.json", tmp_path / "tokenizer.json")
    signal.alarm(20)  # a blocking open of the FIFO would hang the test: fail it instead
    try:
        with pytest.raises(RefusedFile, match="a FIFO, not a regular file"):
            read_capped(tmp_path / "config.json")
        with pytest.raises(RefusedFile, match="a FIFO"):
            read_capped(tmp_path / "tokenizer.json")
        with pytest.raises(RefusedFile, match="a FIFO"):
            check_folder(tmp_path)
    finally:
        signal.alarm(0)


def test_size_caps_are_checked_before_reading(tmp_path):
    path = tmp_path / "config.json"
    with open(path, "wb") as handle:
        handle.truncate(100 << 20)  # sparse: costs nothing on disk
    with pytest.raises(RefusedFile, match=r"over the 4 MiB cap for config\.json"):
        read_capped(path)
    with pytest.raises(RefusedFile, match="over the 1 KiB cap"):
        read_capped(path, cap=1024)


@pytest.mark.parametrize(("text", "message"), [
    ('{"a":' * 100_000 + "1" + "}" * 100_000, "nested deeper"),
    ("[" * 200 + "]" * 200, "nested deeper"),
    ('{"n": ' + "9" * 5000 + "}", "not valid JSON"),
    ('{"a": "\\u00e9', "not valid JSON"),
])
def test_json_is_parsed_with_bounds(text, message):
    with pytest.raises(CheckpointError, match=message):
        parse_json(text, "x.json")
    assert parse_json('{"a": [1, {"b": 2}]}', "x.json") == {"a": [1, {"b": 2}]}


def test_yaml_aliases_are_bounded_by_their_expansion():
    laughs = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "\n".join(
        f"{n}: &{n} [" + ",".join([f"*{p}"] * 9) + "]" for p, n in zip("abcdefgh", "bcdefghi", strict=True))
    with pytest.raises(RefusedFile, match="billion laughs"):
        parse_yaml(laughs, "README.md")
    with pytest.raises(RefusedFile, match="contains itself"):
        parse_yaml("a: &a [*a]", "README.md")
    with pytest.raises(CheckpointError, match="not valid YAML"):
        parse_yaml("x: !!python/object/apply:os.system ['true']", "README.md")
    assert parse_yaml("base: &b x/y\nmodels: [*b, *b]", "README.md") == {"base": "x/y", "models": ["x/y", "x/y"]}


@pytest.mark.parametrize(("mutate", "error", "message"), [
    (lambda h: h["a.weight"].update(dtype="F8_E4M3", shape=[128]), UnsupportedFormatError, "F8_E4M3"),
    (lambda h: h["a.weight"].update(shape=[True, 4]), CheckpointError, "invalid shape"),
    (lambda h: h["a.weight"].update(shape=[0, 1 << 62], data_offsets=[0, 0]), CheckpointError, "invalid shape"),
    (lambda h: h["a.weight"].update(dtype=["F32"]), CheckpointError, "unknown dtype"),
])
def test_headers_are_validated_before_use(tmp_path, mutate, error, message):
    write_checkpoint(tmp_path, random_tensors(3, SHAPES))
    _rewrite_header(tmp_path / "model.safetensors", mutate)
    with pytest.raises(error, match=message):
        SafetensorsFile(tmp_path / "model.safetensors")


def test_tensor_count_is_capped_before_parsing(tmp_path):
    entries = ",".join(f'"t{i}":{{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}' for i in range(100_001))
    header = ("{" + entries + "}").encode()
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(RefusedFile, match="more than 100000 tensors"):
        SafetensorsFile(tmp_path / "model.safetensors")


def test_sparse_weight_files_are_refused_before_allocating(tmp_path):
    claimed = 4 << 30
    header = json.dumps({"w": {"dtype": "F32", "shape": [claimed // 4], "data_offsets": [0, claimed]}}).encode()
    with open(tmp_path / "model.safetensors", "wb") as handle:
        handle.write(struct.pack("<Q", len(header)) + header)
        handle.truncate(8 + len(header) + claimed)
    with pytest.raises(RefusedFile, match="sparse file"):
        SafetensorsFile(tmp_path / "model.safetensors")
