"""Bytes and wall time of partial (range-read) vs full fingerprints, over a zoo served by the test Hub server.

    .venv/bin/python bench/crawl_bytes.py [--zoo DIR]   # default: builds/reuses .hubindex/zoo-tiny-seed7

Both runs go through huggingface_hub's client against tests/hub_server.py on 127.0.0.1; bytes are the response
bodies the server sent. Partial: `crawl` (headers + sampled windows). Full: `snapshot_download` of every weight
file, then the local signature pass (`index --no-embed`). Parent accuracy of the lineage engine on each catalog is
printed side by side (target: partial within 2 points of full).

Tiny zoo models are ~150 kB, so their sampled windows cover most of each tensor: the fraction that matters is the
one for real sizes, computed by the same read planner (`planned_bytes`) on the layouts of real checkpoints (bf16,
shapes from their config.json), plus the 100 kB header probe and config.json per file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["HF_HUB_OFFLINE"] = "0"

from hubindex.checkpoint.safetensors_file import TensorInfo
from hubindex.hub.source import HEADER_PROBE, go_online

go_online()

# name: (hidden, layers, intermediate, vocab, kv width, tied embeddings)
REAL_LAYOUTS = {
    "Qwen2.5-0.5B": (896, 24, 4864, 151936, 128, True),
    "Llama-3.2-1B": (2048, 16, 8192, 128256, 512, True),
    "Qwen2.5-7B": (3584, 28, 18944, 152064, 512, False),
    "Llama-2-7B": (4096, 32, 11008, 32000, 4096, False),
    "Llama-3.1-8B": (4096, 32, 14336, 128256, 1024, False),
    "Llama-3.1-70B": (8192, 80, 28672, 128256, 1024, False),
}
SHARD_BYTES = 5 << 30  # the Hub's usual shard size


def llama_tensors(hidden: int, layers: int, inter: int, vocab: int, kv: int, tied: bool) -> list[tuple]:
    shapes = [("model.embed_tokens.weight", (vocab, hidden)), ("model.norm.weight", (hidden,))]
    if not tied:
        shapes.append(("lm_head.weight", (vocab, hidden)))
    for i in range(layers):
        p = f"model.layers.{i}."
        shapes += [(p + "input_layernorm.weight", (hidden,)), (p + "post_attention_layernorm.weight", (hidden,)),
                   (p + "self_attn.q_proj.weight", (hidden, hidden)), (p + "self_attn.k_proj.weight", (kv, hidden)),
                   (p + "self_attn.v_proj.weight", (kv, hidden)), (p + "self_attn.o_proj.weight", (hidden, hidden)),
                   (p + "mlp.gate_proj.weight", (inter, hidden)), (p + "mlp.up_proj.weight", (inter, hidden)),
                   (p + "mlp.down_proj.weight", (hidden, inter))]
    return shapes


def planned_fraction(shapes: list[tuple]) -> tuple[int, int, int, int]:
    """(model bytes, fetched bytes, requests, shards) for a bf16 checkpoint in 5 GB shards."""
    from hubindex.hub.remote_safetensors import planned_bytes

    shards: list[list[TensorInfo]] = [[]]
    offset = 0
    for name, shape in shapes:
        nbytes = 2 * math.prod(shape)
        if offset + nbytes > SHARD_BYTES and shards[-1]:
            shards.append([])
            offset = 0
        shards[-1].append(TensorInfo(name, "BF16", shape, offset, offset + nbytes))
        offset += nbytes
    total = sum(t.nbytes for s in shards for t in s)
    fetched, requests = 0, 0
    for shard in shards:
        data, n = planned_bytes(shard)
        fetched += data + HEADER_PROBE + 1_000  # header probe, HEAD/config share
        requests += n + 2
    return total, fetched, requests + 2, len(shards)


def measured(zoo: Path) -> None:
    from huggingface_hub import snapshot_download

    from hubindex.catalog import Catalog
    from hubindex.evaluate.lineage import evaluate_lineage
    from hubindex.hub.crawl import crawl
    from hubindex.hub.full_fetch import PATTERNS, stamp_times
    from hubindex.hub.source import CrawlQuery, HubSource
    from hubindex.indexer.pipeline import index_paths
    from tests.hub_server import HubServer

    with tempfile.TemporaryDirectory(prefix="crawl-bench-") as tmp, HubServer(zoo, page_size=50) as hub:
        tmp_path = Path(tmp)
        started = time.perf_counter()
        report = crawl(tmp_path / "partial.duckdb", CrawlQuery(), HubSource(endpoint=hub.endpoint))
        partial_s = time.perf_counter() - started
        partial_bytes = sum(n for p, n in hub.traffic.body_bytes.items() if "/resolve/" in p)
        hub.traffic.body_bytes.clear()

        started = time.perf_counter()
        source = HubSource(endpoint=hub.endpoint)
        for listed in source.list_models(CrawlQuery()):
            folder = tmp_path / "full" / listed.id
            snapshot_download(listed.id, revision=listed.sha, local_dir=folder, endpoint=hub.endpoint,
                              allow_patterns=PATTERNS, max_workers=2)
            stamp_times(folder, listed.created_at)  # the hub's creation time, as the crawl records it
        download_s = time.perf_counter() - started
        index_paths(tmp_path / "full.duckdb", [tmp_path / "full"], ["hubindex"], embed=False, quiet=True)
        full_s = time.perf_counter() - started
        full_bytes = sum(n for p, n in hub.traffic.body_bytes.items() if "/resolve/" in p)

        truth = str(zoo / "truth.json")
        with Catalog(tmp_path / "partial.duckdb", read_only=True) as c:
            partial_eval = evaluate_lineage(c, truth)
        with Catalog(tmp_path / "full.duckdb", read_only=True) as c:
            full_eval = evaluate_lineage(c, truth)
    weights = report.bytes_total
    print(f"zoo {zoo} ({report.listed} models, {weights / 1e6:.1f} MB of weights), served by tests/hub_server.py")
    print(f"{'':>8} {'bytes fetched':>14} {'of weights':>10} {'wall s':>7} {'parent acc':>10} {'edge F1':>8}")
    print(f"{'partial':>8} {partial_bytes:>14,} {partial_bytes / weights:>10.1%} {partial_s:>7.2f} "
          f"{partial_eval.hubindex.parent_accuracy:>10.3f} {partial_eval.hubindex.edge_f1:>8.3f}")
    print(f"{'full':>8} {full_bytes:>14,} {full_bytes / weights:>10.1%} {full_s:>7.2f} "
          f"{full_eval.hubindex.parent_accuracy:>10.3f} {full_eval.hubindex.edge_f1:>8.3f}"
          f"   (download {download_s:.2f} s)")
    gap = abs(partial_eval.hubindex.parent_accuracy - full_eval.hubindex.parent_accuracy) * 100
    print(f"ratio partial/full: bytes {partial_bytes / full_bytes:.3f}, time {partial_s / full_s:.2f}; "
          f"parent accuracy difference {gap:.1f} points")
    print(f"requests per model (partial): {sum(m.requests for m in report.models) / max(1, report.listed):.1f}")


def measured_big(hidden: int, layers: int, inter: int, vocab: int) -> None:
    """One Llama-shaped bf16 checkpoint of random weights, big enough that the fraction means something, fetched
    over HTTP both ways."""
    import torch
    from huggingface_hub import snapshot_download

    from hubindex.checkpoint import ModelFolder, PlannedTensor, ShardedWriter
    from hubindex.fingerprint import compute_signature
    from hubindex.hub.partial import partial_signature
    from hubindex.hub.source import HubSource
    from tests.hub_server import HubServer

    shapes = llama_tensors(hidden, layers, inter, vocab, hidden, False)
    with tempfile.TemporaryDirectory(prefix="crawl-bench-big-") as tmp:
        folder = Path(tmp) / "acme-big" / "llama"
        folder.mkdir(parents=True)
        g = torch.Generator().manual_seed(0)
        with ShardedWriter(folder, [PlannedTensor(n, "BF16", s) for n, s in shapes], None) as writer:
            for name, shape in shapes:
                writer.write(name, (torch.randn(shape, generator=g) * 0.02).to(torch.bfloat16))
        (folder / "config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"],
                                                         "vocab_size": vocab, "hidden_size": hidden,
                                                         "num_hidden_layers": layers}))
        size = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
        with HubServer(Path(tmp)) as hub:
            repo = hub.repos["acme-big/llama"]
            started = time.perf_counter()
            result = partial_signature(HubSource(endpoint=hub.endpoint), repo.id, repo.sha, list(repo.files))
            partial_s = time.perf_counter() - started
            started = time.perf_counter()
            local = Path(tmp) / "download"
            snapshot_download(repo.id, local_dir=local, endpoint=hub.endpoint, allow_patterns=["*.safetensors",
                                                                                                 "*.json"])
            full = compute_signature(ModelFolder.open(local))
            full_s = time.perf_counter() - started
        same = all(np.array_equal(full.samples[n], result.signature.samples[n]) for n in full.samples)
    print(f"synthetic Llama-shaped checkpoint: {size / 2**20:.0f} MiB bf16 ({size / 2 / 1e6:.0f}M params), "
          f"over HTTP from tests/hub_server.py")
    print(f"  partial: {result.traffic.bytes:,} bytes ({result.traffic.bytes / size:.3%}) in "
          f"{result.traffic.requests:,} requests, {partial_s:.2f} s")
    print(f"  full:    {size:,} bytes downloaded + signature pass, {full_s:.2f} s; "
          f"time ratio partial/full {partial_s / full_s:.2f}; sampled values identical: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", type=Path, help="a built zoo (default: build/reuse .hubindex/zoo-tiny-seed7)")
    args = parser.parse_args()
    zoo = args.zoo
    if zoo is None:
        from hubindex.zoo.build import ZooOptions, build_zoo

        zoo = Path(".hubindex/zoo-tiny-seed7")
        build_zoo(zoo, ZooOptions(seed=7, size="tiny"), jobs=2)  # resumes: a finished zoo returns at once
    print("fraction of bytes a partial fingerprint fetches, by model size (read planner on real layouts, bf16):")
    print(f"{'model':>14} {'params':>7} {'size':>9} {'shards':>6} {'fetched':>9} {'fraction':>9} {'requests':>8}")
    for name, dims in REAL_LAYOUTS.items():
        shapes = llama_tensors(*dims)
        total, fetched, requests, shards = planned_fraction(shapes)
        params = total / 2
        print(f"{name:>14} {params / 1e9:>6.2f}B {total / 2**30:>7.2f}GB {shards:>6} {fetched / 2**20:>7.2f}MB "
              f"{fetched / total:>9.4%} {requests:>8,}")
    print()
    measured_big(1024, 8, 2816, 32000)
    print()
    measured(zoo)


if __name__ == "__main__":
    main()
