"""Delta Activations cost: embedding one model vs loading it, and catalog throughput on a zoo.

1. One Llama-shaped model with random weights, saved as bf16 safetensors with a tokenizer trained by hubindex's
   own `train_tokenizer`: time `load_probe_model` (load) vs the default method's `probe_features` plus `delta`
   (embed), and print embed / load (target <= 1.5). `--size 0.5b` (~0.47 B params: hidden 1024, 24 layers,
   intermediate 4096, vocab 32000) is the default on CUDA; on CPU the default is `small` (~58 M params).
   The probes run twice on the loaded model: the first run stands in for the base's features (which the indexer
   computes once per base) and includes one-time warm-up; the second, timed as "embed", is the per-model cost.
2. On CPU (or whenever `--zoo` is given): `index_paths` over a zoo into a fresh catalog, once with embed=False
   (fingerprints, families, FAISS) and once more with embed=True on the same catalog (folders unchanged, so that
   run is base resolution + Delta Activations + FAISS rebuild): models per minute overall, and the embedding stage.
   Without `--zoo`, a tiny zoo (seed 11) is built into a temporary folder first.

Device and dtype: HUBINDEX_DEVICE (cpu, cuda, cuda:1; default CUDA when present) and HUBINDEX_PROBE_DTYPE (float32
default; bfloat16/float16 on CUDA only). On CUDA a recipe's probes run GPU_BATCH (64) at a time, weights are loaded
straight onto the device, and prompts are batched by length.

Usage: python bench/delta_throughput.py [--size auto|small|0.5b] [--zoo PATH] [--skip-model] [--skip-zoo]
       [--threads N] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from hubindex import corpus
from hubindex.embed.activations import batch_size_for, device, load_probe_model, probe_features, run_dtype
from hubindex.embed.methods import DEFAULT_METHOD, get_method
from hubindex.train.architectures import Size, build_config
from hubindex.train.tokenizer import train_tokenizer

EMBED_LOAD_TARGET = 1.5
TOKENIZER_DOCS = 4000


def _size(hidden: int, layers: int, heads: int, intermediate: int) -> Size:
    # Only the shape fields matter here; seq_len 512 gives max_position_embeddings 2048 (probes use <= 256 tokens).
    return Size(hidden=hidden, layers=layers, heads=heads, kv_heads=heads, intermediate=intermediate, vocab=32000,
                seq_len=512, batch=1, pretrain_steps=0, finetune_steps=(0, 0), shard_bytes=500_000_000)


SIZES = {"small": _size(512, 8, 8, 1408), "0.5b": _size(1024, 24, 16, 4096)}


def _sync() -> None:
    if device().type == "cuda":
        torch.cuda.synchronize()


def write_model(folder: Path, size: Size, seed: int = 0) -> int:
    """Random-weight Llama with a hubindex-trained BPE tokenizer; returns the parameter count."""
    from transformers import LlamaForCausalLM

    tokenizer = train_tokenizer(corpus.pretraining_mix(TOKENIZER_DOCS, seed), size.vocab)
    config = build_config("llama", size, max(size.vocab, len(tokenizer)), tokenizer.bos_token_id,
                          tokenizer.eos_token_id, tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(folder, max_shard_size=size.shard_bytes)
    tokenizer.save_pretrained(folder)
    del model
    gc.collect()
    return params


def measure_model(size_name: str) -> dict:
    from transformers.models.llama import modeling_llama  # noqa: F401 - imported before timing, as in a long run

    method = get_method(DEFAULT_METHOD)
    if device().type == "cuda":
        torch.zeros(1, device=device())  # CUDA context up front: not part of any model's load
        _sync()
    with tempfile.TemporaryDirectory(prefix="hubindex-deltabench-") as tmp:
        folder = Path(tmp) / "model"
        t0 = time.perf_counter()
        params = write_model(folder, SIZES[size_name])
        write_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        probe = load_probe_model(folder)
        _sync()
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        base_features = probe_features(probe, method.probes, method.batch_size)
        _sync()
        first_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        features = probe_features(probe, method.probes, method.batch_size)
        vector = method.delta(features, base_features)
        _sync()
        embed_s = time.perf_counter() - t0
        checkpoint_bytes = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
        del probe
        gc.collect()
    return {"device": str(device()), "size": size_name, "params": params, "checkpoint_bytes": checkpoint_bytes,
            "probes": len(method.probes), "batch_size": batch_size_for(method.batch_size),
            "dtype": str(run_dtype()).removeprefix("torch."), "hidden": int(vector.shape[0]),
            "write_seconds": write_s, "load_seconds": load_s, "first_probe_seconds": first_s,
            "embed_seconds": embed_s, "models_per_hour": 3600 / (load_s + embed_s),
            "ratio": embed_s / load_s, "ratio_target": EMBED_LOAD_TARGET,
            "ratio_ok": embed_s / load_s <= EMBED_LOAD_TARGET}


def measure_zoo(zoo: Path | None, jobs: int) -> dict:
    from hubindex.indexer.pipeline import index_paths

    with tempfile.TemporaryDirectory(prefix="hubindex-zoobench-") as tmp:
        built_s = None
        if zoo is None:
            from hubindex.zoo.build import ZooOptions, build_zoo

            zoo = Path(tmp) / "zoo"
            t0 = time.perf_counter()
            build_zoo(zoo, ZooOptions(seed=11, size="tiny"), jobs=jobs)
            built_s = time.perf_counter() - t0
        truth = json.loads((zoo / "truth.json").read_text()) if (zoo / "truth.json").exists() else {}
        zoo_info = json.loads((zoo / "zoo.json").read_text()) if (zoo / "zoo.json").exists() else {}
        db = Path(tmp) / "catalog.duckdb"
        t0 = time.perf_counter()
        first = index_paths(db, [zoo], [DEFAULT_METHOD], embed=False, quiet=True)
        fingerprint_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        second = index_paths(db, [zoo], [DEFAULT_METHOD], embed=True, quiet=True)
        embed_s = time.perf_counter() - t0
    total_s = fingerprint_s + embed_s
    embedded = second.embedded.get(DEFAULT_METHOD, 0)
    return {"zoo": str(zoo) if built_s is None else "(built: tiny, seed 11)", "zoo_size": zoo_info.get("size"),
            "zoo_seed": zoo_info.get("seed"), "build_seconds": built_s, "truth_models": len(truth),
            "seen": first.seen, "indexed": first.indexed, "failed_fingerprint": len(first.failed),
            "unchanged_second_run": second.unchanged, "embedded": embedded,
            "failed_embedding": len(second.failed), "spaces": second.spaces,
            "fingerprint_seconds": fingerprint_s, "embed_stage_seconds": embed_s, "total_seconds": total_s,
            "models_per_minute": first.seen / total_s * 60,
            "fingerprint_models_per_minute": first.seen / fingerprint_s * 60,
            "embedded_models_per_minute": embedded / embed_s * 60 if embed_s else None,
            "embed_share": embed_s / total_s}


def report(result: dict) -> None:
    mark = {True: "PASS", False: "FAIL"}
    print(f"torch threads: {result['torch_threads']}")
    m = result.get("model")
    if m:
        print(f"model: {m['size']} Llama, {m['params'] / 1e6:.0f} M params, {m['checkpoint_bytes'] / 1e9:.2f} GB "
              f"bf16 on disk, device {m['device']} (written in {m['write_seconds']:.1f} s)")
        print(f"load_probe_model            : {m['load_seconds']:7.2f} s")
        print(f"probe_features, first run   : {m['first_probe_seconds']:7.2f} s  (stands in for the base; warm-up)")
        print(f"probe_features + delta      : {m['embed_seconds']:7.2f} s  ({m['probes']} probes, batch "
              f"{m['batch_size']}, {m['dtype']})")
        print(f"models/hour (load + embed)  : {3600 / (m['load_seconds'] + m['embed_seconds']):7.0f}")
        print(f"embed / load = {m['ratio']:.2f}  (target <= {m['ratio_target']})  {mark[m['ratio_ok']]}")
    z = result.get("zoo")
    if z:
        built = f", built in {z['build_seconds']:.0f} s" if z["build_seconds"] is not None else ""
        print(f"zoo: {z['zoo']} (size {z['zoo_size']}, seed {z['zoo_seed']}{built}): {z['seen']} folders, "
              f"{z['truth_models']} in truth.json")
        print(f"index, embed=False          : {z['fingerprint_seconds']:7.1f} s  {z['indexed']} indexed, "
              f"{z['failed_fingerprint']} problems  ({z['fingerprint_models_per_minute']:.0f} models/min)")
        print(f"index again, embed=True     : {z['embed_stage_seconds']:7.1f} s  {z['embedded']} embedded, "
              f"{z['failed_embedding']} problems, {z['unchanged_second_run']} unchanged, {z['spaces']} spaces  "
              f"({z['embedded_models_per_minute']:.0f} embedded/min)")
        print(f"overall: {z['models_per_minute']:.1f} models/min ({z['total_seconds']:.1f} s for {z['seen']}); "
              f"embedding stage {z['embed_share']:.0%} of the time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["auto", *SIZES], default="auto",
                        help="single-model size; auto: 0.5b on CUDA, small on CPU")
    parser.add_argument("--zoo", type=Path, help="zoo folder (hubindex zoo build) for the models-per-minute run")
    parser.add_argument("--jobs", type=int, default=2, help="build jobs when a tiny zoo has to be built")
    parser.add_argument("--skip-model", action="store_true", help="skip the single-model load/embed measurement")
    parser.add_argument("--skip-zoo", action="store_true", help="skip the zoo measurement")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's own choice)")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.zoo is not None and not (args.zoo / "truth.json").is_file():
        parser.error(f"--zoo {args.zoo}: no truth.json, not a zoo built by `hubindex zoo build`")
    on_cuda = device().type == "cuda"
    result: dict = {"torch_threads": torch.get_num_threads()}
    if not args.skip_model:
        result["model"] = measure_model(args.size if args.size != "auto" else ("0.5b" if on_cuda else "small"))
    if not args.skip_zoo and (not on_cuda or args.zoo is not None):
        result["zoo"] = measure_zoo(args.zoo, args.jobs)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        report(result)


if __name__ == "__main__":
    main()
