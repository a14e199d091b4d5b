"""Fit the confidence map (hubindex.lineage.calibration) on design catalogs and their truth files; one command:

    python -m hubindex.evaluate.calibrate --pair CATALOG TRUTH [--pair CATALOG TRUTH ...] [--out FILE] [--cv]

Each catalog is copied to a temporary folder (with its .faiss/ folder) and its lineage recomputed by the code as it
is now (`update_lineage(force=True)`), so the map fits the decisions being shipped, not those the catalog was
indexed with; `--as-stored` reads the stored answers instead (faster, for catalogs just indexed). The raw score of
an answer is the confidence model's (evidence `raw_confidence`), whatever map is in place. An answer is right when
its parent set equals truth's (the rule of `hubindex eval`).

`--cv` prints cross-validated figures before writing: for every seed (read from zoo.json beside the truth file; all
clocks of a seed are one zoo), a map fitted on the other seeds scores that seed's catalogs (leave-one-seed-out), and
with `--split SEEDS` also the map fitted on SEEDS scores the rest and the reverse. In-sample figures are not shown:
they flatter the map. `--save-answers FILE` keeps the collected answers, `--answers FILE` refits from them in a
second (to try other fit options without recomputing lineage).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hubindex.catalog import Catalog
from hubindex.evaluate.lineage import calibration
from hubindex.lineage.calibration import MAP_PATH, CalibrationMap, fit_map, raw_confidence
from hubindex.lineage.queries import entries
from hubindex.lineage.update import update_lineage
from hubindex.zoo.truth import load_truth


@dataclass
class Answers:
    """One catalog's answers to fit or score: relation, raw score, right or wrong."""

    name: str
    seed: str
    relations: list[str]
    raw: list[float]
    right: list[bool]


def _seed(truth_path: Path) -> str:
    zoo = truth_path.with_name("zoo.json")
    if zoo.exists():
        return str(json.loads(zoo.read_text()).get("seed", truth_path))
    return str(truth_path)


def collect(catalog_path: Path, truth_path: Path, relineage: bool = True) -> Answers:
    truth = load_truth(str(truth_path))
    with tempfile.TemporaryDirectory() as tmp:
        if relineage:
            copy = Path(tmp) / "catalog.duckdb"
            shutil.copy(catalog_path, copy)
            faiss = Path(f"{catalog_path}.faiss")
            if faiss.exists():
                shutil.copytree(faiss, Path(f"{copy}.faiss"))
            catalog_path = copy
        with Catalog(str(catalog_path), read_only=not relineage) as catalog:
            if relineage:
                update_lineage(catalog, force=True)
            stored = entries(catalog)
    by_model = {e.model: e for e in stored}
    found = [e for e in stored if e.model in truth]
    return Answers(name=truth_path.parent.name, seed=_seed(truth_path),
                   relations=[str(e.relation) for e in found], raw=[raw_confidence(e, by_model) for e in found],
                   right=[sorted(e.parents) == sorted(truth[e.model]["parents"]) for e in found])


def fit(answers: list[Answers]) -> CalibrationMap:
    return fit_map([r for a in answers for r in a.relations], [x for a in answers for x in a.raw],
                   [ok for a in answers for ok in a.right], fitted_on=[a.name for a in answers])


def confidences(fitted: CalibrationMap | None, answers: Answers) -> list[float]:
    """One catalog's confidences by the map as stored (4 digits, as apply_map writes them), None: the raw scores."""
    if fitted is None:
        return answers.raw
    return [round(fitted.probability(r, x), 4) for r, x in zip(answers.relations, answers.raw, strict=True)]


def score(fitted: CalibrationMap | None, answers: Answers) -> tuple[float | None, float]:
    """AUROC and ECE of one catalog's answers, by the map (None: the raw scores)."""
    result = calibration(confidences(fitted, answers), answers.right)
    return result.auroc, result.ece


def cross_validate(answers: list[Answers], split: set[str] | None = None) -> list[dict]:
    """Rows of held-out figures: leave-one-seed-out, and the two halves of `split` against each other."""
    folds = [(f"leave out {s}", {s}) for s in sorted({a.seed for a in answers})]
    if split:
        rest = {a.seed for a in answers} - split
        folds += [(f"fit {','.join(sorted(split))}", rest), (f"fit {','.join(sorted(rest))}", split)]
    rows = []
    for name, held in folds:
        train = [a for a in answers if a.seed not in held]
        if not train:
            continue
        fitted = fit(train)
        for a in answers:
            if a.seed in held:
                (raw_auroc, raw_ece), (auroc, ece) = score(None, a), score(fitted, a)
                rows.append({"fold": name, "catalog": a.name, "seed": a.seed, "answers": len(a.right),
                             "wrong": a.right.count(False), "auroc_raw": raw_auroc, "auroc": auroc,
                             "ece_raw": raw_ece, "ece": ece, "raw": a.raw, "mapped": confidences(fitted, a),
                             "right": a.right})
    return rows


def _mean(values: list[float | None]) -> float:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else float("nan")


def print_cv(rows: list[dict]) -> None:
    for row in rows:
        print(f"{row['fold']:24s} {row['catalog']:16s} answers {row['answers']:3d} wrong {row['wrong']:2d}  "
              f"AUROC {_fmt(row['auroc_raw'])} -> {_fmt(row['auroc'])}  ECE {row['ece_raw']:.3f} -> {row['ece']:.3f}")
    for kind in ("leave out", "fit "):
        part = [r for r in rows if r["fold"].startswith(kind)]
        if part:
            print(f"mean over {len(part)} held-out catalogs ({kind.strip()}): "
                  f"AUROC {_mean([r['auroc_raw'] for r in part]):.3f} -> {_mean([r['auroc'] for r in part]):.3f}  "
                  f"ECE {_mean([r['ece_raw'] for r in part]):.3f} -> {_mean([r['ece'] for r in part]):.3f}")
    held = [r for r in rows if r["fold"].startswith("leave out")]
    if held:
        # Per seed: the mean over its catalogs (clocks); the worst seed is the figure a new seed is judged by.
        seeds = {r["seed"]: [x for x in held if x["seed"] == r["seed"]] for r in held}
        means = {s: (_mean([x["auroc_raw"] for x in part]), _mean([x["auroc"] for x in part]),
                     _mean([x["ece"] for x in part])) for s, part in seeds.items()}
        for s, (raw, mapped, ece) in means.items():
            print(f"seed {s}: AUROC {raw:.3f} -> {mapped:.3f}  ECE {ece:.3f} (mean over {len(seeds[s])} catalogs)")
        worst = min(means, key=lambda s: means[s][1])
        print(f"worst seed {worst}: AUROC {means[worst][0]:.3f} -> {means[worst][1]:.3f}; worst catalog AUROC "
              f"{min(r['auroc'] for r in held if r['auroc'] is not None):.3f}")
        right = [ok for r in held for ok in r["right"]]
        before = calibration([x for r in held for x in r["raw"]], right)
        after = calibration([x for r in held for x in r["mapped"]], right)
        print(f"pooled over {len(right)} held-out answers: AUROC {_fmt(before.auroc)} -> {_fmt(after.auroc)}  "
              f"ECE {before.ece:.3f} -> {after.ece:.3f}")


def _fmt(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hubindex.evaluate.calibrate", description=__doc__.split("\n")[0])
    parser.add_argument("--pair", nargs=2, action="append", metavar=("CATALOG", "TRUTH"),
                        help="an indexed catalog and its zoo's truth.json (repeat)")
    parser.add_argument("--out", type=Path, default=MAP_PATH, help=f"where the map goes (default {MAP_PATH})")
    parser.add_argument("--as-stored", action="store_true", help="read stored answers, do not recompute lineage")
    parser.add_argument("--cv", action="store_true", help="print leave-one-seed-out figures first")
    parser.add_argument("--split", default="", help="comma-separated seeds: fit on them, score the rest, and reverse")
    parser.add_argument("--no-write", action="store_true", help="only cross-validate")
    parser.add_argument("--save-answers", type=Path, help="also write the collected answers (JSON) to this file")
    parser.add_argument("--answers", type=Path, help="fit on answers saved by --save-answers instead of --pair")
    args = parser.parse_args(argv)
    if args.answers:
        answers = [Answers(**a) for a in json.loads(args.answers.read_text())]
    elif args.pair:
        answers = []
        for catalog, truth in args.pair:
            answers.append(collect(Path(catalog), Path(truth), relineage=not args.as_stored))
            a = answers[-1]
            print(f"{catalog}: {len(a.right)} answers, {a.right.count(False)} wrong (seed {a.seed})", file=sys.stderr)
    else:
        parser.error("give --pair CATALOG TRUTH (repeat) or --answers FILE")
    if args.save_answers:
        args.save_answers.write_text(json.dumps([asdict(a) for a in answers]))
    if args.cv or args.split:
        print_cv(cross_validate(answers, {s for s in args.split.split(",") if s} or None))
    if not args.no_write:
        fitted = fit(answers)
        args.out.write_text(json.dumps(fitted.model_dump(), indent=1) + "\n")
        print(f"wrote {args.out}: {sum(len(a.right) for a in answers)} answers, groups "
              f"{', '.join(f'{g} ({c.answers})' for g, c in fitted.groups.items())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
