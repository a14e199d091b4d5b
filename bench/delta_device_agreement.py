"""Delta Activations on CUDA against the CPU: the same model pair embedded on both, side by side in one run.

A base (random-weight Llama, the shape of `bench/delta_throughput.py`'s sizes) and a "finetune" of it (every weight
moved by a small gaussian step, `--step` times its tensor's spread) are written as safetensors; every method's delta
is computed on the CPU in fp32 (the reference: batch as the recipe says) and on each CUDA dtype asked for (batched
GPU_BATCH at a time). Printed per method and dtype: the cosine between the CUDA and the CPU delta vectors, their
relative L2 difference, and the seconds of each side. The GPU path changes batching, kernels and (for bf16) the
precision of the forward pass; the readout is fp32 on both sides, so fp32 should agree to ~1e-5 and bf16 shows how
much a finetune's shift survives half precision.

Usage: python bench/delta_device_agreement.py [--size small|0.5b] [--step 0.02] [--dtypes float32,bfloat16] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from bench.delta_throughput import SIZES, write_model
from hubindex.embed.activations import DEVICE_ENV, DTYPE_ENV, load_probe_model, probe_features
from hubindex.embed.methods import METHODS


def write_finetune(base: Path, child: Path, step: float, seed: int = 1) -> None:
    """The base's folder with every tensor moved by step x its own spread (a finetune's shift, not its direction)."""
    child.mkdir()
    generator = torch.Generator().manual_seed(seed)
    for item in base.iterdir():
        if item.suffix == ".safetensors":
            tensors = load_file(item)
            moved = {}
            for name, t in tensors.items():
                noise = torch.randn(t.shape, generator=generator, dtype=torch.float32)
                moved[name] = (t.float() + step * t.float().std() * noise).to(t.dtype).contiguous()
            save_file(moved, child / item.name, metadata={"format": "pt"})
        else:
            (child / item.name).write_bytes(item.read_bytes())


def embed_pair(base: Path, child: Path, device: str, dtype: str) -> tuple[dict[str, np.ndarray], float]:
    os.environ[DEVICE_ENV], os.environ[DTYPE_ENV] = device, dtype
    t0 = time.perf_counter()
    vectors = {}
    for name, method in METHODS.items():
        features = {}
        for which, folder in (("base", base), ("child", child)):
            probe = load_probe_model(folder, tokenizer_from=base)
            features[which] = probe_features(probe, method.probes, method.batch_size)
            del probe
        vectors[name] = method.delta(features["child"], features["base"])
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return vectors, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=list(SIZES), default="small")
    parser.add_argument("--step", type=float, default=0.02, help="the finetune's step, in units of each tensor's std")
    parser.add_argument("--dtypes", default="float32,bfloat16", help="CUDA dtypes to compare with the CPU's fp32")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="hubindex-agree-") as tmp:
        base, child = Path(tmp) / "base", Path(tmp) / "child"
        write_model(base, SIZES[args.size])
        write_finetune(base, child, args.step)
        reference, cpu_s = embed_pair(base, child, "cpu", "float32")
        if not torch.cuda.is_available():
            print("no CUDA device: CPU reference only", file=sys.stderr)
        for dtype in args.dtypes.split(",") if torch.cuda.is_available() else []:
            vectors, cuda_s = embed_pair(base, child, "cuda", dtype)
            for name, ref in reference.items():
                got = vectors[name]
                cosine = float(ref @ got / (np.linalg.norm(ref) * np.linalg.norm(got)))
                rel = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
                rows.append({"method": name, "dtype": dtype, "cosine": cosine, "relative_l2": rel,
                             "cpu_seconds": cpu_s, "cuda_seconds": cuda_s})
    if args.json:
        print(json.dumps({"size": args.size, "step": args.step, "rows": rows}, indent=2))
        return
    print(f"size {args.size}, finetune step {args.step} x std; CPU fp32 reference")
    for r in rows:
        print(f"{r['method']:>9} cuda {r['dtype']:<9} cosine {r['cosine']:.6f}  rel L2 {r['relative_l2']:.2e}  "
              f"(all methods: cpu {r['cpu_seconds']:.1f} s, cuda {r['cuda_seconds']:.1f} s)")


if __name__ == "__main__":
    main()
