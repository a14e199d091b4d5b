"""Delta Activations candidates side by side on zoos, per family, against the paper's recipe in the same run.

Every model of a family is embedded against its TRUE family root (truth.json), so the numbers score the embedding,
not lineage. An adapter is applied on its true parent (a root or a finetune). Probe features (hidden states per probe
and layer) are cached per (model files, probe set, tokenizer) under --cache, so candidates that differ only in their
read-out (layers, per-probe normalisation, family whitening) cost nothing extra.

Per family: domain top-1 of the cosine-nearest neighbour among the root's direct single-domain finetunes/adapters
(strict), the same with the family's merges competing (a merge is a hit when one of its sources has the domain), and
the silhouette of the domain clusters (cosine). See hubindex/evaluate/embedding.py (score_family).

Candidates are named PROBES/TOKENIZER/READOUT/FAMILY (or @METHOD/TOKENIZER/method/raw: a registered method exactly as
the indexer reads it, e.g. @paper/base/method/raw, @hubindex/base/method/raw):
  PROBES     paper (5 official templates) | v1 (the 40 probes of the default before this bench) | tasks (templates
             + passages drawn from every text domain of the corpus: probes that cover many tasks) | mix (passages only)
             | wide (the official templates with 25 kinds of instruction) | templ (paper + 8 instructions)
  TOKENIZER  base (the family root's tokenizer reads every model's probes, as the official code does) | own
  READOUT    nll (each probe's mean next-token loss shift, centred) | last (final layer, last token)
             | layers (last token of every block, unit-scaled per layer, concatenated)
             | pnorm (final layer, each probe's delta unit-scaled before the mean) | lpnorm (both) | mean (mean pooling)
  FAMILY     raw | center (minus the family's mean delta) | whiten (centered, divided by the family's per-dimension
             spread of deltas)

Usage: nice python bench/embedding_eval.py ZOO [ZOO ...] [--candidates a,b,...] [--json OUT] [--cache DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch

from hubindex import corpus
from hubindex.embed.activations import load_probe_model, probe_features
from hubindex.embed.methods import EmbeddingMethod, get_method
from hubindex.embed.probes import PROBE_SETS
from hubindex.evaluate.embedding import domains_of, family_members, family_roots, score_family
from hubindex.ids import model_path
from hubindex.search_by_examples import TaskExample, task_model, top_k_share
from hubindex.zoo.build import STATE_FILE, ZOO_FILE, ZooOptions
from hubindex.zoo.truth import TRUTH_FILE, load_truth, truth_from_plan

EXAMPLES_SEED = 7_000_003  # corpus stream of the search-by-examples documents (the zoo's finetunes use small seeds)
READOUTS = {
    "last": dict(pooling="last"),
    "layers": dict(pooling="last", layers="all"),
    "pnorm": dict(pooling="last", per_probe_norm=True),
    "lpnorm": dict(pooling="last", layers="all", per_probe_norm=True),
    "mean": dict(pooling="mean"),
    "concat": dict(pooling="last", combine="concat"),
    "pconcat": dict(pooling="last", combine="concat", per_probe_norm=True),
    "profile": dict(pooling="last", combine="profile"),
    "lprofile": dict(pooling="last", combine="profile", layers="all"),
    "mprofile": dict(pooling="mean", combine="profile"),
    "mpnorm": dict(pooling="mean", per_probe_norm=True),
    "mlayers": dict(pooling="mean", layers="all"),
    "mconcat": dict(pooling="mean", combine="concat", per_probe_norm=True),
    "nll": dict(pooling="nll"),  # each probe's loss shift, centred over the probes (the default's read-out)
}
# The final comparison: paper exactly as indexed, the default exactly as indexed, the default before (v1).
DEFAULT_CANDIDATES = ["@paper/base/method/raw", "@hubindex/base/method/raw", "v1/base/last/raw"]


def probe_set(probes: str) -> tuple[str, ...]:
    """A named probe set, or `@METHOD`: the probes of a registered method (hubindex.embed.methods)."""
    return get_method(probes[1:]).probes if probes.startswith("@") else PROBE_SETS[probes]()


def probes_key(probes: str) -> str:
    return hashlib.sha256("\x00".join(probe_set(probes)).encode()).hexdigest()[:16] if probes.startswith("@") \
        else probes


def files_key(folder: Path) -> str:
    stats = sorted((p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in folder.iterdir() if p.is_file())
    return hashlib.sha256(f"{folder.resolve()}|{stats}".encode()).hexdigest()[:20]


class FeatureCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.computed = 0

    def _path(self, zoo: Path, truth: dict, model_id: str, probes: str, tokenizer: str) -> Path:
        root = self._root(truth, model_id)
        key = hashlib.sha256(f"{files_key(model_path(zoo, model_id))}|{probes_key(probes)}|{tokenizer}|"
                             f"{files_key(model_path(zoo, root))}".encode()).hexdigest()[:24]
        return self.folder / f"{key}.pt"

    def cached(self, zoo: Path, truth: dict, model_id: str, probes: str, tokenizer: str
               ) -> dict[str, torch.Tensor] | None:
        """The features if computed before, else None (nothing is computed)."""
        path = self._path(zoo, truth, model_id, probes, tokenizer)
        return torch.load(path, weights_only=True) if path.exists() else None

    def features(self, zoo: Path, truth: dict, model_id: str, probes: str, tokenizer: str) -> dict[str, torch.Tensor]:
        folder = model_path(zoo, model_id)
        path = self._path(zoo, truth, model_id, probes, tokenizer)
        if (found := self._load(path)) is not None:
            return found
        entry = truth[model_id]
        applied_on = model_path(zoo, entry["parents"][0]) if entry["relation"] == "adapter" else None
        tokenizer_from = model_path(zoo, self._root(truth, model_id)) if tokenizer == "base" else None
        probe = load_probe_model(folder, applied_on, tokenizer_from)
        features = probe_features(probe, probe_set(probes), 16)
        torch.save(features, path)
        self.computed += 1
        return features

    def task_features(self, zoo: Path, root: str, domain: str, probes: str, tokenizer: str,
                      examples: int) -> dict[str, torch.Tensor]:
        """Features of the search-by-examples model: `examples` documents of `domain` (drawn from a stream the zoo
        never trains on), a short finetune of the root, read like the models (hubindex.search_by_examples)."""
        base = model_path(zoo, root)
        key = hashlib.sha256(f"task|{files_key(base)}|{domain}|{examples}|{probes_key(probes)}|{tokenizer}".encode())
        path = self.folder / f"{key.hexdigest()[:24]}.pt"
        if (found := self._load(path)) is not None:
            return found
        with tempfile.TemporaryDirectory(prefix="embedding-eval-task-") as scratch:
            docs = corpus.generate(domain, examples, EXAMPLES_SEED)
            pairs = [TaskExample(input=d[: len(d) // 2], output=d[len(d) // 2:]) for d in docs]
            folder = task_model(base, root, pairs, Path(scratch) / "task")
            probe = load_probe_model(folder, tokenizer_from=base if tokenizer == "base" else None)
            features = probe_features(probe, probe_set(probes), 16)
        torch.save(features, path)
        self.computed += 1
        return features

    @staticmethod
    def _load(path: Path) -> dict[str, torch.Tensor] | None:
        """Cached features, or None when absent or cached before probe_features read each probe's loss ("nll")."""
        found = torch.load(path, weights_only=True) if path.exists() else None
        return found if found is not None and "nll" in found else None

    @staticmethod
    def _root(truth: dict, model_id: str) -> str:
        while truth[model_id]["parents"]:
            model_id = truth[model_id]["parents"][0]
        return model_id


def zoo_truth(zoo: Path) -> tuple[dict, bool]:
    """(truth, complete). A zoo still being built has no truth.json yet: its plan gives the truth, kept to the
    models the build has finished (recorded in its state file with the plan's digest), so a partial zoo scores."""
    if (zoo / TRUTH_FILE).exists():
        return load_truth(zoo), True
    options = json.loads((zoo / ZOO_FILE).read_text())
    plan = ZooOptions(**{k: options[k] for k in ZooOptions.__dataclass_fields__ if k in options}).plan()
    state = json.loads((zoo / STATE_FILE).read_text()) if (zoo / STATE_FILE).exists() else {}
    done = {spec.id for spec in plan if state.get(spec.id) == spec.digest()}
    truth = truth_from_plan(plan)
    # a model counts once it and its whole ancestry (root, adapter parents) are built
    kept = {m for m in truth if m in done and all(p in done for p in truth[m]["parents"])}
    return {m: e for m, e in truth.items() if m in kept}, False


def method_of(candidate: str, layers_total: int) -> EmbeddingMethod:
    probes, _, readout, _ = candidate.split("/")  # one part of a candidate
    if readout == "method":  # @NAME/TOKENIZER/method/raw: the registered method's own read-out
        return get_method(probes[1:])
    options = dict(READOUTS[readout])
    if options.get("layers") == "all":
        options["layers"] = tuple(range(-layers_total, 0))  # every block's output (embeddings output left out)
    return EmbeddingMethod(candidate, PROBE_SETS[probes](), batch_size=16, **options)


def family_transform(vectors: dict[str, np.ndarray], how: str) -> dict[str, np.ndarray]:
    if how == "raw" or len(vectors) < 3:
        return vectors
    ids = list(vectors)
    matrix = np.stack([vectors[m] for m in ids]).astype(np.float64)
    matrix = matrix - matrix.mean(axis=0)
    if how == "whiten":
        matrix = matrix / np.maximum(matrix.std(axis=0), 1e-12)
    return dict(zip(ids, matrix, strict=True))


class Embedder:
    """A candidate's embedding of any model (or search-by-examples model) of one family. `A&B` concatenates the
    unit vectors of candidates A and B (raw parts only)."""

    def __init__(self, zoo: Path, truth: dict, root: str, candidate: str, cache: FeatureCache) -> None:
        self.zoo, self.truth, self.root, self.cache = zoo, truth, root, cache
        self.parts = []
        for part in candidate.split("&"):
            probes, tokenizer, _, how = part.split("/")
            base = cache.features(zoo, truth, root, probes, tokenizer)
            self.parts.append((probes, tokenizer, method_of(part, base["last"].shape[1] - 1), base))
            self.how = how
        if len(self.parts) > 1 and self.how != "raw":
            raise SystemExit(f"{candidate}: combined candidates take raw parts only")

    def _combine(self, features) -> np.ndarray:
        vectors = [method.delta(features(probes, tokenizer), base) for probes, tokenizer, method, base in self.parts]
        if len(vectors) == 1:
            return vectors[0]
        return np.concatenate([v / max(float(np.linalg.norm(v)), 1e-30) for v in vectors])

    def model(self, model_id: str) -> np.ndarray:
        return self._combine(lambda p, t: self.cache.features(self.zoo, self.truth, model_id, p, t))

    def task(self, domain: str, examples: int) -> np.ndarray:
        return self._combine(lambda p, t: self.cache.task_features(self.zoo, self.root, domain, p, t, examples))


def evaluate_zoo(zoo: Path, candidates: list[str], cache: FeatureCache, examples: int = 0) -> dict:
    truth, complete = zoo_truth(zoo)
    out: dict = {"zoo": str(zoo), "complete": complete, "models": len(truth), "families": {}}
    for root in family_roots(truth):
        queries, merges = family_members(truth, root)
        if not queries:
            continue
        members = queries + merges
        per_candidate = {}
        for candidate in candidates:
            embedder = Embedder(zoo, truth, root, candidate, cache)
            vectors = {m: embedder.model(m) for m in members}
            per_candidate[candidate] = score_family(family_transform(vectors, embedder.how), truth,
                                                    root).model_dump()
            if examples:
                per_candidate[candidate]["examples"] = examples_scores(truth, embedder, vectors, examples)
        out["families"][root] = {"arch": truth[root].get("arch"), "queries": len(queries), "merges": len(merges),
                                 "scores": per_candidate}
    return out


def examples_scores(truth: dict, embedder: Embedder, vectors: dict[str, np.ndarray], examples: int) -> dict:
    """Per domain with 2+ models in the family: top-5 share of the examples' embedding, and the best possible.
    Family transforms (center/whiten) are not applied here: the query comes alone, as in the service."""
    domains = {m: domains_of(truth[m]) for m in vectors}
    counts: dict[str, int] = {}
    for m in vectors:
        if truth[m]["domain"]:
            counts[truth[m]["domain"]] = counts.get(truth[m]["domain"], 0) + 1
    out = {}
    for domain in sorted(d for d, n in counts.items() if n >= 2):
        share, best = top_k_share(embedder.task(domain, examples), vectors, domains, domain)
        out[domain] = {"top5_share": share, "best": best}
    return out


def examples_line(score: dict) -> str:
    ex = score.get("examples")
    if not ex:
        return ""
    share = np.mean([v["top5_share"] for v in ex.values()])
    best = np.mean([v["best"] for v in ex.values()])
    return f"   examples top-5 {share:.2f} (best possible {best:.2f}, {len(ex)} domains)"


def fmt(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.3f}"


def report(results: list[dict], candidates: list[str]) -> None:
    reference = next(c for c in candidates if c in ("paper/base/last/raw", "@paper/base/method/raw"))
    for result in results:
        partial = "" if result["complete"] else " (PARTIAL: still being built)"
        print(f"\n== {result['zoo']}: {result['models']} models{partial}")
        for root, fam in result["families"].items():
            print(f"-- family {root} ({fam['arch']}): {fam['queries']} direct finetunes, {fam['merges']} merges")
            print(f"   {'candidate':28s} {'top1':>6s} {'+merge':>6s} {'silh':>6s}   d_top1 d_merge  d_silh  vs paper")
            ref = fam["scores"].get(reference)
            for candidate in candidates:
                s = fam["scores"][candidate]
                gains = ""
                if ref:
                    gains = "  ".join(fmt(None if s[k] is None or ref[k] is None else s[k] - ref[k]) for k in
                                      ("domain_top1_strict", "domain_top1_merge", "silhouette"))
                print(f"   {candidate:28s} {fmt(s['domain_top1_strict'])} {fmt(s['domain_top1_merge'])} "
                      f"{fmt(s['silhouette'])}   {gains}{examples_line(s)}")
    print("\n== mean over all families")
    for candidate in candidates:
        rows = [f["scores"][candidate] for r in results for f in r["families"].values()]
        means = [np.mean([r[k] for r in rows if r[k] is not None]) for k in
                 ("domain_top1_strict", "domain_top1_merge", "silhouette")]
        worst_gain = ""
        if candidate != reference:
            pairs = [(f["scores"][candidate], f["scores"][reference]) for r in results for f in r["families"].values()]
            pairs = [(a, b) for a, b in pairs if a["silhouette"] is not None and b["silhouette"] is not None]
            g1 = min((a["domain_top1_strict"] - b["domain_top1_strict"] for a, b in pairs
                      if a["domain_top1_strict"] is not None), default=0.0)
            gs = min(a["silhouette"] - b["silhouette"] for a, b in pairs)
            worst_gain = f"  worst gain (families with 2+ domains): top1 {g1:+.3f} silh {gs:+.3f}"
        shares = [v for r in rows for v in (r.get("examples") or {}).values()]
        if shares:
            worst_gain += (f"  examples top-5 {np.mean([v['top5_share'] for v in shares]):.2f} "
                           f"(best {np.mean([v['best'] for v in shares]):.2f})")
        print(f"   {candidate:28s} {means[0]:6.3f} {means[1]:6.3f} {means[2]:6.3f}{worst_gain}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoos", nargs="+", type=Path)
    parser.add_argument("--candidates", default=",".join(DEFAULT_CANDIDATES))
    parser.add_argument("--cache", type=Path, default=Path("/work/scratch/embed/features"))
    parser.add_argument("--json", type=Path, help="write all scores here")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--examples", type=int, default=0,
                        help="also measure search by N examples per domain (a short finetune per family and domain)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    candidates = [c for c in args.candidates.split(",") if c]
    if "paper/base/last/raw" not in candidates and "@paper/base/method/raw" not in candidates:
        candidates.insert(0, "paper/base/last/raw")
    cache = FeatureCache(args.cache)
    started = time.perf_counter()
    results = [evaluate_zoo(zoo, candidates, cache, args.examples) for zoo in args.zoos]
    if args.json:
        args.json.write_text(json.dumps({"candidates": candidates, "results": results}, indent=2))
    report(results, candidates)
    print(f"\n{cache.computed} feature sets computed in {time.perf_counter() - started:.0f} s (rest from cache)")


if __name__ == "__main__":
    main()
