"""Read-out candidates for the default Delta Activations recipe, side by side with `paper`, from cached features.

Reads the probe features bench/embedding_eval.py cached (paper's 5 probes and the default's 40 passages, every
layer, last-token and mean-pooled, for every model of each family, against its true root); computes nothing but
read-outs, so a sweep over many candidates costs seconds. Run bench/embedding_eval.py on a zoo first (its default
candidates cache what this needs). Per family: domain top-1 (strict) and the silhouette of the domain clusters,
with the gain over `paper` measured in the same run; then per candidate the mean silhouette and its worst gain.

Candidates (all 'A | B' = unit parts side by side, so the cosine is the mean of the parts' cosines):
  paper                       final layer, last token, mean over the 5 official probes (the published recipe)
  default                     paper | passages' mean-pooled final-layer shift (hubindex's default before the
                              loss-shift profile, pooling "nll", replaced it)
  passages                    the passages part alone
  passages_w0.5 / _w1.4       default with the passages part weighted 0.5 / 1.4
  passages_last               paper | passages' last-token shift
  layers_mid / layers_all     paper | passages' mean-pooled shift of the middle / every block (unit per layer)
  base_scaled                 both parts divided per dimension by the base's spread of features over the probes
  probe_norm                  paper | passages' shift with each passage's shift unit-scaled before the mean
  contrast                    default | each passage's shift minus the mean shift, passage by passage
  domain_groups               default | the mean shift per text domain of the passages (unit each), side by side
  domain_sizes                default | which passages' domains moved most (log shift size per domain, centred)
  next_token                  default | shift of the next-token log-probabilities at the passages' last token
                              (the base's output matrix applied to the final hidden states)
  next_token_both             next_token | the same at the paper probes' last token
  family_center / _whiten     default minus the family's mean delta (/ divided by the family's spread per dim)

Usage: nice python bench/embedding_readouts.py ZOO [ZOO ...] [--cache DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import torch
from embedding_eval import FeatureCache, zoo_truth
from safetensors import safe_open

from hubindex.corpus import _rng, pretraining_mix
from hubindex.corpus.domains import GENERATORS
from hubindex.embed.probes import PAPER_PROBES, PROBE_SEED, TASK_PASSAGES
from hubindex.evaluate.embedding import family_members, family_roots, score_family
from hubindex.ids import model_path

PAPER = slice(0, len(PAPER_PROBES))
PASSAGES = slice(len(PAPER_PROBES), None)
OUTPUT_KEYS = ("lm_head.weight", "model.embed_tokens.weight", "transformer.wte.weight")  # tied heads: the input table


def passage_domains() -> np.ndarray:
    """The text domain of each default passage: pretraining_mix draws each domain from its own stream
    (hubindex.corpus), so regenerating the streams labels the shuffled passages."""
    label: dict[str, str] = {}
    for name, make in GENERATORS.items():
        stream = _rng("mix", name, PROBE_SEED)
        for _ in range(TASK_PASSAGES):
            label.setdefault(make(stream), name)
    return np.array([label[d] for d in pretraining_mix(TASK_PASSAGES, PROBE_SEED)])


def features(cache: FeatureCache, zoo: Path, truth: dict, model_id: str) -> dict[str, np.ndarray] | None:
    """{"last", "mean"}: [5 paper probes + 40 passages, layers+1, hidden] from whichever cached probe sets hold them."""
    paper = cache.cached(zoo, truth, model_id, "paper", "base") or cache.cached(zoo, truth, model_id, "@paper", "base")
    passages = cache.cached(zoo, truth, model_id, "mix", "base")
    if paper is not None and passages is not None:
        return {k: torch.cat([paper[k], passages[k]]).double().numpy() for k in ("last", "mean")}
    both = cache.cached(zoo, truth, model_id, "@hubindex", "base")
    return None if both is None else {k: both[k].double().numpy() for k in ("last", "mean")}


def output_matrix(folder: Path) -> np.ndarray:
    found = {}
    for file in glob.glob(str(folder / "*.safetensors")):
        with safe_open(file, "pt") as tensors:
            found |= {k: tensors.get_tensor(k).double().numpy() for k in tensors.keys()  # noqa: SIM118
                      if k in OUTPUT_KEYS}
    return next(found[k] for k in OUTPUT_KEYS if k in found)


def unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-30)


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def readouts(base: dict, model: dict, out_matrix: np.ndarray, domains: np.ndarray) -> dict[str, np.ndarray]:
    shift = {k: model[k] - base[k] for k in ("last", "mean")}  # [probes, layers+1, hidden]
    blocks = shift["last"].shape[1] - 1
    paper = unit(shift["last"][PAPER, -1].mean(0))
    passages = unit(shift["mean"][PASSAGES, -1].mean(0))
    out = {"paper": paper, "default": np.concatenate([paper, passages]), "passages": passages}
    for weight in (0.5, 1.4):
        out[f"passages_w{weight}"] = np.concatenate([paper, passages * weight ** 0.5])
    out["passages_last"] = np.concatenate([paper, unit(shift["last"][PASSAGES, -1].mean(0))])
    for name, layers in (("layers_mid", [blocks // 2]), ("layers_all", range(1, blocks + 1))):
        per_layer = [unit(shift["mean"][PASSAGES, layer].mean(0)) for layer in layers]
        out[name] = np.concatenate([paper, unit(np.concatenate(per_layer))])
    spread = np.concatenate([base["mean"][:, -1], base["last"][:, -1]]).std(0) + 1e-6
    out["base_scaled"] = np.concatenate([unit(shift["last"][PAPER, -1].mean(0) / spread),
                                         unit(shift["mean"][PASSAGES, -1].mean(0) / spread)])
    each = shift["mean"][PASSAGES, -1]
    out["probe_norm"] = np.concatenate([paper, unit((each / np.linalg.norm(each, axis=1, keepdims=True)).mean(0))])
    out["contrast"] = np.concatenate([out["default"], unit((each - each.mean(0)).flatten())])
    groups = np.stack([each[domains == d].mean(0) for d in np.unique(domains)])
    out["domain_groups"] = np.concatenate([out["default"], unit(np.concatenate([unit(g) for g in groups]))])
    sizes = np.log(np.linalg.norm(groups, axis=1))
    out["domain_sizes"] = np.concatenate([out["default"], unit(sizes - sizes.mean())])

    def next_token(rows: slice) -> np.ndarray:
        moved = log_softmax(model["last"][rows, -1] @ out_matrix.T) - log_softmax(base["last"][rows, -1] @ out_matrix.T)
        moved = moved.mean(0)
        return unit(moved - moved.mean())

    out["next_token"] = np.concatenate([out["default"], next_token(PASSAGES)])
    out["next_token_both"] = np.concatenate([out["next_token"], next_token(PAPER)])
    return out


def family_transform(vectors: dict[str, np.ndarray], how: str) -> dict[str, np.ndarray]:
    ids = list(vectors)
    matrix = np.stack([vectors[m] for m in ids])
    matrix = matrix - matrix.mean(0)
    if how == "whiten":
        matrix = matrix / (matrix.std(0) + 1e-9)
    return dict(zip(ids, matrix, strict=True))


def evaluate(zoos: list[Path], cache: FeatureCache) -> dict[str, dict[str, dict]]:
    domains = passage_domains()
    results: dict[str, dict[str, dict]] = {}
    for zoo in zoos:
        truth, _ = zoo_truth(zoo)
        for root in family_roots(truth):
            queries, merges = family_members(truth, root)
            base = features(cache, zoo, truth, root)
            if not queries or base is None:
                continue
            out_matrix = output_matrix(model_path(zoo, root))
            per_model = {}
            for model_id in queries + merges:
                found = features(cache, zoo, truth, model_id)
                if found is None:
                    raise SystemExit(f"{zoo}: {model_id} has no cached features: run bench/embedding_eval.py first")
                per_model[model_id] = readouts(base, found, out_matrix, domains)
            names = list(next(iter(per_model.values())))
            family = f"{zoo.name}:{truth[root].get('arch')}:{root}"
            results[family] = {}
            for name in [*names, "family_center", "family_whiten"]:
                source = "default" if name.startswith("family_") else name
                vectors = {m: v[source] for m, v in per_model.items()}
                if name.startswith("family_"):
                    vectors = family_transform(vectors, name.removeprefix("family_"))
                results[family][name] = score_family(vectors, truth, root).model_dump()
    return results


def report(results: dict[str, dict[str, dict]]) -> None:
    families = [f for f in results if results[f]["paper"]["silhouette"] is not None]
    names = list(results[families[0]])
    print("domain top-1 / silhouette (gain over paper), per family:")
    for family in families:
        print(f"  {family}")
        paper = results[family]["paper"]
        for name in names:
            s = results[family][name]
            print(f"    {name:16s} {s['domain_top1_strict'] or 0:5.2f} / {s['silhouette']:6.3f} "
                  f"({s['silhouette'] - paper['silhouette']:+.3f})")
    print(f"\nover {len(families)} families: mean silhouette, worst silhouette gain over paper, worst top-1 gain")
    for name in names:
        rows = [(results[f][name], results[f]["paper"]) for f in families]
        print(f"  {name:16s} {np.mean([s['silhouette'] for s, _ in rows]):6.3f} "
              f"{min(s['silhouette'] - p['silhouette'] for s, p in rows):+.3f} "
              f"{min((s['domain_top1_strict'] or 0) - (p['domain_top1_strict'] or 0) for s, p in rows):+.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoos", nargs="+", type=Path)
    parser.add_argument("--cache", type=Path, default=Path("/work/scratch/embed/features"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = evaluate(args.zoos, FeatureCache(args.cache))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    report(results)


if __name__ == "__main__":
    main()
