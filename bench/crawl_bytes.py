"""HTTP requests and bytes of a partial fingerprint, and lineage from partial vs full reads.

    .venv/bin/python bench/crawl_bytes.py [--zoo DIR] [--no-zoo] [--no-big]

1. Real layouts (no download): the crawler's own read planner (`hub.partial.shards_to_read`, `infer_unread`,
   `remote_safetensors.block_requests`, `fingerprint.sampling.sampled_names`) on the shapes of real checkpoints
   (bf16, 5 GB shards as the Hub stores them, shapes from their config.json): requests, headers included, and
   bytes per model. Target (issue 16): a 7B model in <= 64 requests and <= 0.05 % of its bytes.
2. One synthetic Llama-shaped bf16 checkpoint in 4 shards over HTTP from tests/hub_server.py: the requests the server
   saw and the client counted, and that the sampled values equal a full download's.
3. A zoo crawled (partial) and downloaded + indexed (full) through huggingface_hub's client: bytes, time, and the
   lineage engine's parent accuracy on both catalogs (target: partial within 1 point of full).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
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
    "Qwen2.5-72B": (8192, 80, 29568, 152064, 1024, False),
}
REQUEST_TARGET = 64  # HTTP requests per partial fingerprint, headers included (issue 16)
BYTES_TARGET = 0.0005  # share of a 7B checkpoint's bytes (issue 16)
CONFIG_BYTES = 700  # a config.json
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
    """bf16 tensors packed into 5 GB shards in order, as the Hub's checkpoints are, at their real byte offsets (after
    each shard's header)."""
    groups: list[list[tuple]] = [[]]
    size = 0
    for name, shape in shapes:
        nbytes = 2 * math.prod(shape)
        if size + nbytes > SHARD_BYTES and groups[-1]:
            groups.append([])
            size = 0
        groups[-1].append((name, shape, nbytes))
        size += nbytes
    shards = []
    for group in groups:
        offsets, at = [], 0
        for _, _, nbytes in group:
            offsets.append((at, at + nbytes))
            at += nbytes
        header = json.dumps({n: {"dtype": "BF16", "shape": list(s), "data_offsets": list(o)}
                             for (n, s, _), o in zip(group, offsets, strict=True)}).encode()
        start = 8 + len(header)
        shards.append([TensorInfo(n, "BF16", s, start + a, start + b)
                       for (n, s, _), (a, b) in zip(group, offsets, strict=True)])
    return shards


def planned(shapes: list[tuple]) -> dict:
    """What `hub.partial.partial_signature` requests for this checkpoint: config.json and the index (HEAD + GET
    each), a HEAD and a header read (two when the header exceeds the probe) per shard it reads, then one request per
    coalesced block."""
    from hubindex.fingerprint.sampling import sampled_names
    from hubindex.hub.partial import infer_unread, shards_to_read
    from hubindex.hub.remote_safetensors import block_requests

    shards = shard_layout(shapes)
    files = {f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors": shard for i, shard in enumerate(shards)}
    weight_map = {t.name: file for file, shard in files.items() for t in shard}
    total = sum(t.nbytes for shard in shards for t in shard)
    sharded = len(shards) > 1
    index_bytes = len(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map})) if sharded else 0
    read = shards_to_read(weight_map) if sharded else list(files)
    known = {t.name: t for file in read for t in files[file]}
    inferred = infer_unread(known, list(weight_map), total) if len(read) < len(files) else {}
    if inferred is None:
        read, inferred = list(files), {}
    chosen = sampled_names({t.name: t.shape for shard in shards for t in shard})
    requests, fetched = 2 + (2 if sharded else 0), CONFIG_BYTES + index_bytes
    for file in read:
        header_end = files[file][0].start
        probe = min(HEADER_PROBE, max(t.end for t in files[file]))
        ranges = block_requests([t for t in files[file] if t.name in chosen], max(probe, header_end))
        requests += 2 + (header_end > probe) + len(ranges)
        fetched += max(probe, header_end) + sum(e - s for s, e in ranges)
    return {"bytes": total, "fetched": fetched, "requests": requests, "shards": len(shards), "read": len(read),
            "sampled": len(chosen), "inferred": len(inferred)}


def differing(partial_db: Path, full_db: Path, truth_path: Path) -> list[str]:
    """Models whose parents differ between the two catalogs: (model, partial, full, truth)."""
    from hubindex.catalog import Catalog
    from hubindex.lineage.queries import entries
    from hubindex.zoo.truth import load_truth

    truth = load_truth(truth_path)
    with Catalog(partial_db, read_only=True) as a, Catalog(full_db, read_only=True) as b:
        ours, theirs = ({e.model: sorted(e.parents) for e in entries(c)} for c in (a, b))
    return [f"{m}: partial {ours.get(m)} full {theirs.get(m)} truth {sorted(truth[m]['parents'])}"
            for m in sorted(truth) if ours.get(m) != theirs.get(m)]


def measured(zoo: Path, keep: Path | None = None) -> None:
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
        with Catalog(tmp_path / "partial.duckdb", read_only=True) as c:
            created = dict(c.con.execute("SELECT id, created_at FROM hub_models").fetchall())
        partial_s = time.perf_counter() - started
        partial_bytes = sum(n for p, n in hub.traffic.body_bytes.items() if "/resolve/" in p)
        hub.traffic.body_bytes.clear()

        started = time.perf_counter()
        source = HubSource(endpoint=hub.endpoint)
        for listed in list_stage(source, CrawlQuery()):
            folder = tmp_path / "full" / listed.id
            snapshot_download(listed.id, revision=listed.sha, local_dir=folder, endpoint=hub.endpoint,
                              allow_patterns=PATTERNS, max_workers=2)
            # the creation time the crawl recorded (the first commit's date for repos at the Hub's createdAt floor),
            # so both catalogs order models by the same clock and differ only in how the weights were read
            stamp_times(folder, created.get(listed.id) or listed.created_at)
        download_s = time.perf_counter() - started
        index_paths(tmp_path / "full.duckdb", [tmp_path / "full"], ["hubindex"], embed=False, quiet=True)
        full_s = time.perf_counter() - started
        full_bytes = sum(n for p, n in hub.traffic.body_bytes.items() if "/resolve/" in p)

        truth = str(zoo / "truth.json")
        with Catalog(tmp_path / "partial.duckdb", read_only=True) as c:
            partial_eval = evaluate_lineage(c, truth)
        with Catalog(tmp_path / "full.duckdb", read_only=True) as c:
            full_eval = evaluate_lineage(c, truth)
        diffs = differing(tmp_path / "partial.duckdb", tmp_path / "full.duckdb", Path(truth))
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            for name in ("partial.duckdb", "full.duckdb"):
                shutil.copy(tmp_path / name, keep / name)
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
    for line in diffs:
        print(f"  parents differ: {line}")


def measured_big(hidden: int, layers: int, inter: int, vocab: int, shard_bytes: int) -> None:
    """One Llama-shaped bf16 checkpoint of random weights in several shards, fetched over HTTP both ways: requests
    as the server saw them, and sampled values compared with a full download's."""
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
        with ShardedWriter(folder, [PlannedTensor(n, "BF16", s) for n, s in shapes], shard_bytes) as writer:
            for name, shape in shapes:
                writer.write(name, (torch.randn(shape, generator=g) * 0.02).to(torch.bfloat16))
        (folder / "config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"],
                                                         "vocab_size": vocab, "hidden_size": hidden,
                                                         "num_hidden_layers": layers}))
        weight_files = sorted(folder.glob("*.safetensors"))
        size = sum(p.stat().st_size for p in weight_files)
        with HubServer(Path(tmp)) as hub:
            repo = hub.repos["acme-big/llama"]
            seen = len(hub.traffic.log)
            started = time.perf_counter()
            result = partial_signature(HubSource(endpoint=hub.endpoint), repo.id, repo.sha, list(repo.files))
            partial_s = time.perf_counter() - started
            server_requests = len(hub.traffic.log) - seen
            multi_range = sum("," in (e.get("range") or "") for e in hub.traffic.log[seen:])
            started = time.perf_counter()
            local = Path(tmp) / "download"
            snapshot_download(repo.id, local_dir=local, endpoint=hub.endpoint, allow_patterns=["*.safetensors",
                                                                                                 "*.json"])
            full = compute_signature(ModelFolder.open(local))
            full_s = time.perf_counter() - started
        sig = result.signature
        same = set(full.samples) == set(sig.samples) and all(
            np.array_equal(full.samples[n], sig.samples[n]) for n in full.samples)
    print(f"synthetic Llama-shaped checkpoint: {size / 2**20:.0f} MiB bf16 ({size / 2 / 1e6:.0f}M params) in "
          f"{len(weight_files)} shards, over HTTP from tests/hub_server.py")
    print(f"  partial: {result.traffic.bytes:,} bytes ({result.traffic.bytes / size:.3%}) in "
          f"{result.traffic.requests} requests counted by the client, {server_requests} seen by the server "
          f"({multi_range} multi-range); {sig.meta['headers_read']} of {len(weight_files)} headers read, "
          f"{sig.meta['shapes_inferred']} shapes inferred; {partial_s:.2f} s")
    print(f"  full:    {size:,} bytes downloaded + signature pass, {full_s:.2f} s; sampled values identical: {same}; "
          f"layout and parameters equal: {(full.layout, full.params) == (sig.layout, sig.params)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", type=Path, help="a built zoo (default: build/reuse .hubindex/zoo-tiny-seed7)")
    parser.add_argument("--no-zoo", action="store_true", help="skip the zoo crawl (real layouts and one big model)")
    parser.add_argument("--no-big", action="store_true", help="skip the synthetic checkpoint over HTTP")
    parser.add_argument("--keep", type=Path, help="copy the zoo's partial and full catalogs into this folder")
    args = parser.parse_args()
    zoo = args.zoo
    if zoo is None and not args.no_zoo:
        from hubindex.zoo.build import ZooOptions, build_zoo

        zoo = Path(".hubindex/zoo-tiny-seed7")
        build_zoo(zoo, ZooOptions(seed=7, size="tiny"), jobs=2)  # resumes: a finished zoo returns at once
    print("HTTP requests and bytes of a partial fingerprint, by model size (the crawler's read planner on real "
          "layouts, bf16, 5 GB shards;")
    print(f"requests include HEADs, config, index and shard headers; target for 7B: <= {REQUEST_TARGET} requests and "
          f"<= {BYTES_TARGET:.2%} of bytes):")
    print(f"{'model':>13} {'params':>7} {'size':>8} {'shards':>6} {'read':>5} {'tensors':>7} {'requests':>8} "
          f"{'bytes':>11} {'of model':>9}")
    for name, dims in REAL_LAYOUTS.items():
        plan = planned(llama_tensors(*dims))
        total = plan["bytes"]
        print(f"{name:>13} {total / 2 / 1e9:>6.2f}B {total / 2**30:>6.1f}GB {plan['shards']:>6} {plan['read']:>5} "
              f"{plan['sampled']:>7} {plan['requests']:>8} {plan['fetched']:>11,} {plan['fetched'] / total:>9.4%}")
    print()
    if not args.no_big:
        measured_big(1024, 8, 2816, 32000, 100 << 20)
    if zoo is not None:
        print()
        measured(zoo, args.keep)


if __name__ == "__main__":
    main()
