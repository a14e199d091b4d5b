"""Lineage against truth, with baselines computed in the same run.

Metrics: parent accuracy (predicted parent set equals the true one; roots must get none), directed-edge
precision/recall/F1, relation accuracy per type, merge-source exactness, family ARI. Baselines:
- nearest: each model's parent is its nearest neighbour in weight space within its family (roots: none);
- mother: MoTHer-style: edge weights are weight distances, an edge may only go from higher to lower mean kurtosis,
  and a minimum spanning arborescence (Chu-Liu/Edmonds) per family picks one parent each;
- card: what cards and adapter configs declare (only when any model declares something).
LoRA-merged recognition: precision/recall of the `lora_merged` evidence against truth's `method` (recall over every
lora_merged model in the catalog, precision over the finetunes whose low-rank delta was checked).
Per kind (truth.json `kind`, hubindex.zoo.spec.KINDS): parent and relation accuracy of each phenomenon.
Calibration of hubindex's confidence, a model being right when its parent set equals truth's: the AUROC of
confidence at separating right from wrong answers (Mann-Whitney U / (right x wrong); ties count half), and the
expected calibration error over CALIBRATION_BINS equal-width confidence bins ([0, 0.1), ..., [0.9, 1.0]):
sum over bins of (share of models in the bin) x |accuracy - mean confidence|.
"""

from __future__ import annotations

from collections import Counter
from math import comb

import networkx as nx
import numpy as np
from pydantic import BaseModel, Field
from scipy.stats import mannwhitneyu

from hubindex.catalog import Catalog
from hubindex.catalog.samples import pairwise_distances
from hubindex.lineage.answers import LineageEntry
from hubindex.lineage.family import families
from hubindex.lineage.queries import entries
from hubindex.zoo.truth import load_truth


class LineageScore(BaseModel):
    name: str
    parent_accuracy: float
    edge_precision: float
    edge_recall: float
    edge_f1: float
    relation_accuracy: float | None
    relation_by_type: dict[str, float]
    merge_exact: float | None


class LoraMergedScore(BaseModel):
    checked: int = Field(description="models whose low-rank delta was checked (finetunes with local weights)")
    flagged: int = Field(description="of those, recognised as a merged LoRA")
    truth: int = Field(description="lora_merged models of truth in the catalog (checked or not)")
    precision: float | None
    recall: float | None


CALIBRATION_BINS = 10


class KindScore(BaseModel):
    models: int
    parent_accuracy: float
    relation_accuracy: float


class CalibrationBin(BaseModel):
    lower: float
    upper: float
    models: int
    mean_confidence: float | None
    accuracy: float | None


class Calibration(BaseModel):
    right: int = Field(description="models whose predicted parent set equals truth's")
    wrong: int
    auroc: float | None = Field(description="P(a right answer has higher confidence than a wrong one); None when "
                                "every answer is right or every one wrong")
    ece: float = Field(description="expected calibration error over equal-width confidence bins")
    bins: list[CalibrationBin]


class LineageEval(BaseModel):
    models: int
    family_ari: float
    hubindex: LineageScore
    baselines: list[LineageScore]
    lora_merged: LoraMergedScore | None = None
    by_kind: dict[str, KindScore] = Field(default_factory=dict, description="hubindex per truth.json kind (empty "
                                          "for zoos without kinds)")
    calibration: Calibration | None = None


def adjusted_rand(a: list[str], b: list[str]) -> float:
    pairs = Counter(zip(a, b, strict=True))
    sum_pairs = sum(comb(n, 2) for n in pairs.values())
    sum_a = sum(comb(n, 2) for n in Counter(a).values())
    sum_b = sum(comb(n, 2) for n in Counter(b).values())
    expected = sum_a * sum_b / comb(len(a), 2) if len(a) > 1 else 0.0
    maximum = (sum_a + sum_b) / 2
    return 1.0 if maximum == expected else (sum_pairs - expected) / (maximum - expected)


def score(name: str, predicted: dict[str, list[str]], relations: dict[str, str] | None, truth: dict) -> LineageScore:
    ids = [m for m in truth if m in predicted]
    parent_ok = [sorted(predicted[m]) == sorted(truth[m]["parents"]) for m in ids]
    edges_true = {(p, m) for m in ids for p in truth[m]["parents"]}
    edges_pred = {(p, m) for m in ids for p in predicted[m]}
    hit = len(edges_true & edges_pred)
    precision = hit / len(edges_pred) if edges_pred else 0.0
    recall = hit / len(edges_true) if edges_true else 0.0
    by_type: dict[str, list[bool]] = {}
    if relations is not None:
        for m in ids:
            by_type.setdefault(truth[m]["relation"], []).append(relations.get(m) == truth[m]["relation"])
    merges = [m for m in ids if truth[m]["relation"] == "merge"]
    return LineageScore(
        name=name, parent_accuracy=float(np.mean(parent_ok)), edge_precision=precision, edge_recall=recall,
        edge_f1=2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        relation_accuracy=float(np.mean([x for v in by_type.values() for x in v])) if by_type else None,
        relation_by_type={k: float(np.mean(v)) for k, v in sorted(by_type.items())},
        merge_exact=float(np.mean([sorted(predicted[m]) == sorted(truth[m]["parents"]) for m in merges]))
        if merges else None)


def lora_merged_score(found: dict[str, LineageEntry], truth: dict) -> LoraMergedScore | None:
    """Recall counts every lora_merged model of truth in the catalog, also those the engine did not call a
    finetune (never checked)."""
    checked = [m for m, e in found.items() if "lora_merged" in e.evidence]
    if not checked:
        return None
    flagged = {m for m in checked if found[m].evidence["lora_merged"]}
    true = {m for m in found if truth[m].get("method") == "lora_merged"}
    hit = len(flagged & true)
    return LoraMergedScore(checked=len(checked), flagged=len(flagged), truth=len(true),
                           precision=hit / len(flagged) if flagged else None,
                           recall=hit / len(true) if true else None)


def kind_scores(found: dict[str, LineageEntry], truth: dict) -> dict[str, KindScore]:
    by_kind: dict[str, list[tuple[bool, bool]]] = {}
    for m, entry in found.items():
        if kind := truth[m].get("kind"):
            right = sorted(entry.parents) == sorted(truth[m]["parents"])
            by_kind.setdefault(kind, []).append((right, entry.relation == truth[m]["relation"]))
    return {k: KindScore(models=len(v), parent_accuracy=float(np.mean([p for p, _ in v])),
                         relation_accuracy=float(np.mean([r for _, r in v]))) for k, v in sorted(by_kind.items())}


def calibration(confidence: list[float], right: list[bool], bins: int = CALIBRATION_BINS) -> Calibration:
    conf, ok = np.asarray(confidence, dtype=float), np.asarray(right, dtype=bool)
    n_right, n_wrong = int(ok.sum()), int((~ok).sum())
    auroc = None
    if n_right and n_wrong:
        auroc = float(mannwhitneyu(conf[ok], conf[~ok]).statistic / (n_right * n_wrong))
    index = np.minimum((conf * bins).astype(int), bins - 1)  # confidence 1.0 falls in the last bin
    table, ece = [], 0.0
    for b in range(bins):
        members = index == b
        count = int(members.sum())
        mean_conf = float(conf[members].mean()) if count else None
        accuracy = float(ok[members].mean()) if count else None
        if count:
            ece += count / len(conf) * abs(accuracy - mean_conf)
        table.append(CalibrationBin(lower=b / bins, upper=(b + 1) / bins, models=count, mean_confidence=mean_conf,
                                    accuracy=accuracy))
    return Calibration(right=n_right, wrong=n_wrong, auroc=auroc, ece=ece, bins=table)


def _baselines(catalog: Catalog) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, list[str]]]:
    nearest: dict[str, list[str]] = {}
    mother: dict[str, list[str]] = {}
    card: dict[str, list[str]] = {}
    rows = {r["id"]: r for r in catalog.models(ok_only=True)}
    for fam in families(catalog):
        distance = pairwise_distances(fam.scaled)
        np.fill_diagonal(distance, np.inf)
        graph = nx.DiGraph()
        graph.add_nodes_from(fam.ids)
        for i, child in enumerate(fam.ids):
            nearest[child] = [] if child == fam.root else [fam.ids[int(np.argmin(distance[i]))]]
            for j, parent in enumerate(fam.ids):
                if i != j and fam.kurtosis[j] >= fam.kurtosis[i]:
                    graph.add_edge(parent, child, weight=float(distance[j, i]))
        try:
            tree = nx.minimum_spanning_arborescence(graph)
            for child in fam.ids:
                mother[child] = [p for p, _ in tree.in_edges(child)]
        except nx.NetworkXException:
            for child in fam.ids:
                mother[child] = []
        for adapter in fam.adapters:  # baselines see adapters through their resolved base
            nearest[adapter] = mother[adapter] = [fam.rows[adapter]["base"]] if fam.rows[adapter]["base"] else []
    for model_id, row in rows.items():
        card[model_id] = list(row["declared_base"] or []) or ([row["adapter_base"]] if row["adapter_base"] else [])
    return nearest, mother, card


def evaluate_lineage(catalog: Catalog, truth_path: str) -> LineageEval:
    truth = load_truth(truth_path)
    found = {e.model: e for e in entries(catalog) if e.model in truth}
    ids = sorted(found)
    roots = {}
    for m in truth:
        r = m
        while truth[r]["parents"]:
            r = truth[r]["parents"][0]
        roots[m] = r
    ari = adjusted_rand([roots[m] for m in ids], [found[m].family or m for m in ids])
    ours = score("hubindex", {m: found[m].parents for m in ids}, {m: found[m].relation for m in ids}, truth)
    nearest, mother, card = _baselines(catalog)
    baselines = [score("nearest", nearest, None, truth), score("mother", mother, None, truth)]
    if any(card.values()):
        baselines.append(score("card", card, None, truth))
    right = [sorted(found[m].parents) == sorted(truth[m]["parents"]) for m in ids]
    return LineageEval(models=len(ids), family_ari=ari, hubindex=ours, baselines=baselines,
                       lora_merged=lora_merged_score(found, truth), by_kind=kind_scores(found, truth),
                       calibration=calibration([found[m].confidence for m in ids], right) if ids else None)
