"""Hostile model folders: each one, beside two good models, is recorded with a reason and costs the run nothing.

Every case is built here (FIFOs, sockets, sparse files and symlinks are cheap; nothing large is written) and indexed
with the real in-process pipeline. The two good models are indexed once; each case then runs `index` over the good
root (unchanged, skipped by stamp) and a root holding the one bad folder, and checks: the good models are still
indexed, the bad one has the expected status and reason, the run stayed within time and memory bounds (generous:
the test machine is shared), nothing was executed and nothing was written into the model folders.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import socket
import struct
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from hubindex.catalog import Catalog
from hubindex.indexer.pipeline import index_paths
from hubindex.zoo.truth import load_truth
from tests.helpers import CONFIG, PEAK_RSS_SNIPPET, random_tensors, write_checkpoint

pytestmark = pytest.mark.slow

SECONDS = 60  # per run; the target is 10 s on an idle machine, the bound leaves room for a loaded one
PEAK_GROWTH_MIB = 1024
MiB = 1 << 20
PASSWD_LEAK = "3475222254926655346"  # what the first 8 bytes of /etc/passwd read as a header length


@dataclass(frozen=True)
class Sources:
    """Good folders a case may copy: a finetune, an adapter, and the root both derive from."""

    root: Path
    finetune: Path
    adapter: Path
    marker: Path  # a file that appears only if something in a hostile folder was executed


# ---------------------------------------------------------------- building blocks


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def _header(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + length]), raw[8 + length :]


def _write_safetensors(path: Path, header: bytes | dict, data: bytes = b"", size: int | None = None) -> None:
    """A safetensors file with exactly this header; `size` extends it sparsely (a hole, nothing written)."""
    encoded = header if isinstance(header, bytes) else json.dumps(header).encode()
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)) + encoded + data)
        if size is not None:
            handle.truncate(size)


def _mutate_header(folder: Path, mutate: Callable[[dict], None]) -> None:
    path = folder / "model.safetensors"
    header, data = _header(path)
    mutate(header)
    _write_safetensors(path, header, data)


def _first_tensor(header: dict) -> dict:
    return header[next(k for k in header if k != "__metadata__")]


def _retype(code: str) -> Callable[[dict], None]:
    """The first tensor re-declared as a 1-byte dtype over the same bytes: layout valid, dtype the only problem."""

    def mutate(header: dict) -> None:
        entry = _first_tensor(header)
        begin, end = entry["data_offsets"]
        entry.update(dtype=code, shape=[end - begin])

    return mutate


def _set_shape(shape: list) -> Callable[[dict], None]:
    return lambda header: _first_tensor(header).update(shape=shape)


def _add_empty_tensor(shape: list) -> Callable[[dict], None]:
    """A zero-byte tensor at the end of the data: only its shape can be wrong."""

    def mutate(header: dict) -> None:
        end = max(e["data_offsets"][1] for k, e in header.items() if k != "__metadata__")
        header["zzz.empty"] = {"dtype": "F32", "shape": shape, "data_offsets": [end, end]}

    return mutate


def _many_entries(count: int, with_data: bool) -> bytes:
    parts = [f'"t{i:x}":{{"dtype":"U8","shape":[{int(with_data)}],"data_offsets":[{i * with_data},'
             f'{(i + 1) * with_data}]}}' for i in range(count)]
    return ("{" + ",".join(parts) + "}").encode()


def _nested(depth: int, kind: str) -> str:
    return '{"a":' * depth + "1" + "}" * depth if kind == "object" else "[" * depth + "]" * depth


def _fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def _socket(path: Path) -> socket.socket:
    path.unlink(missing_ok=True)
    here = os.getcwd()
    os.chdir(path.parent)  # AF_UNIX paths are limited to ~100 bytes: bind by a short relative name
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(path.name)
    finally:
        os.chdir(here)
    return sock


def _link(path: Path, target: str | Path) -> None:
    path.unlink(missing_ok=True)
    os.symlink(target, path)


def _sparse(path: Path, size: int, start: bytes = b"") -> None:
    path.unlink(missing_ok=True)
    with open(path, "wb") as handle:
        handle.write(start)
        handle.truncate(size)


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


# ---------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path, Sources], object]  # writes the folder; may return an object to keep alive (a socket)
    status: str  # what the catalog must record for it
    words: str  # part of the recorded reason ("" for an indexed model)


def _ft(mutate: Callable[[Path, Sources], object]) -> Callable[[Path, Sources], object]:
    """A copy of the good finetune, then `mutate(folder, sources)`."""

    def build(folder: Path, sources: Sources) -> object:
        _copy(sources.finetune, folder)
        return mutate(folder, sources)

    return build


def _adapter(mutate: Callable[[Path, Sources], object]) -> Callable[[Path, Sources], object]:
    def build(folder: Path, sources: Sources) -> object:
        _copy(sources.adapter, folder)
        return mutate(folder, sources)

    return build


def _header_case(header: bytes | Callable[[], bytes], data: bytes = b"") -> Callable[[Path, Sources], object]:
    """A copy of the finetune whose weights file has this header (a callable for big ones: built when used)."""
    return _ft(lambda f, s: _write_safetensors(f / "model.safetensors", header() if callable(header) else header,
                                               data))


def _write(name: str, content: str | bytes) -> Callable[[Path, Sources], object]:
    def mutate(folder: Path, sources: Sources) -> None:
        path = folder / name
        path.unlink(missing_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())

    return mutate


def _config_with(**extra: object) -> Callable[[Path, Sources], object]:
    def mutate(folder: Path, sources: Sources) -> None:
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, **extra}))

    return mutate


def _truncate(folder: Path, sources: Sources) -> None:
    path = folder / "model.safetensors"
    os.truncate(path, path.stat().st_size - 100)


def _lie_about_offsets(header: dict) -> None:
    entry = _first_tensor(header)
    begin, end = entry["data_offsets"]
    entry["data_offsets"] = [begin + 4, end + 4]


def _inf_weights(folder: Path, sources: Sources) -> None:
    tensors = random_tensors(0, {"model.embed_tokens.weight": (16, 8), "lm_head.weight": (16, 8)})
    tensors["lm_head.weight"][0, 0] = float("inf")
    write_checkpoint(folder, tensors, CONFIG)


def _pickle_only(folder: Path, sources: Sources) -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(CONFIG))
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Payload(str(sources.marker))))


def _sparse_huge_tensor(folder: Path, sources: Sources) -> None:
    tensor = 4 << 30  # 4 GiB of F32 claimed, none of it on disk
    header = json.dumps({"w": {"dtype": "F32", "shape": [tensor // 4], "data_offsets": [0, tensor]}}).encode()
    _write_safetensors(folder / "model.safetensors", header, size=8 + len(header) + tensor)


def _auto_map_bait(folder: Path, sources: Sources) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "evil.py").write_text(f"open({str(sources.marker)!r}, 'w').close()\n")


def _billion_laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    lines.append("tags: *i")
    return "---\n" + "\n".join(lines) + "\n---\nbody\n"


def _weights_link_inside(folder: Path, sources: Sources) -> None:
    (folder / "blobs").mkdir()
    (folder / "model.safetensors").rename(folder / "blobs" / "abc123")
    os.symlink("blobs/abc123", folder / "model.safetensors")


def _link_to_neighbour(folder: Path, sources: Sources) -> None:
    _link(folder / "model.safetensors", sources.finetune / "model.safetensors")


def _link_to_fifo(folder: Path, sources: Sources) -> None:
    _fifo(folder / "weights.fifo")
    _link(folder / "model.safetensors", "weights.fifo")


def _loop(folder: Path, sources: Sources) -> None:
    _link(folder / "config.json", "config.json")


def _config_dir(folder: Path, sources: Sources) -> None:
    (folder / "config.json").unlink()
    (folder / "config.json").mkdir()


CASES = [
    # safetensors headers
    Case("header-deep-object", _header_case(_nested(100_000, "object").encode()), "error", "nested deeper"),
    Case("header-deep-list", _header_case(('{"w":{"dtype":"F32","shape":' + _nested(100_000, "list") + "}}")
                                          .encode()), "error", "nested deeper"),
    Case("header-1m-entries", _header_case(lambda: _many_entries(1_000_000, False)), "error", "header length"),
    Case("header-1m-entries-with-data", _header_case(lambda: _many_entries(1_000_000, True), bytes(1_000_000)),
         "error", "header length"),
    Case("header-200k-entries", _header_case(lambda: _many_entries(200_000, False)), "error",
         "more than 100000 tensors"),
    Case("header-huge-int", _header_case(b'{"w":{"dtype":"F32","shape":[' + b"9" * 5000 + b"]}}"),
         "error", "not valid JSON"),
    Case("header-not-json", _header_case(bytes(range(256)) * 4), "error", "not valid JSON"),
    Case("header-is-list", _header_case(b"[1, 2, 3]"), "error", "not a JSON object"),
    Case("header-length-huge", _ft(_write("model.safetensors", struct.pack("<Q", 1 << 63) + b"{}")), "error",
         "header length"),
    Case("header-beyond-file", _ft(_write("model.safetensors", struct.pack("<Q", 4096) + b"{}")), "error",
         "truncated"),
    Case("weights-empty-file", _ft(_write("model.safetensors", b"")), "error", "truncated"),
    Case("metadata-not-strings", _ft(lambda f, s: _mutate_header(f, lambda h: h.update(__metadata__={"a": 1}))),
         "error", "__metadata__"),
    Case("dtype-f8-e4m3", _ft(lambda f, s: _mutate_header(f, _retype("F8_E4M3"))), "unsupported", "F8_E4M3"),
    Case("dtype-f8-e5m2", _ft(lambda f, s: _mutate_header(f, _retype("F8_E5M2"))), "unsupported", "F8_E5M2"),
    Case("dtype-f4", _ft(lambda f, s: _mutate_header(f, _retype("F4"))), "unsupported", "F4"),
    Case("dtype-unknown", _ft(lambda f, s: _mutate_header(f, _retype("Q7"))), "error", "unknown dtype"),
    Case("dtype-not-a-string", _ft(lambda f, s: _mutate_header(f, lambda h: _first_tensor(h).update(
        dtype=["F32"]))), "error", "unknown dtype"),
    Case("shape-bool", _ft(lambda f, s: _mutate_header(f, lambda h: _first_tensor(h).update(
        shape=[True, *_first_tensor(h)["shape"][1:]]))), "error", "invalid shape"),
    Case("shape-negative", _ft(lambda f, s: _mutate_header(f, _set_shape([-1, 4]))), "error", "invalid shape"),
    Case("shape-float", _ft(lambda f, s: _mutate_header(f, _set_shape([2.0, 4]))), "error", "invalid shape"),
    Case("shape-rank-17", _ft(lambda f, s: _mutate_header(f, _set_shape([1] * 17))), "error", "invalid shape"),
    Case("shape-zero-and-huge", _ft(lambda f, s: _mutate_header(f, _add_empty_tensor([0, 1 << 62]))), "error",
         "invalid shape"),
    Case("shape-zero-and-int64", _ft(lambda f, s: _mutate_header(f, _add_empty_tensor([0, 1 << 64]))), "error",
         "invalid shape"),
    Case("shape-zero-stride", _ft(lambda f, s: _mutate_header(f, _add_empty_tensor([(1 << 31) - 1, 0, (1 << 31) - 1]))),
         "indexed", ""),
    Case("shape-claims-more-than-file", _ft(lambda f, s: _mutate_header(f, lambda h: _first_tensor(h).update(
        dtype="F32", shape=[1 << 20, 1 << 20], data_offsets=[0, 1 << 42]))), "error", "more than the whole file"),
    Case("offsets-bool", _ft(lambda f, s: _mutate_header(f, lambda h: _first_tensor(h).update(
        data_offsets=[False, True]))), "error", "invalid data_offsets"),
    Case("offsets-overlap", _ft(lambda f, s: _mutate_header(f, _lie_about_offsets)), "error", "offset"),
    Case("weights-truncated", _ft(_truncate), "error", "truncated"),
    Case("weights-inf", _inf_weights, "error", "NaN/inf"),
    Case("weights-are-passwd", _ft(lambda f, s: shutil.copyfile("/etc/passwd", f / "model.safetensors")), "error",
         "not a safetensors file"),
    Case("weights-sparse-huge-tensor", _ft(lambda f, s: _sparse_huge_tensor(f, s)), "error", "sparse"),
    Case("weights-pickle-only", _pickle_only, "unsupported", "never unpickles"),
    # config.json
    Case("config-deep", _ft(_write("config.json", _nested(100_000, "object"))), "error", "nested deeper"),
    Case("config-deep-500", _ft(_write("config.json", _nested(500, "object"))), "error", "nested deeper"),
    Case("config-100mb", _ft(lambda f, s: _sparse(f / "config.json", 100 * MiB, b"{")), "error", "cap"),
    Case("config-fifo", _ft(lambda f, s: _fifo(f / "config.json")), "error", "FIFO"),
    Case("config-dev-zero", _ft(lambda f, s: _link(f / "config.json", "/dev/zero")), "error", "outside"),
    Case("config-etc-passwd", _ft(lambda f, s: _link(f / "config.json", "/etc/passwd")), "error", "outside"),
    Case("config-link-loop", _ft(_loop), "error", "loop"),
    Case("config-is-directory", _ft(_config_dir), "error", "directory"),
    Case("config-is-list", _ft(_write("config.json", "[1, 2]")), "error", "expected a JSON object"),
    Case("config-garbage", _ft(_write("config.json", bytes(range(256)))), "error", "not valid JSON"),
    Case("config-huge-int", _ft(_write("config.json", '{"vocab_size": ' + "9" * 5000 + "}")), "error",
         "not valid JSON"),
    Case("config-quantization", _ft(_config_with(quantization_config={"quant_method": "gptq", "bits": 4})),
         "weights_only", "quant_method gptq"),
    Case("config-quantization-garbage", _ft(_config_with(quantization_config="x" * 100)), "weights_only",
         "quantized"),
    Case("config-auto-map-bait", _ft(_auto_map_bait), "indexed", ""),
    # model card
    Case("card-fifo", _ft(lambda f, s: _fifo(f / "README.md")), "error", "FIFO"),
    Case("card-dev-zero", _ft(lambda f, s: _link(f / "README.md", "/dev/zero")), "error", "outside"),
    Case("card-100mb", _ft(lambda f, s: _sparse(f / "README.md", 100 * MiB, b"---\n")), "error", "cap"),
    Case("card-billion-laughs", _ft(_write("README.md", _billion_laughs())), "error", "billion laughs"),
    Case("card-deep-yaml", _ft(_write("README.md", "---\nx: " + _nested(100_000, "list") + "\n---\n")), "error",
         "nested deeper"),
    Case("card-python-tag", _ft(lambda f, s: (f / "README.md").write_text(
        f"---\nx: !!python/object/apply:os.system ['touch {s.marker}']\n---\nbody\n")), "indexed", ""),
    # tokenizer
    Case("tokenizer-config-garbage", _ft(_write("tokenizer_config.json", b"\x00\xff{garbage")), "weights_only",
         "tokenizer"),
    Case("tokenizer-config-deep", _ft(_write("tokenizer_config.json", _nested(100_000, "list"))), "weights_only",
         "nested deeper"),
    Case("tokenizer-fifo", _ft(lambda f, s: _fifo(f / "tokenizer.json")), "error", "FIFO"),
    Case("tokenizer-dev-zero", _ft(lambda f, s: _link(f / "tokenizer.json", "/dev/zero")), "error", "outside"),
    # A finetune's probes are read with its family base's tokenizer (as in the Delta Activations code), so its own
    # unreadable tokenizer.json costs it nothing: indexed and embedded like the good finetune.
    Case("tokenizer-json-garbage", _ft(_write("tokenizer.json", b"{not json")), "indexed", ""),
    # adapters and indexes
    Case("adapter-config-deep", _adapter(_write("adapter_config.json", _nested(100_000, "object"))), "error",
         "nested deeper"),
    Case("adapter-config-fifo", _adapter(lambda f, s: _fifo(f / "adapter_config.json")), "error", "FIFO"),
    Case("adapter-weights-passwd", _adapter(lambda f, s: _link(f / "adapter_model.safetensors", "/etc/passwd")),
         "error", "outside"),
    Case("index-deep", _ft(_write("model.safetensors.index.json", _nested(100_000, "object"))), "error",
         "nested deeper"),
    Case("index-shard-fifo", _ft(lambda f, s: (_write("model.safetensors.index.json", json.dumps(
        {"weight_map": {"w": "model-00001-of-00001.safetensors"}}))(f, s),
        _fifo(f / "model-00001-of-00001.safetensors"))), "error", "FIFO"),
    # links and special files
    Case("weights-link-passwd", _ft(lambda f, s: _link(f / "model.safetensors", "/etc/passwd")), "error",
         "outside"),
    Case("weights-link-neighbour", _ft(_link_to_neighbour), "error", "outside"),
    Case("weights-link-fifo", _ft(_link_to_fifo), "error", "FIFO"),
    Case("weights-fifo", _ft(lambda f, s: _fifo(f / "model.safetensors")), "error", "FIFO"),
    Case("weights-socket", _ft(lambda f, s: _socket(f / "model.safetensors")), "error", "socket"),
    Case("weights-link-inside", _ft(_weights_link_inside), "indexed", ""),
]


# ---------------------------------------------------------------- running them


class _Hung(BaseException):
    """Raised by the watchdog; a BaseException so no `except Exception` in the pipeline can record it as a failure."""


@contextmanager
def _watchdog(seconds: float):
    def expire(signum, frame):
        raise _Hung(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _peak_meter() -> dict:
    namespace: dict = {}
    exec(PEAK_RSS_SNIPPET, namespace)
    return namespace


def _listing(root: Path) -> list[tuple]:
    """Names, kinds, sizes and mtimes under root (links not followed): any write shows up."""
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            info = os.lstat(os.path.join(dirpath, name))
            entries.append((os.path.join(dirpath, name), info.st_mode, info.st_size, info.st_mtime_ns))
    return sorted(entries)


@pytest.fixture(scope="module")
def good_hub(tiny_zoo, tmp_path_factory):
    """Two good models (a root and its finetune) indexed once; cases re-index beside them."""
    truth = load_truth(tiny_zoo)
    root_id = next(m for m, e in truth.items() if e["relation"] == "root" and e["family"] == "lm")
    tune = next(m for m, e in truth.items() if e["relation"] == "finetune" and e["parents"] == [root_id])
    adapter = next(m for m, e in truth.items() if e["relation"] == "adapter" and e["parents"] == [root_id])
    base = tmp_path_factory.mktemp("hostile")
    hub = base / "good"
    for model_id in (root_id, tune):
        _copy(tiny_zoo / model_id, hub / model_id)
    db = base / "catalog.duckdb"
    report = index_paths(db, [hub], ["hubindex"], quiet=True)
    assert report.indexed == 2 and not report.failed, report
    sources = Sources(hub / root_id, hub / tune, tiny_zoo / adapter, base / "executed.txt")
    return db, hub, (root_id, tune), sources


def test_the_cases_cover_every_class_of_the_issue():
    names = {c.name for c in CASES}
    assert len(names) == len(CASES) >= 53
    for needed in ("header-deep-object", "header-deep-list", "config-deep", "dtype-f8-e4m3", "shape-bool",
                   "shape-zero-and-huge", "shape-zero-stride", "config-quantization", "tokenizer-config-garbage",
                   "config-100mb", "config-fifo", "weights-fifo", "card-fifo", "weights-link-fifo",
                   "header-1m-entries", "header-1m-entries-with-data", "card-billion-laughs",
                   "weights-sparse-huge-tensor", "config-dev-zero", "card-dev-zero", "weights-link-passwd",
                   "weights-pickle-only"):
        assert needed in names


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_folder_is_recorded_and_costs_the_run_nothing(case, good_hub, tmp_path):
    db, good, (root_id, tune), sources = good_hub
    bad_root = tmp_path / "hub"
    folder = bad_root / "bad" / case.name
    folder.parent.mkdir(parents=True)
    keep_alive = case.build(folder, sources)
    before = _listing(bad_root) + _listing(good)
    meter = _peak_meter()
    meter["reset_peak"]()
    started = time.monotonic()
    try:
        with _watchdog(SECONDS):
            report = index_paths(db, [good, bad_root], ["hubindex"], quiet=True)
    finally:
        if isinstance(keep_alive, socket.socket):
            keep_alive.close()
    seconds = time.monotonic() - started
    growth_mib = meter["peak_growth_kib"]() / 1024
    print(f"{case.name}: {seconds:.2f} s, peak growth {growth_mib:.0f} MiB")

    assert seconds < SECONDS
    assert growth_mib < PEAK_GROWTH_MIB
    assert report.unchanged == 2 and report.seen == 3
    model_id = f"bad/{case.name}"
    with Catalog(db, read_only=True) as catalog:
        for good_id in (root_id, tune):
            assert catalog.model(good_id)["status"] == "indexed"
        assert catalog.embedding(tune, "hubindex") is not None
        row = catalog.model(model_id)
    assert row is not None, report
    assert row["status"] == case.status, (row["status"], row["error"])
    if case.words:
        assert case.words in row["error"], row["error"]
        assert any(f.model == model_id and case.words in f.error for f in report.failed) \
            or row["status"] == "weights_only"
    error = row["error"] or ""
    assert "root:" not in error and PASSWD_LEAK not in error  # file contents are never quoted
    assert len(error) <= 1100
    assert not sources.marker.exists(), "something in a hostile folder was executed"
    assert _listing(bad_root) + _listing(good) == before, "the index run wrote into a model folder"


# ---------------------------------------------------------------- the same files from a hub, for the crawler

# Cases the test hub server can serve as it is (regular files; it would block on a FIFO and expand a YAML bomb in
# its own listing), with what the crawler must record: the same header parser and JSON bounds as a local folder.
CRAWL_CASES = {
    "header-deep-object": ("error", "nested deeper"),
    "header-deep-list": ("error", "nested deeper"),
    "header-1m-entries": ("error", "header length"),
    "header-200k-entries": ("error", "more than 100000 tensors"),
    "header-huge-int": ("error", "not valid JSON"),
    "dtype-f8-e4m3": ("unsupported", "F8_E4M3"),
    "shape-bool": ("error", "invalid shape"),
    "shape-zero-and-huge": ("error", "invalid shape"),
    "weights-are-passwd": ("error", "not a safetensors file"),
    "config-deep": ("error", "nested deeper"),
    "config-huge-int": ("error", "not valid JSON"),
    "index-deep": ("error", "nested deeper"),
}




def test_crawler_records_hostile_repos_and_crawls_the_good_ones(good_hub, tmp_path, online):
    from hubindex.hub.crawl import crawl
    from hubindex.hub.source import CrawlQuery, HubSource
    from tests.hub_server import HubServer

    _, good, (root_id, tune), sources = good_hub
    root = tmp_path / "hub"
    for model_id in (root_id, tune):
        _copy(good / model_id, root / model_id)
    by_name = {c.name: c for c in CASES}
    for name in CRAWL_CASES:
        by_name[name].build(root / "bad" / name, sources)
    meter = _peak_meter()
    meter["reset_peak"]()
    started = time.monotonic()
    with HubServer(root, page_size=50) as hub, _watchdog(SECONDS * 2):
        report = crawl(tmp_path / "crawl.duckdb", CrawlQuery(), HubSource(endpoint=hub.endpoint))
    seconds, growth_mib = time.monotonic() - started, meter["peak_growth_kib"]() / 1024
    print(f"crawl of {len(CRAWL_CASES)} hostile repos and 2 good ones: {seconds:.2f} s, peak growth "
          f"{growth_mib:.0f} MiB")
    outcomes = {m.id: m for m in report.models}
    assert outcomes[root_id].status == outcomes[tune].status == "partial"
    for name, (status, words) in CRAWL_CASES.items():
        outcome = outcomes[f"bad/{name}"]
        assert outcome.status == status and words in outcome.reason, (name, outcome)
        assert "root:" not in outcome.reason and PASSWD_LEAK not in outcome.reason
    assert seconds < SECONDS * 2 and growth_mib < PEAK_GROWTH_MIB


def test_stage_execution_returns_a_failure_instead_of_raising(tmp_path):
    """What a queue worker runs (`pipeline.stage.execute`, the same code as in-process): a hostile folder is a failed
    Result carrying the reason, never an exception that would kill or redeliver the task."""
    import hubindex.indexer.stages  # noqa: F401  (registers indexing's stages)
    from hubindex.indexer.jobs import FingerprintJob
    from hubindex.pipeline.stage import execute

    folders = {}
    for name, build in (("fifo", lambda f: _fifo(f / "config.json")),
                        ("deep", lambda f: (f / "config.json").write_text(_nested(100_000, "object"))),
                        ("f8", lambda f: _mutate_header(f, _retype("F8_E4M3")))):
        folder = write_checkpoint(tmp_path / name, random_tensors(1, {"model.embed_tokens.weight": (16, 8)}))
        build(folder)
        folders[name] = folder
    with _watchdog(SECONDS):
        results = {name: execute(FingerprintJob(model_id=f"bad/{name}", source=str(tmp_path), folder=str(folder),
                                                stamp="[]")) for name, folder in folders.items()}
    assert {n: (r.ok, r.status) for n, r in results.items()} == {
        "fifo": (False, "error"), "deep": (False, "error"), "f8": (False, "unsupported")}
    assert "FIFO" in results["fifo"].error and "nested deeper" in results["deep"].error
