"""Search by examples as the CLI answers it (`hubindex search --examples FILE --base ROOT --db DB --json`), measured.

Per family root of the zoo's truth and per domain with 2+ models in that family's delta space of the catalog: N
documents of the domain from a corpus stream no zoo model trains on (the same as bench/embedding_eval.py
--examples), split into input/output halves, written as an examples file; the CLI's top-k answers are scored: the
share that have the domain (a merge has its sources' domains) and the best share possible (fewer than k models of
the domain cap it). Unlike bench/embedding_eval.py (queries = direct finetunes and merges, embedded from truth),
every model of the indexed family space competes, with the bases lineage decided.

Cost: the CLI runs a 30-step finetune and the base's forward passes per call, i.e. per query and method. Here the
finetune is shared by the methods and the base is read once per family root and method (SharedTask), then each
method's vector goes through the CLI's own search (`nearest_to_examples`): the same answers at about a third of
the work. `--exact-cli` runs every call through the CLI instead (the check).

Usage: nice python bench/examples_search.py ZOO DB [--examples 8] [-k 5] [--methods hubindex,paper] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch
from click.testing import CliRunner
from hubindex.cli.main import cli

from hubindex import corpus
from hubindex.catalog import Catalog
from hubindex.catalog.spaces import delta_members
from hubindex.embed.methods import get_method
from hubindex.evaluate.embedding import domains_of, family_roots
from hubindex.search_by_examples import ExamplesQuery, TaskExample, base_folder, nearest_to_examples, task_vectors
from hubindex.zoo.truth import load_truth

EXAMPLES_SEED = 7_000_003  # as bench/embedding_eval.py: a corpus stream the zoo's finetunes never use


def cli_search(db: Path, root: str, examples: Path, k: int, method: str) -> list[dict]:
    """The CLI's answer, as a user gets it: `--exact-cli` runs every query this way (one finetune per method)."""
    result = CliRunner().invoke(cli, ["search", "--examples", str(examples), "--base", root, "--db", str(db),
                                      "--limit", str(k), "--method", method, "--json"])
    if result.exit_code != 0:
        raise SystemExit(f"hubindex search --examples failed for {root}: {result.output}")
    return json.loads(result.output)


class SharedTask:
    """The CLI's search (`nearest_to_examples`, same space, same ranking) with the task embedded ONCE for all
    methods (one finetune per family and domain instead of one per method) and the base's probe features read once
    per family root and method instead of once per query: the CLI pays both per call. Same vectors, so the same
    answers (checked against `--exact-cli` on s114-real, notes/wt-emb4.md)."""

    def __init__(self, db: Path, methods: tuple[str, ...]) -> None:
        self.db, self.methods = db, tuple(get_method(m) for m in methods)
        self.base_features: dict[str, dict[str, dict]] = {}  # root -> method -> the base's probe features

    def search(self, root: str, examples: list[TaskExample], k: int) -> dict[str, list[dict]]:
        answers = {}
        with Catalog(self.db, read_only=True) as catalog:
            vectors = task_vectors(base_folder(catalog, root), root, examples, self.methods,
                                   self.base_features.setdefault(root, {}))
            for method in self.methods:
                query = ExamplesQuery(base=root, examples=examples, k=k, method=method.name)
                hits = nearest_to_examples(catalog, query, embed=lambda _c, _b, _e, name: vectors[name])
                answers[method.name] = [h.model_dump(mode="json") for h in hits]
        return answers


def examples_rows(zoo: Path, db: Path, examples: int = 8, k: int = 5, methods: tuple[str, ...] = ("hubindex", "paper"),
                  log=print, exact_cli: bool = False) -> list[dict]:
    """One row per family root of the zoo and domain with 2+ models in that family's delta space (of methods[0]):
    each method's top-k share, and the best share possible. `exact_cli`: through the CLI, one call per method
    (several times slower: a finetune per call); else SharedTask (the same answers)."""
    truth = load_truth(zoo)
    with Catalog(db, read_only=True) as catalog:
        spaces = {m: delta_members(catalog, m) for m in methods}
    shared = SharedTask(db, methods)
    rows = []
    with tempfile.TemporaryDirectory(prefix="examples-search-") as scratch:
        for root in family_roots(truth):
            members = spaces[methods[0]].get(root, [])
            counts: dict[str, int] = {}
            for model in members:
                for domain in domains_of(truth.get(model)):
                    counts[domain] = counts.get(domain, 0) + 1
            for domain in sorted(d for d, n in counts.items() if n >= 2):
                docs = corpus.generate(domain, examples, EXAMPLES_SEED)
                pairs = [{"input": d[: len(d) // 2], "output": d[len(d) // 2:]} for d in docs]
                row = {"family": root, "arch": truth[root].get("arch"), "domain": domain,
                       "members": len(members), "best": min(k, counts[domain]) / min(k, len(members))}
                if exact_cli:
                    path = Path(scratch) / f"{domain}.json"
                    path.write_text(json.dumps(pairs))
                    answers = {m: cli_search(db, root, path, k, m) for m in methods}
                else:
                    answers = shared.search(root, [TaskExample(**p) for p in pairs], k)
                for method in methods:
                    row[method] = float(np.mean([domain in domains_of(truth.get(h["model"]))
                                                 for h in answers[method]]))
                    row[f"{method}_top"] = [h["model"] for h in answers[method]]
                rows.append(row)
                log(f"{root:32s} {row['arch']:6s} {domain:11s} " + " ".join(
                    f"{m} {row[m]:.2f}" for m in methods) + f"  best {row['best']:.2f}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoo", type=Path)
    parser.add_argument("db", type=Path)
    parser.add_argument("--examples", type=int, default=8)
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--methods", default="hubindex,paper")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--exact-cli", action="store_true",
                        help="every query through `hubindex search --examples` (a finetune per method and query)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    methods = tuple(args.methods.split(","))
    started, cpu = time.perf_counter(), time.process_time()
    rows = examples_rows(args.zoo, args.db, args.examples, args.k, methods, exact_cli=args.exact_cli)
    print(f"\nmean top-{args.k} share over {len(rows)} family/domain queries ({time.perf_counter() - started:.0f} s "
          f"wall, {time.process_time() - cpu:.0f} s CPU):")
    for family in sorted({r["family"] for r in rows}):
        mine = [r for r in rows if r["family"] == family]
        print(f"  {family:32s} {mine[0]['arch']:6s} " + " ".join(
            f"{m} {np.mean([r[m] for r in mine]):.2f}" for m in methods) +
            f"  best {np.mean([r['best'] for r in mine]):.2f}  ({len(mine)} domains)")
    print("  all" + " " * 37 + " ".join(f"{m} {np.mean([r[m] for r in rows]):.2f}" for m in methods) +
          f"  best {np.mean([r['best'] for r in rows]):.2f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
