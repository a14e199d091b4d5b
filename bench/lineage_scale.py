"""Lineage inference at hub scale: hubindex's `infer_family` on one synthetic family of N weight sketches with a
planted tree, against the nearest-earlier-model baseline computed in the same run.

The family is built in memory (no catalog, no files) as a `Family`: one vector of `--dim` sampled coordinates per
model, raw = scaled (one scale), kurtosis zeros. The planted tree imitates fine-tuning with Adam, because the engine
reads Adam's bounded per-coordinate displacement as evidence:

- root: gaussian weights, scale 1.
- finetune increment: d = D * tanh((g_domain + noise) / s) per coordinate. D (the run's cap, lr * steps) is
  `--step` x U[0.5, 2]; g_domain is a fixed gaussian direction per domain (`--domains`); noise is the run's own
  gaussian (`--noise` x); s puts a run-specific 5-20% of coordinates within 5% of the cap.
- fans: 5-50 siblings fine-tuned from one node (the root or a finetune) on one domain.
- chains: finetunes of finetunes, up to depth 5; a child keeps its parent's domain with probability 0.8.
- merges (5%): root + sum w_i (src_i - root) over 2-3 earlier finetunes, w_i in U[0.3, 1].
- copies (2%): an earlier model rounded to bfloat16 (dtype "BF16"; everything else "F32").

created_at: parent time + an exponential gap, so siblings interleave with other branches; strictly increasing in
creation order. Ids are numbered in a shuffled order so id order says nothing about creation order.

Printed: wall seconds of `infer_family`, parent accuracy (exact parent set, non-root models) overall and per planted
group (fan, chain, merge, copy), the relation labels the engine gave, and the same accuracies for the baseline: each
model's parent is the nearest model created before it (by L2 of the scaled samples). Model Atlas reports 19.1 s for
10k nodes; `--sizes` prints one row per family size and the log-log slope of the time between sizes. The time is
the fastest of `--repeat` runs, after one warm-up call on a 50-model family (FAISS and BLAS set-up). On a shared
machine wall time counts other people's work too: the CPU seconds of this process (with --threads 1, about the
wall time on an idle machine) and the 1-minute load average before and after are printed beside it, with the CPU
seconds of each phase of `infer_family` (phase_clock: the neighbour shortlists and context, re-saves, the merge test
on the shortlist, the parent choice, the wide merge search of models no single run explains, the rest).

Usage: python bench/lineage_scale.py [--models 10000] [--dim 1024] [--seed 0] [--sizes 1000,3000,10000]
       [--domains 30] [--noise 0.8] [--step 0.05] [--saturation 0.05,0.2] [--repeat 1] [--threads N]
       [--profile] [--json] [--answers FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import pstats
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import NormalDist

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from hubindex.evaluate.lineage import score
from hubindex.lineage import decide
from hubindex.lineage.engine import infer_family
from hubindex.lineage.family import Family

ATLAS_SECONDS, ATLAS_NODES = 19.1, 10_000  # Model Atlas's reported lineage time, the reference to beat
MERGE_SHARE, COPY_SHARE = 0.05, 0.02
FAN_SIZES = (5, 50)
MAX_DEPTH = 5
FAN_EVENT = 0.1  # chance a finetune event is a fan; fans average ~27 members, chains ~2.5, so about half each
FAN_FROM_ROOT = 0.3  # fans start at the root this often, else at a random finetune shallower than MAX_DEPTH
CHAIN_FROM_ROOT = 0.1
SAME_DOMAIN = 0.8  # a finetune of a finetune keeps its parent's domain this often
SATURATION = (0.05, 0.20)  # per run: share of coordinates within SATURATED of the cap
SATURATED = 0.95
CAP_RANGE = (0.5, 2.0)  # per-run cap D relative to --step
MERGE_WEIGHTS = (0.3, 1.0)
GAP_DAYS = {"fan": 20.0, "chain": 10.0, "merge": 5.0, "copy": 2.0}  # mean delay after the latest parent
GROUPS = ("fan", "chain", "merge", "copy")
ANSWER_EVIDENCE = ("sibling_residual", "sibling_of", "step_tail", "runner_up")  # kept per model by --answers
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
START = datetime(2023, 1, 1, tzinfo=UTC)
# The steps infer_family calls (names in hubindex.lineage.decide) and the phase each one's CPU time is billed to.
# Their inner calls are made inside other modules, so no time is counted twice; the rest of infer_family is "other".
PHASES = {"Context": "neighbours", "find_resaves": "re-saves", "rank_merges_after_sources": "tied merges",
          "find_merge": "merge test", "choose_parent": "parent choice", "unlike_one_run": "parent choice",
          "widened_sources": "wide merges", "fit_merge": "wide merges", "check_low_rank": "low rank"}


@dataclass
class Node:
    """One planted model, in generation order (parents always generated first)."""

    parents: list[int]
    group: str  # root | fan | chain | merge | copy
    domain: int = -1
    depth: int = 0
    weights: list[float] = field(default_factory=list)  # merge weights, one per parent


@dataclass
class Planted:
    family: Family
    truth: dict[str, dict]  # non-root id -> {"parents", "relation" (finetune|merge|copy), "group"}
    order: list[str]  # ids in creation order, root first


def to_bfloat16(values: np.ndarray) -> np.ndarray:
    """float32 values rounded to the nearest bfloat16 (ties to even), as float32: what a bf16 re-save stores."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    # Add just under half of the dropped 16 bits' range, plus the kept lowest bit (ties to even), then truncate.
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000)
    return rounded.view(np.float32)


def plant_tree(n: int, domains: int, rng: np.random.Generator) -> list[Node]:
    """The tree's shape: fans and chains of finetunes first, then merges of them and copies of anything."""
    n_merge, n_copy = round(MERGE_SHARE * n), round(COPY_SHARE * n)
    n_finetune = n - 1 - n_merge - n_copy
    nodes = [Node([], "root")]
    tunable: list[int] = []  # finetunes a new run may start from (below MAX_DEPTH)

    def base(from_root: float) -> int:
        return 0 if not tunable or rng.random() < from_root else tunable[rng.integers(len(tunable))]

    def add(parent: int, group: str) -> int:
        above = nodes[parent]
        # The root has no domain; a finetune usually continues its parent's data.
        domain = above.domain if above.domain >= 0 and rng.random() < SAME_DOMAIN else int(rng.integers(domains))
        nodes.append(Node([parent], group, domain, above.depth + 1))
        if above.depth + 1 < MAX_DEPTH:
            tunable.append(len(nodes) - 1)
        return len(nodes) - 1

    while (left := n_finetune - (len(nodes) - 1)) > 0:
        if rng.random() < FAN_EVENT:
            parent = base(FAN_FROM_ROOT)
            first = add(parent, "fan")
            # Siblings share one domain: the fan is many runs on one dataset from one checkpoint.
            for _ in range(min(left, int(rng.integers(FAN_SIZES[0], FAN_SIZES[1] + 1))) - 1):
                nodes.append(Node([parent], "fan", nodes[first].domain, nodes[first].depth))
                if nodes[first].depth < MAX_DEPTH:
                    tunable.append(len(nodes) - 1)
        else:
            parent = base(CHAIN_FROM_ROOT)
            for _ in range(min(left, int(rng.integers(1, 5)), MAX_DEPTH - nodes[parent].depth)):
                parent = add(parent, "chain")
    finetunes = np.arange(1, len(nodes))
    for _ in range(n_merge):
        sources = rng.choice(finetunes, size=int(rng.integers(2, 4)), replace=False)
        nodes.append(Node(sorted(int(s) for s in sources), "merge",
                          weights=[float(w) for w in rng.uniform(*MERGE_WEIGHTS, size=len(sources))]))
    for _ in range(n_copy):
        originals = [i for i, node in enumerate(nodes) if node.group != "copy"]
        nodes.append(Node([originals[int(rng.integers(len(originals)))]], "copy"))
    return nodes


def creation_times(nodes: list[Node], rng: np.random.Generator) -> np.ndarray:
    """Seconds after START: the latest parent's time plus an exponential gap; strictly increasing when sorted."""
    times = np.zeros(len(nodes))
    for i, node in enumerate(nodes[1:], start=1):
        times[i] = max(times[p] for p in node.parents) + rng.exponential(GAP_DAYS[node.group] * 86400) + 1.0
    return times


def increment(direction: np.ndarray, cap: float, noise: float, rng: np.random.Generator,
              saturation: tuple[float, float] = SATURATION) -> np.ndarray:
    """One Adam run's displacement: bounded by `cap` per coordinate, a run-specific share of coordinates at it."""
    share = rng.uniform(*saturation)
    spread = math.sqrt(1 + noise**2)  # std of direction + noise per coordinate
    # |tanh(x / s)| >= SATURATED exactly where |x| >= s * atanh(SATURATED): choose s so that is `share` of them.
    s = spread * NormalDist().inv_cdf(1 - share / 2) / math.atanh(SATURATED)
    return cap * np.tanh((direction + noise * rng.standard_normal(direction.shape)) / s)


def plant_family(n: int, dim: int, seed: int, domains: int = 30, noise: float = 0.8, step: float = 0.05,
                 saturation: tuple[float, float] = SATURATION) -> Planted:
    rng = np.random.default_rng(seed)
    nodes = plant_tree(n, domains, rng)
    directions = rng.standard_normal((domains, dim))
    weights = np.empty((len(nodes), dim))
    weights[0] = rng.standard_normal(dim)
    for i, node in enumerate(nodes[1:], start=1):
        if node.group in ("fan", "chain"):
            cap = step * rng.uniform(*CAP_RANGE)
            weights[i] = weights[node.parents[0]] + increment(directions[node.domain], cap, noise, rng, saturation)
        elif node.group == "merge":
            tasks = weights[node.parents] - weights[0]
            weights[i] = weights[0] + np.asarray(node.weights) @ tasks
        else:
            weights[i] = to_bfloat16(weights[node.parents[0]].astype(np.float32))
    times = creation_times(nodes, rng)
    order = np.argsort(times, kind="stable")  # creation rank -> node; the root (time 0) first
    # Ids numbered by a shuffle, so sorting by id (as load_family does) is not creation order.
    number = rng.permutation(len(nodes))
    ids = ["bench/root" if i == 0 else f"bench/m{number[i]:05d}" for i in range(len(nodes))]
    seconds = 0
    rows: dict[str, dict] = {}
    for i in (int(i) for i in order):
        seconds = max(seconds + 1, int(times[i]))  # whole seconds, strictly increasing
        rows[ids[i]] = {"id": ids[i], "created_at": START + timedelta(seconds=seconds),
                        "dtype": "BF16" if nodes[i].group == "copy" else "F32", "declared_base": None,
                        "adapter_base": None, "base_source": None, "kind": "model", "base": None,
                        "family": ids[0]}
    members = [0, *sorted(range(1, len(nodes)), key=lambda i: ids[i])]  # root first, then by id
    scaled = weights[members]
    family = Family(root=ids[0], ids=[ids[i] for i in members], raw=scaled.astype(np.float32), scaled=scaled,
                    rows=rows, adapters=[], kurtosis=np.zeros(len(nodes)))
    relation = {"fan": "finetune", "chain": "finetune", "merge": "merge", "copy": "copy"}
    truth = {ids[i]: {"parents": [ids[p] for p in node.parents], "relation": relation[node.group],
                      "group": node.group} for i, node in enumerate(nodes) if i}
    return Planted(family, truth, [ids[int(i)] for i in order])


def nearest_earlier(vectors: np.ndarray, block: int = 512) -> np.ndarray:
    """For rows in creation order: the index of the nearest earlier row (L2), -1 for the first. Blocks of rows
    against all earlier rows through the Gram matrix: O(n^2 d) in BLAS, O(block * n) memory."""
    squares = np.einsum("ij,ij->i", vectors, vectors)
    nearest = np.full(len(vectors), -1)
    for a in range(1, len(vectors), block):
        b = min(len(vectors), a + block)
        d2 = squares[a:b, None] + squares[None, :b] - 2 * (vectors[a:b] @ vectors[:b].T)
        d2[np.arange(b)[None, :] >= np.arange(a, b)[:, None]] = np.inf  # only models created before
        nearest[a:b] = np.argmin(d2, axis=1)
    return nearest


def accuracies(name: str, predicted: dict[str, list[str]], relations: dict[str, str] | None,
               truth: dict[str, dict]) -> dict:
    """Exact parent-set accuracy over all non-root models and per planted group (evaluate.lineage.score)."""
    predicted = {m: predicted.get(m, []) for m in truth}  # a model the method skipped counts as wrong
    overall = score(name, predicted, relations, truth)
    by_group = {g: score(name, predicted, None, {m: t for m, t in truth.items() if t["group"] == g}).parent_accuracy
                for g in GROUPS if any(t["group"] == g for t in truth.values())}
    return {"parent_accuracy": overall.parent_accuracy, "by_group": by_group, "edge_f1": overall.edge_f1,
            "relation_by_type": overall.relation_by_type}


@contextmanager
def phase_clock(spent: dict[str, float]) -> Iterator[dict[str, float]]:
    """While open, every PHASES step infer_family calls adds its process CPU seconds to spent[phase] (about a
    microsecond per call of overhead). A step renamed in decide.py is left alone: its time shows as "other"."""
    saved = {name: getattr(decide, name) for name in PHASES if hasattr(decide, name)}

    def timed(name: str) -> object:
        step, phase = saved[name], PHASES[name]

        def call(*args: object, **kwargs: object) -> object:
            c0 = time.process_time()
            try:
                return step(*args, **kwargs)
            finally:
                spent[phase] = spent.get(phase, 0.0) + time.process_time() - c0
        return call

    try:
        for name in saved:
            setattr(decide, name, timed(name))
        yield spent
    finally:
        for name, step in saved.items():
            setattr(decide, name, step)


def run(n: int, args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    planted = plant_family(n, args.dim, args.seed, args.domains, args.noise, args.step,
                           getattr(args, "saturation", SATURATION))
    generate_s = time.perf_counter() - t0
    fam, truth = planted.family, planted.truth
    runs, cpu_runs, phases, load_before = [], [], [], os.getloadavg()[0]
    for _ in range(args.repeat):
        with phase_clock({}) as spent:
            t0, c0 = time.perf_counter(), time.process_time()
            entries = infer_family(fam)
            runs.append(time.perf_counter() - t0)
            cpu_runs.append(time.process_time() - c0)
        phases.append({**spent, "other": cpu_runs[-1] - sum(spent.values())})
    infer_s = min(runs)  # the least disturbed run: on a shared machine other load only ever adds time
    by_model = {e.model: e for e in entries}
    t0, c0 = time.perf_counter(), time.process_time()
    vectors = fam.scaled[[fam.index(m) for m in planted.order]]
    nearest = nearest_earlier(vectors)
    baseline_s, baseline_cpu = time.perf_counter() - t0, time.process_time() - c0
    baseline = {m: [planted.order[j]] for m, j in zip(planted.order[1:], nearest[1:], strict=True)}
    groups = {g: sum(t["group"] == g for t in truth.values()) for g in GROUPS}
    result = {"models": n, "dim": args.dim, "seed": args.seed, "domains": args.domains, "groups": groups,
              "saturation": list(getattr(args, "saturation", SATURATION)),
              "generate_seconds": generate_s, "infer_seconds": infer_s, "infer_runs": runs,
              "infer_cpu_seconds": min(cpu_runs), "phase_cpu_seconds": phases[int(np.argmin(cpu_runs))],
              "baseline_seconds": baseline_s, "baseline_cpu_seconds": baseline_cpu,
              "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
              "hubindex": accuracies("hubindex", {e.model: e.parents for e in entries},
                                     {e.model: e.relation for e in entries}, truth),
              "nearest_earlier": accuracies("nearest_earlier", baseline, None, truth)}
    if getattr(args, "answers", None):  # per model, to diff two versions of the code on the same family
        result["answers"] = {m: {"truth": t["parents"], "group": t["group"], "parents": found.parents,
                                 "relation": found.relation, "right": sorted(found.parents) == sorted(t["parents"]),
                                 **{k: found.evidence[k] for k in ANSWER_EVIDENCE if k in found.evidence}}
                             for m, t in truth.items() if (found := by_model.get(m)) is not None}
    if args.profile:  # an extra, untimed run: the profiler's overhead stays out of infer_seconds
        # Process CPU time, not wall time: on a shared machine other people's work would be billed to whatever
        # function happened to be running.
        profiler = cProfile.Profile(time.process_time)
        profiler.runcall(infer_family, fam)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(15)
        result["profile"] = text.getvalue()
    return result


def _machine() -> str:
    return f"{os.cpu_count()} CPUs, BLAS threads {os.environ.get(THREAD_VARS[0], 'default')}"


def report(r: dict) -> None:
    ours, base = r["hubindex"], r["nearest_earlier"]
    g = r["groups"]
    print(f"family: {r['models']} models (root, {g['fan']} fan, {g['chain']} chain, {g['merge']} merge, "
          f"{g['copy']} copy), dim {r['dim']}, {r['domains']} domains, saturation {r['saturation']}, "
          f"seed {r['seed']}, {_machine()}")
    print(f"generate        : {r['generate_seconds']:8.2f} s")
    runs = r["infer_runs"]
    spread = f", best of {len(runs)}: " + " ".join(f"{t:.2f}" for t in runs) if len(runs) > 1 else ""
    print(f"infer_family    : {r['infer_seconds']:8.2f} s  ({r['infer_seconds'] / r['models'] * 1e3:.2f} ms/model"
          f"{spread})")
    print(f"nearest baseline: {r['baseline_seconds']:8.2f} s")
    print(f"CPU seconds     : infer_family {r['infer_cpu_seconds']:.2f}, baseline {r['baseline_cpu_seconds']:.2f} "
          f"(ratio {r['infer_cpu_seconds'] / r['baseline_cpu_seconds']:.2f}); load average (1 min) "
          f"{r['load_average'][0]} before, {r['load_average'][1]} after on {os.cpu_count()} CPUs")
    print("CPU by phase    : " + ", ".join(f"{phase} {seconds:.2f}"
                                           for phase, seconds in r["phase_cpu_seconds"].items()))
    print(f"reference       : Model Atlas reports {ATLAS_SECONDS} s for {ATLAS_NODES // 1000}k nodes")
    print(f"{'parent accuracy':<20}{'hubindex':>10}{'nearest':>10}")
    print(f"{'all ' + str(r['models'] - 1):<20}{ours['parent_accuracy']:>10.3f}{base['parent_accuracy']:>10.3f}")
    for group, count in g.items():
        if group in ours["by_group"]:
            print(f"{f'{group} {count}':<20}{ours['by_group'][group]:>10.3f}{base['by_group'][group]:>10.3f}")
    print(f"{'edge F1':<20}{ours['edge_f1']:>10.3f}{base['edge_f1']:>10.3f}")
    print("hubindex relation label accuracy: "
          + ", ".join(f"{k} {v:.3f}" for k, v in ours["relation_by_type"].items()))
    gain = ours["parent_accuracy"] - base["parent_accuracy"]
    print(f"parent accuracy hubindex - nearest = {gain:+.3f}")
    if "profile" in r:
        print(r["profile"])


def _slope(a: dict, b: dict) -> float:
    """Exponent k in time ~ models^k between two sizes."""
    return math.log(b["infer_seconds"] / a["infer_seconds"]) / math.log(b["models"] / a["models"])


def report_sizes(results: list[dict]) -> None:
    print(f"dim {results[0]['dim']}, {results[0]['domains']} domains, seed {results[0]['seed']}, "
          f"{_machine()}; parent accuracy over non-root models, nearest = nearest earlier model")
    print(f"{'models':>7}{'infer s':>10}{'slope':>7}{'hubindex':>10}{'nearest':>9}"
          + "".join(f"{g:>8}" for g in GROUPS) + f"{'base s':>8}{'cpu s':>8}{'base cpu':>9}{'load':>6}")
    previous = None
    for r in results:
        slope = "" if previous is None else f"{_slope(previous, r):.2f}"
        groups = r["hubindex"]["by_group"]
        print(f"{r['models']:>7}{r['infer_seconds']:>10.2f}{slope:>7}{r['hubindex']['parent_accuracy']:>10.3f}"
              f"{r['nearest_earlier']['parent_accuracy']:>9.3f}"
              + "".join(f"{groups[g]:>8.3f}" if g in groups else f"{'-':>8}" for g in GROUPS)
              + f"{r['baseline_seconds']:>8.2f}{r['infer_cpu_seconds']:>8.2f}{r['baseline_cpu_seconds']:>9.2f}"
              + f"{r['load_average'][0]:>6.1f}")
        previous = r
    print("slope: log-log growth of infer seconds since the previous size (1 = linear, 2 = all pairs)")
    for r in results:
        print(f"CPU by phase at {r['models']}: " + ", ".join(f"{phase} {seconds:.2f}"
                                                         for phase, seconds in r["phase_cpu_seconds"].items()))
    print(f"reference: Model Atlas reports {ATLAS_SECONDS} s for {ATLAS_NODES // 1000}k nodes")
    last = results[-1]
    if last["models"] != ATLAS_NODES and len(results) > 1:
        guess = last["infer_seconds"] * (ATLAS_NODES / last["models"]) ** _slope(results[-2], last)
        print(f"hubindex at {ATLAS_NODES // 1000}k nodes, extrapolated with the last slope: {guess:.1f} s "
              f"({guess / ATLAS_SECONDS:.2f} x Model Atlas)")
    elif last["models"] == ATLAS_NODES:
        print(f"hubindex / Model Atlas at {ATLAS_NODES // 1000}k = {last['infer_seconds'] / ATLAS_SECONDS:.2f}")
    for r in results:
        if "profile" in r:
            print(f"--- profile at {r['models']} models ---\n{r['profile']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=10_000, help="family size, root included")
    parser.add_argument("--dim", type=int, default=1024, help="sampled coordinates per model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", help="comma-separated family sizes: one row each (overrides --models)")
    parser.add_argument("--domains", type=int, default=30, help="fine-tuning domains (fixed directions)")
    parser.add_argument("--noise", type=float, default=0.8, help="per-run noise std relative to the domain's")
    parser.add_argument("--step", type=float, default=0.05, help="base per-coordinate cap of one run (x0.5-2)")
    parser.add_argument("--saturation", default=",".join(map(str, SATURATION)),
                        help="LO,HI: per run, the share of coordinates within 5%% of its cap is drawn from [LO, HI]. "
                        "The default gives steps far cleaner than the small reference zoo's (step tail 1.004 vs 1.19 "
                        "median); 0.002,0.01 comes closer to its ratio of sibling to one-run tail excess")
    parser.add_argument("--repeat", type=int, default=1, help="run infer_family this many times, report the fastest")
    parser.add_argument("--profile", action="store_true", help="cProfile one more (untimed) infer_family run: "
                        "top 15 functions by cumulative CPU time of this process")
    parser.add_argument("--threads", type=int, help="BLAS / OpenMP threads (default: the libraries' own choice); 1 "
                        "gives steadier times on a machine shared with other work")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument("--answers", type=Path, help="write each model's answer (parents, relation, the sibling test's "
                        "evidence), its planted parents and whether they match to this JSON file (with --sizes: one "
                        "object per size), to list the answers two versions of the code change")
    args = parser.parse_args()
    if args.threads and os.environ.get(THREAD_VARS[0]) != str(args.threads):
        # BLAS and OpenMP read their thread counts once, at import: start again with them set.
        os.environ.update(dict.fromkeys(THREAD_VARS, str(args.threads)))
        os.execv(sys.executable, [sys.executable, *sys.argv])
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [args.models]
    args.saturation = tuple(float(v) for v in args.saturation.split(","))
    if len(args.saturation) != 2 or not 0 < args.saturation[0] <= args.saturation[1] < 1:
        parser.error("--saturation takes LO,HI with 0 < LO <= HI < 1")
    if min(sizes) < 20:
        parser.error("family sizes must be at least 20")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    # One small family first, so lazy one-time setup (FAISS, BLAS threads) is not billed to the first size.
    infer_family(plant_family(50, args.dim, args.seed + 1, args.domains, args.noise, args.step,
                              args.saturation).family)
    results = []
    for n in sizes:
        results.append(run(n, args))
        if not args.json and not args.sizes:
            report(results[-1])
    if args.answers:
        answers = {str(r["models"]): r.pop("answers") for r in results}
        args.answers.write_text(json.dumps(answers if args.sizes else answers[str(sizes[0])], indent=0))
    if args.json:
        print(json.dumps(results if args.sizes else results[0], indent=2))
    elif args.sizes:
        report_sizes(results)


if __name__ == "__main__":
    main()
