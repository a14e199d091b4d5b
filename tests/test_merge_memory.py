"""A merge of a checkpoint with many tensors holds a few tensors at a time, never whole models."""

import json
import subprocess
import sys
import textwrap

from tests.helpers import PEAK_RSS_SNIPPET, random_tensors, write_checkpoint

N_TENSORS, ROWS, COLS = 120, 512, 256  # 512 KiB per tensor, 60 MiB per model


def test_merge_peak_memory_is_a_few_tensors(tmp_path):
    shapes = {f"layers.{i}.weight": (ROWS, COLS) for i in range(N_TENSORS)}
    for name, seed in (("base", 0), ("a", 1), ("b", 2)):
        write_checkpoint(tmp_path / "org" / name, random_tensors(seed, shapes), max_shard_bytes=16 << 20)
    script = PEAK_RSS_SNIPPET + textwrap.dedent(f"""
        import json
        from pathlib import Path
        from hubindex.train.merge import merge, parse_recipe
        root = Path({str(tmp_path)!r})
        recipe = parse_recipe({{"merge_method": "ties", "base_model": "org/base",
                               "models": [{{"model": "org/a", "parameters": {{"density": 0.5, "weight": 1.0}}}},
                                          {{"model": "org/b", "parameters": {{"density": 0.5, "weight": 1.0}}}}]}})
        # Warm up allocator and imports on a one-tensor merge so the baseline includes them.
        from hubindex.train.merge.executor import plan_merge
        plan = plan_merge(recipe, lambda r: root / r)
        from hubindex.train.merge.executor import merge_tensor
        merge_tensor(plan, plan.tensors[0])
        reset_peak()
        merge(recipe, root / "org/out", resolve=lambda r: root / r, max_shard_bytes=16 << 20, quiet=True)
        print(json.dumps({{"growth_kib": peak_growth_kib()}}))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    rss = json.loads(result.stdout.strip().splitlines()[-1])
    grown_mib = rss["growth_kib"] / 1024
    tensor_mib = ROWS * COLS * 4 / 2**20
    model_mib = N_TENSORS * tensor_mib
    # Three inputs and the output are 240 MiB; streaming may add a bounded number of tensor-sized temporaries.
    assert grown_mib < 24 * tensor_mib, f"peak grew {grown_mib:.1f} MiB (model {model_mib:.0f} MiB)"
    assert grown_mib > 0.5 * tensor_mib  # the measurement sees the merge at all
    assert (tmp_path / "org/out/model.safetensors.index.json").exists()
