"""Speed and peak memory of hubindex's weight signature vs a plain sequential read of the same checkpoint.

Writes a synthetic Llama-shaped bf16 checkpoint (TinyLlama widths, as many layers as `--gb` needs, random normal
weights, HF-style shards with an index), then, each in a fresh child process with the page cache warm:

1. plain read: every byte of every shard, `readinto` a reusable 64 MiB buffer (the baseline);
2. `compute_signature(ModelFolder.open(dir))`: time and peak resident memory growth (VmHWM reset via clear_refs);
3. plain read again.

The baseline reported is the faster of the two plain reads (the stricter ratio). Targets: signature / read <= 1.3,
peak growth <= 2 x largest tensor + 500 MiB. Usage:
python bench/signature_throughput.py [--gb 2.2] [--shard-mb 500] [--dir DIR] [--keep] [--threads N] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from hubindex.checkpoint import PlannedTensor, ShardedWriter
from tests.helpers import PEAK_RSS_SNIPPET

# TinyLlama-1.1B widths; 22 layers of them make 2.2 GB in bf16.
VOCAB, HIDDEN, INTERMEDIATE, HEADS, KV_HEADS = 32000, 2048, 5632, 32, 4
RATIO_TARGET = 1.3
RSS_SLACK_MIB = 500
READ_BUFFER = 64 << 20


def layer_shapes(i: int) -> list[tuple[str, tuple[int, ...]]]:
    kv = HIDDEN // HEADS * KV_HEADS
    p = f"model.layers.{i}."
    return [(p + "self_attn.q_proj.weight", (HIDDEN, HIDDEN)), (p + "self_attn.k_proj.weight", (kv, HIDDEN)),
            (p + "self_attn.v_proj.weight", (kv, HIDDEN)), (p + "self_attn.o_proj.weight", (HIDDEN, HIDDEN)),
            (p + "mlp.gate_proj.weight", (INTERMEDIATE, HIDDEN)), (p + "mlp.up_proj.weight", (INTERMEDIATE, HIDDEN)),
            (p + "mlp.down_proj.weight", (HIDDEN, INTERMEDIATE)), (p + "input_layernorm.weight", (HIDDEN,)),
            (p + "post_attention_layernorm.weight", (HIDDEN,))]


def llama_plan(gb: float) -> tuple[list[PlannedTensor], dict]:
    """Enough layers that the checkpoint holds at least `gb` * 1e9 bytes of bf16 weights."""
    fixed = 2 * VOCAB * HIDDEN * 2 + HIDDEN * 2
    per_layer = sum(math.prod(s) for _, s in layer_shapes(0)) * 2
    layers = max(1, math.ceil((gb * 1e9 - fixed) / per_layer))
    shapes = [("model.embed_tokens.weight", (VOCAB, HIDDEN))]
    for i in range(layers):
        shapes += layer_shapes(i)
    shapes += [("model.norm.weight", (HIDDEN,)), ("lm_head.weight", (VOCAB, HIDDEN))]
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": VOCAB,
              "hidden_size": HIDDEN, "intermediate_size": INTERMEDIATE, "num_hidden_layers": layers,
              "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS, "hidden_act": "silu",
              "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
              "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16"}
    return [PlannedTensor(name, "BF16", shape) for name, shape in shapes], config


def write_model(folder: Path, plan: list[PlannedTensor], config: dict, shard_bytes: int, seed: int = 0) -> None:
    """Stream random tensors through ShardedWriter: one tensor in memory at a time."""
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    with ShardedWriter(folder, plan, shard_bytes) as writer:
        for t in plan:
            if len(t.shape) == 1:  # RMSNorm gains sit near 1
                tensor = (1.0 + 0.05 * torch.randn(t.shape, generator=g)).to(torch.bfloat16)
            else:
                tensor = torch.randn(t.shape, generator=g, dtype=torch.bfloat16).mul_(0.02)
            writer.write(t.name, tensor)
            del tensor
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def _child(script: str) -> dict:
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def plain_read(folder: Path) -> dict:
    script = textwrap.dedent(f"""
        import json, time
        from pathlib import Path
        folder = Path({str(folder)!r})
        paths = sorted(folder.glob("*.safetensors"))
        view = memoryview(bytearray({READ_BUFFER}))
        total = 0
        t0 = time.perf_counter()
        for path in paths:
            with open(path, "rb", buffering=0) as handle:
                while n := handle.readinto(view):
                    total += n
        print(json.dumps({{"seconds": time.perf_counter() - t0, "bytes": total}}))
    """)
    return _child(script)


def signature(folder: Path, threads: int | None) -> dict:
    script = PEAK_RSS_SNIPPET + textwrap.dedent(f"""
        import json, time
        from pathlib import Path
        import numpy, torch
        if {threads!r}:
            torch.set_num_threads({threads!r})
        from hubindex.checkpoint import ModelFolder
        from hubindex.fingerprint import compute_signature
        reset_peak()
        t0 = time.perf_counter()
        sig = compute_signature(ModelFolder.open(Path({str(folder)!r})))
        seconds = time.perf_counter() - t0
        print(json.dumps({{"seconds": seconds, "peak_growth_mib": peak_growth_kib() / 1024, "params": sig.params,
                          "tensors": len(sig.tensors), "threads": torch.get_num_threads()}}))
    """)
    return _child(script)


def run(folder: Path, args: argparse.Namespace) -> dict:
    plan, config = llama_plan(args.gb)
    t0 = time.perf_counter()
    write_model(folder, plan, config, int(args.shard_mb * 1e6))
    write_seconds = time.perf_counter() - t0
    shards = sorted(folder.glob("*.safetensors"))
    size = sum(p.stat().st_size for p in shards)
    largest = max(t.nbytes for t in plan)
    plain_read(folder)  # warm-up: make sure every shard is in the page cache before anything is timed
    before = plain_read(folder)
    sig = signature(folder, args.threads)
    after = plain_read(folder)
    read_s = min(before["seconds"], after["seconds"])
    target_mib = 2 * largest / 2**20 + RSS_SLACK_MIB
    return {"checkpoint_bytes": size, "shards": len(shards), "layers": config["num_hidden_layers"],
            "params": sig["params"], "largest_tensor_bytes": largest, "write_seconds": write_seconds,
            "read_before_seconds": before["seconds"], "read_after_seconds": after["seconds"],
            "read_seconds": read_s, "read_gbps": size / read_s / 1e9, "signature_seconds": sig["seconds"],
            "signature_gbps": size / sig["seconds"] / 1e9, "ratio": sig["seconds"] / read_s,
            "ratio_target": RATIO_TARGET, "ratio_ok": sig["seconds"] / read_s <= RATIO_TARGET,
            "peak_growth_mib": sig["peak_growth_mib"], "peak_target_mib": target_mib,
            "peak_ok": sig["peak_growth_mib"] <= target_mib, "torch_threads": sig["threads"]}


def report(r: dict) -> None:
    mark = {True: "PASS", False: "FAIL"}
    print(f"checkpoint: {r['checkpoint_bytes'] / 1e9:.2f} GB ({r['checkpoint_bytes'] / 2**30:.2f} GiB) bf16, "
          f"{r['params'] / 1e9:.2f} B params, {r['layers']} layers, {r['shards']} shards "
          f"(written in {r['write_seconds']:.1f} s)")
    print(f"largest tensor: {r['largest_tensor_bytes'] / 2**20:.1f} MiB")
    print(f"plain read      : {r['read_seconds']:6.2f} s  {r['read_gbps']:5.2f} GB/s  (faster of before "
          f"{r['read_before_seconds']:.2f} s / after {r['read_after_seconds']:.2f} s, page cache warm)")
    print(f"signature       : {r['signature_seconds']:6.2f} s  {r['signature_gbps']:5.2f} GB/s  "
          f"(torch threads {r['torch_threads']})")
    print(f"time ratio signature/read = {r['ratio']:.2f}  (target <= {r['ratio_target']})  {mark[r['ratio_ok']]}")
    print(f"signature peak RSS growth = {r['peak_growth_mib']:.1f} MiB  (target <= 2 x largest + "
          f"{RSS_SLACK_MIB} = {r['peak_target_mib']:.1f} MiB)  {mark[r['peak_ok']]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=2.2, help="checkpoint size in GB (1e9 bytes), at least")
    parser.add_argument("--shard-mb", type=float, default=500, help="shard size limit in MB (1e6 bytes)")
    parser.add_argument("--dir", type=Path, help="write the checkpoint here (new or empty folder) instead of a "
                        "temporary one; removed afterwards unless --keep")
    parser.add_argument("--keep", action="store_true", help="keep the checkpoint afterwards")
    parser.add_argument("--threads", type=int, help="torch intra-op threads in the signature process (default: "
                        "torch's own choice)")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()
    if args.dir and args.dir.exists() and any(args.dir.iterdir()):
        parser.error(f"--dir {args.dir} is not empty")
    folder = args.dir or Path(tempfile.mkdtemp(prefix="hubindex-sigbench-")) / "model"
    try:
        result = run(folder, args)
    finally:
        if not args.keep:
            shutil.rmtree(folder if args.dir else folder.parent, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        report(result)
        if args.keep:
            print(f"kept {folder}")


if __name__ == "__main__":
    main()
