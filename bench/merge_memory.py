"""Peak memory and time of hubindex's streaming TIES merge vs a whole-model merge of the same checkpoints.

Prints the peak resident memory each adds over its own start (separate processes, same inputs, same run) and the
ratio. Usage: python bench/merge_memory.py [--tensors 200] [--rows 1024] [--cols 512]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers import PEAK_RSS_SNIPPET, random_tensors, write_checkpoint

RECIPE = {"merge_method": "ties", "base_model": "org/base",
          "models": [{"model": "org/a", "parameters": {"density": 0.5, "weight": 1.0}},
                     {"model": "org/b", "parameters": {"density": 0.5, "weight": 1.0}}]}

STREAMING = """
from hubindex.train.merge import merge, parse_recipe
merge(parse_recipe(RECIPE), root / "org/streamed", resolve=lambda r: root / r, max_shard_bytes=256 << 20, quiet=True)
"""

# The baseline: what a simple script does, every model's state dict in memory at once.
WHOLE_MODEL = """
from safetensors.torch import load_file, save_file
from hubindex.train.merge.methods.sparsify import keep_top_magnitude, sign_consensus
def load(name):
    out = {}
    for f in sorted((root / name).glob("*.safetensors")):
        out.update(load_file(f))
    return out
base, a, b = load("org/base"), load("org/a"), load("org/b")
merged = {}
for n in base:
    taus = [keep_top_magnitude(m[n] - base[n], 0.5) for m in (a, b)]
    merged[n] = (base[n] + sign_consensus(taus, [1.0, 1.0], True)).contiguous()
(root / "org/whole").mkdir(exist_ok=True)
save_file(merged, root / "org/whole/model.safetensors")
"""


def measure(root: Path, body: str) -> dict:
    script = PEAK_RSS_SNIPPET + textwrap.dedent(f"""
        import json, time
        from pathlib import Path
        import torch, safetensors.torch, hubindex.train.merge
        root = Path({str(root)!r}); RECIPE = {RECIPE!r}
        reset_peak()
        t0 = time.perf_counter()
    """) + textwrap.dedent(body) + textwrap.dedent("""
        print(json.dumps({"seconds": time.perf_counter() - t0, "peak_growth_mib": peak_growth_kib() / 1024}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tensors", type=int, default=200)
    parser.add_argument("--rows", type=int, default=1024)
    parser.add_argument("--cols", type=int, default=512)
    args = parser.parse_args()
    shapes = {f"layers.{i}.weight": (args.rows, args.cols) for i in range(args.tensors)}
    tensor_mib = args.rows * args.cols * 4 / 2**20
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, seed in (("base", 0), ("a", 1), ("b", 2)):
            write_checkpoint(root / "org" / name, random_tensors(seed, shapes), max_shard_bytes=256 << 20)
        streamed = measure(root, STREAMING)
        whole = measure(root, WHOLE_MODEL)
    model_mib = args.tensors * tensor_mib
    print(f"model: {args.tensors} tensors x {tensor_mib:.1f} MiB = {model_mib:.0f} MiB per model, 3 inputs")
    print(f"streaming merge : peak +{streamed['peak_growth_mib']:8.1f} MiB  {streamed['seconds']:6.2f} s  "
          f"({streamed['peak_growth_mib'] / tensor_mib:.1f} tensors)")
    print(f"whole-model     : peak +{whole['peak_growth_mib']:8.1f} MiB  {whole['seconds']:6.2f} s  "
          f"({whole['peak_growth_mib'] / tensor_mib:.1f} tensors)")
    print(f"memory ratio streaming/whole = {streamed['peak_growth_mib'] / whole['peak_growth_mib']:.3f}; "
          f"time ratio = {streamed['seconds'] / whole['seconds']:.2f}")


if __name__ == "__main__":
    main()
