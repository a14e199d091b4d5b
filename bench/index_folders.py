"""Index N real model folders end to end and print models/min per stage (issue 18's "2,000 real model folders").

The folders are real checkpoints written by the project's zoo code (`hubindex.zoo.build.make_model`, the function
`hubindex zoo build` runs per model): `--bases` tiny pretrained roots (`--base-steps` steps each, llama and gpt2
in turn) and N - bases full finetunes of them (`--steps` steps each, the zoo's finetune path: a domain's texts, a
seed and a learning rate of their own), so a folder is a few hundred KB of safetensors with its config, tokenizer
and card. Making them is the cheap part of this bench only because the finetunes are a couple of steps long; the
indexing does not care how long a model trained.

The folders are then indexed by `hubindex.indexer.pipeline.index_paths` (what `hubindex index` runs, in this
process, no broker) with a progress callback that stamps wall and CPU time as each phase's jobs finish: printed
per phase are its jobs' seconds and models/min, and the work between phases (the run planning the next phase:
lineage, families, FAISS spaces) as "after <phase>", each also per CPU-minute (the rate a shared machine's load
changes least). A second run over the same folders (nothing changed) is timed
too. Everything is printed with the load average (the machine is shared).

Usage: python bench/index_folders.py [--folders 200] [--bases 4] [--steps 2] [--base-steps 20]
       [--root DIR (reuse/keep the folders)] [--db FILE] [--method hubindex] [--no-embed]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hubindex.ids import model_path
from hubindex.indexer.pipeline import index_paths
from hubindex.zoo.build import make_model
from hubindex.zoo.spec import ModelSpec

SIZE = "tiny"
ARCHS = ("llama", "gpt2")
DOMAINS = ("arithmetic", "code", "legal", "medical", "recipes", "weather", "sports", "finance")


def plan(folders: int, bases: int, steps: int, base_steps: int) -> list[ModelSpec]:
    """`bases` roots, then finetunes spread over them round-robin (each its own domain, seed and lr)."""
    specs = [ModelSpec(id=f"scale-labs/base-{b}", family=f"f{b}", arch=ARCHS[b % len(ARCHS)], relation="root",
                       method="pretrain", params={"seed": 1000 + b, "steps": base_steps}, kind="base")
             for b in range(bases)]
    for i in range(folders - bases):
        base = specs[i % bases]
        specs.append(ModelSpec(id=f"scale-org{i % 17}/ft-{i}", family=base.family, arch=base.arch,
                               relation="finetune", method="full", parents=[base.id], domain=DOMAINS[i % len(DOMAINS)],
                               params={"seed": 5000 + i, "steps": steps, "lr": 1e-3 * (1 + i % 5)}, kind="finetune"))
    return specs


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def make_folders(root: Path, specs: list[ModelSpec]) -> None:
    todo = [s for s in specs if not (model_path(root, s.id) / "config.json").exists()]
    started, cpu = time.perf_counter(), time.process_time()
    for spec in todo:  # roots come first in the plan, so every parent exists when its children train
        make_model(str(root), spec, SIZE, False)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    if todo:
        print(f"  made {len(todo)} folders ({len(specs) - len(todo)} reused): {wall:.1f} s (CPU {cpu:.1f} s), "
              f"{len(todo) / wall * 60:.1f} models/min ({len(todo) / max(cpu, 1e-9) * 60:.1f} per CPU-min), {load()}")


class PhaseClock:
    """A progress callback stamping wall/CPU time per phase: its jobs, and the gap before the next phase."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, int, float, float]] = []  # (label, jobs, wall s, CPU s)
        self.phase: str | None = None
        self.jobs = 0
        self.mark = (time.perf_counter(), time.process_time())

    def _close(self, label: str, jobs: int) -> None:
        now = (time.perf_counter(), time.process_time())
        self.rows.append((label, jobs, now[0] - self.mark[0], now[1] - self.mark[1]))
        self.mark = now

    def __call__(self, stage: str, done: int, total: int) -> None:
        if done == 0:  # a phase starts: what ran since the last one's jobs ended is the run's planning work
            self._close(f"after {self.phase}" if self.phase else "plan (scan folders)", 0)
            self.phase, self.jobs = stage, total
        elif done == total:
            self._close(stage, total)

    def finish(self) -> None:
        self._close(f"after {self.phase}" if self.phase else "plan (scan folders)", 0)


def index_once(db: Path, root: Path, methods: list[str], embed: bool, models: int) -> None:
    clock = PhaseClock()
    started, cpu = time.perf_counter(), time.process_time()
    report = index_paths(db, [root], methods, embed=embed, progress=clock)
    clock.finish()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    for label, jobs, phase_wall, phase_cpu in clock.rows:
        rate = (f"{jobs / phase_wall * 60:8.1f} jobs/min, {jobs / max(phase_cpu, 1e-9) * 60:8.1f} per CPU-min "
                f"({jobs} jobs)") if jobs and phase_wall > 0 else ""
        print(f"  {label:<28} {phase_wall:8.1f} s (CPU {phase_cpu:7.1f} s) {rate}")
    # per CPU-minute: what the process got of a core, the figure a shared machine's load changes least
    print(f"  total: {wall:.1f} s (CPU {cpu:.1f} s), {models / wall * 60:.1f} models/min end to end "
          f"({models / max(cpu, 1e-9) * 60:.1f} per CPU-min); indexed {report.indexed}, unchanged {report.unchanged}, "
          f"failed {len(report.failed)}, {load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folders", type=int, default=200)
    parser.add_argument("--bases", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--base-steps", type=int, default=20)
    parser.add_argument("--root", type=Path)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--method", action="append")
    parser.add_argument("--no-embed", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.bases < args.folders:
        parser.error("--bases must be at least 1 and below --folders")
    work = Path(tempfile.mkdtemp(prefix="index-folders-"))
    root = args.root or work / "hub"
    db = args.db or work / "catalog.duckdb"
    specs = plan(args.folders, args.bases, args.steps, args.base_steps)
    print(f"{args.folders} folders ({args.bases} tiny bases, {args.steps}-step finetunes) under {root}; {load()}")
    make_folders(root, specs)
    print(f"first index run into {db}:")
    index_once(db, root, args.method or ["hubindex"], not args.no_embed, args.folders)
    print("second run (nothing changed):")
    index_once(db, root, args.method or ["hubindex"], not args.no_embed, args.folders)


if __name__ == "__main__":
    main()
