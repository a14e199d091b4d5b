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
    "Llama-3-8B": (4096, 32, 14336, 128256, 1024, False),
    "Llama-3-70B": (8192, 80, 28672, 128256, 1024, False),
}
REQUEST_TARGET = 64  # HTTP requests per partial fingerprint, headers included (issue 16)
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


def shard_layout(shapes: list[tuple]) -> list[list[TensorInfo]]:
    """bf16 tensors packed into 5 GB shards, in order, as the Hub's checkpoints are."""
    shards: list[list[TensorInfo]] = [[]]
    offset = 0
    for name, shape in shapes:
        nbytes = 2 * math.prod(shape)
        if offset + nbytes > SHARD_BYTES and shards[-1]:
            shards.append([])
            offset = 0
        shards[-1].append(TensorInfo(name, "BF16", shape, offset, offset + nbytes))
        offset += nbytes
    return shards


def fixed_requests(shards: int) -> int:
    """Requests besides the sampled data: config.json HEAD + GET, the shard index HEAD + GET when sharded, and per
    shard a HEAD (the 302 to the CDN carries size and ETag) and one header range read (a 7B header is ~30 kB)."""
    return 2 + (2 if shards > 1 else 0) + 2 * shards


def planned_fraction(shapes: list[tuple], budgeted: bool = True) -> tuple[int, int, int, int]:
    """(model bytes, fetched bytes, HTTP requests, shards) of a partial fingerprint of a bf16 checkpoint in 5 GB
    shards, by the crawler's read planner: gaps under 4 kB closed, then (budgeted) the smallest gaps while the
    shard's bytes stay within BYTE_BUDGET."""
    from hubindex.hub.remote_safetensors import file_budget, planned_bytes

    shards = shard_layout(shapes)
    total = sum(t.nbytes for s in shards for t in s)
    fetched, requests = 2_000, fixed_requests(len(shards))  # config.json and index: ~1 kB each
    for shard in shards:
        size = max(t.end for t in shard)
        budget = file_budget(size, HEADER_PROBE) if budgeted else 0
        data, n = planned_bytes(shard, budget=budget)
        fetched += data + HEADER_PROBE
        requests += n
    return total, fetched, requests, len(shards)


def redesign(shapes: list[tuple], blocks: int = 40, block_bytes: int = 64 << 10,
             shards_read: int = 4) -> tuple[int, int]:
    """(HTTP requests, bytes) of the proposed coordinates (in the notes; not implemented: fingerprint/sampling.py is
    shared with lineage): one contiguous block of `block_bytes` in each of `blocks` tensors chosen by name across
    depth, all within at most `shards_read` shards (the layout of the others comes from config.json and the index's
    names, checked against the headers read), one range request per block, plus the fixed requests."""
    read = min(len(shard_layout(shapes)), shards_read)
    return fixed_requests(read) + blocks, 2_000 + read * HEADER_PROBE + blocks * block_bytes


def measured(zoo: Path) -> None:
    from huggingface_hub import snapshot_download

    from hubindex.catalog import Catalog
    from hubindex.evaluate.lineage import evaluate_lineage
    from hubindex.hub.crawl import crawl
    from hubindex.hub.full_fetch import PATTERNS, stamp_times
    from hubindex.hub.source import CrawlQuery, HubSource
    from hubindex.hub.stages import list_stage
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
        for listed in list_stage(source, CrawlQuery()):
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
    parser.add_argument("--no-zoo", action="store_true", help="skip the zoo crawl (real layouts and one big model)")
    args = parser.parse_args()
    zoo = args.zoo
    if zoo is None and not args.no_zoo:
        from hubindex.zoo.build import ZooOptions, build_zoo

        zoo = Path(".hubindex/zoo-tiny-seed7")
        build_zoo(zoo, ZooOptions(seed=7, size="tiny"), jobs=2)  # resumes: a finished zoo returns at once
    print("HTTP requests and bytes of a partial fingerprint, by model size (read planner on real layouts, bf16,")
    print(f"5 GB shards; requests include HEADs, config, index and shard headers; target <= {REQUEST_TARGET} requests "
          "and <= 0.05 % of bytes):")
    print(f"{'model':>13} {'params':>7} {'size':>8} {'shards':>6} | {'4 kB gaps':>21} | {'0.05 % budget':>21} | "
          f"{'redesign (notes)':>21}")
    print(f"{'':>13} {'':>7} {'':>8} {'':>6} | {'requests':>9} {'bytes %':>11} | {'requests':>9} {'bytes %':>11} | "
          f"{'requests':>9} {'bytes %':>11}")
    for name, dims in REAL_LAYOUTS.items():
        shapes = llama_tensors(*dims)
        total, before, before_n, shards = planned_fraction(shapes, budgeted=False)
        _, after, after_n, _ = planned_fraction(shapes, budgeted=True)
        new_n, new_bytes = redesign(shapes)
        print(f"{name:>13} {total / 2 / 1e9:>6.2f}B {total / 2**30:>6.1f}GB {shards:>6} | {before_n:>9,} "
              f"{before / total:>11.4%} | {after_n:>9,} {after / total:>11.4%} | {new_n:>9,} "
              f"{new_bytes / total:>11.4%}")
    print()
    measured_big(1024, 8, 2816, 32000)
    if zoo is not None:
        print()
        measured(zoo)


if __name__ == "__main__":
    main()
