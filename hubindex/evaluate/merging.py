"""`hubindex eval --merge`: does the merge-candidate ranking predict which merges pay off?

For several zoo finetunes, merge the top-N and bottom-N ranked candidates into the model (TIES, density 0.5,
against the shared base, with hubindex's training module) and measure next-token loss on held-out text of both
parents' domains (documents generated with a seed no model trained on). Merge gain, as in Model Kinship: the best
parent's mean loss over those domains minus the merged model's; positive means the merge beats both parents.
The ranking is right when top pairs gain more than bottom pairs on average.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from hubindex import corpus
from hubindex.catalog import Catalog
from hubindex.embed.activations import load_probe_model
from hubindex.errors import HubindexError
from hubindex.indexer.embedding import probe_loss
from hubindex.merge_candidates.candidates import rank
from hubindex.train.merge import merge, parse_recipe
from hubindex.zoo.truth import load_truth

HELD_OUT_SEED = 987_654_321  # far from every training seed the zoo uses
HELD_OUT_DOCS = 12


class MergedPair(BaseModel):
    model: str
    candidate: str
    group: str = Field(description="top or bottom of the candidate ranking")
    score: float
    domains: list[str]
    loss_merged: dict[str, float] = Field(description="held-out loss of the merge per domain")
    loss_model: dict[str, float]
    loss_candidate: dict[str, float]
    gain: float = Field(description="best parent's mean loss minus the merge's (higher: the merge helps)")


class MergeEval(BaseModel):
    """`hubindex eval --merge --json`."""

    queries: list[str]
    pairs: list[MergedPair]
    top_mean_loss: float
    bottom_mean_loss: float
    top_mean_gain: float
    bottom_mean_gain: float
    top_beats_bottom: bool


def _domains(truth: dict, model: str) -> list[str]:
    """A model's domains: its own, a merge's sources', else its nearest ancestor's (a copy keeps its parent's)."""
    seen = set()
    while model in truth and model not in seen:
        seen.add(model)
        entry = truth[model]
        if entry["domain"]:
            return [entry["domain"]]
        if entry.get("merge") and entry["merge"].get("domains"):
            return sorted(entry["merge"]["domains"])
        if entry["relation"] == "merge":
            return sorted({d for p in entry["parents"] for d in _domains(truth, p)})
        if not entry["parents"]:
            return []
        model = entry["parents"][0]
    return []


def _losses(folder: Path, texts: dict[str, list[str]]) -> dict[str, float]:
    probe = load_probe_model(folder)
    return {d: round(probe_loss(probe, tuple(t)), 5) for d, t in texts.items()}


def _queries(catalog: Catalog, truth: dict, count: int) -> list[str]:
    """Finetunes with one domain, taken in turn from each family, a new domain each time; a stable order."""
    rows = {r["id"]: r for r in catalog.models(ok_only=True)}
    by_family: dict[str, list[str]] = {}
    for m in sorted(truth):
        t, row = truth[m], rows.get(m)
        if t["relation"] == "finetune" and t["domain"] and row and row["kind"] == "model" \
                and row["family"] and row["family"] != m:
            by_family.setdefault(row["family"], []).append(m)
    chosen, used = [], set()
    while len(chosen) < count and any(by_family.values()):
        for family in sorted(by_family):
            while by_family[family] and len(chosen) < count:
                m = by_family[family].pop(0)
                if truth[m]["domain"] not in used:
                    chosen.append(m)
                    used.add(truth[m]["domain"])
                    break
        if all(truth[m]["domain"] in used for ms in by_family.values() for m in ms):
            used.clear()  # every domain taken once: allow repeats
    return chosen


def evaluate_merges(catalog: Catalog, truth_path: str, queries: int = 3, per_side: int = 3,
                    method: str = "hubindex") -> MergeEval:
    truth = load_truth(truth_path)
    picked = _queries(catalog, truth, queries)
    if not picked:
        raise HubindexError(f"no finetune in {truth_path} is indexed in {catalog.path}")
    pairs: list[MergedPair] = []
    cache: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory(prefix="hubindex-merge-eval-") as scratch:
        for model in picked:
            ranked = rank(catalog, model, k=1000, method=method)
            n = min(per_side, len(ranked.candidates) // 2)
            chosen = [("top", c) for c in ranked.candidates[:n]] + [("bottom", c) for c in ranked.candidates[-n:]]
            for group, cand in chosen:
                domains = sorted(set(_domains(truth, model)) | set(_domains(truth, cand.model)))
                texts = {d: corpus.generate(d, HELD_OUT_DOCS, HELD_OUT_SEED) for d in domains}
                out = Path(scratch) / f"{len(pairs)}"
                recipe = parse_recipe({"merge_method": "ties", "base_model": ranked.base, "seed": 0,
                                       "parameters": {"density": 0.5, "weight": 1.0},
                                       "models": [{"model": model}, {"model": cand.model}]})
                merge(recipe, out, resolve=lambda ref: Path(catalog.require(ref)["path"]), quiet=True)
                merged = _losses(out, texts)
                parents = {}
                for who in (model, cand.model):
                    missing = [d for d in domains if (who, d) not in cache]
                    if missing:
                        got = _losses(Path(catalog.require(who)["path"]), {d: texts[d] for d in missing})
                        cache.update({(who, d): v for d, v in got.items()})
                    parents[who] = {d: cache[(who, d)] for d in domains}
                best_parent = min(float(np.mean(list(p.values()))) for p in parents.values())
                pairs.append(MergedPair(model=model, candidate=cand.model, group=group, score=cand.score,
                                        domains=domains, loss_merged=merged, loss_model=parents[model],
                                        loss_candidate=parents[cand.model],
                                        gain=round(best_parent - float(np.mean(list(merged.values()))), 5)))

    def mean(group: str, key) -> float:
        return round(float(np.mean([key(p) for p in pairs if p.group == group])), 5)

    def loss(pair: MergedPair) -> float:
        return float(np.mean(list(pair.loss_merged.values())))

    top_gain, bottom_gain = mean("top", lambda p: p.gain), mean("bottom", lambda p: p.gain)
    return MergeEval(queries=picked, pairs=pairs, top_mean_loss=mean("top", loss),
                     bottom_mean_loss=mean("bottom", loss), top_mean_gain=top_gain, bottom_mean_gain=bottom_gain,
                     top_beats_bottom=top_gain > bottom_gain)
