"""Diagnosis of adapter bases on a design catalog: per adapter, what the bases stage stored and what a wider set of
measurements says of every candidate (the shortlist, plus every fitting full model of the true base's family).

    .venv/bin/python scripts/adapter_base_diag.py CATALOG ZOO [--adapter ID ...] [--json OUT]

Reads the catalog (read only) and the zoo's truth.json (to name the true base and to widen the candidate set: a
diagnosis, never a decision). The model folders are those the catalog records. Per candidate: the stage's first-step
alignment (all passages, each left out), the simulated Adam steps' alignment (all passages, each left out), the loss
on the adapter's top passages without and with the adapter, the same loss with the adapter's B scaled by each of SCALES,
and the gradient of that loss with respect to B at the trained adapter (its norm and its cosine with B).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from hubindex.catalog import Catalog
from hubindex.embed.activations import load_probe_model
from hubindex.embed.probes import task_passages
from hubindex.indexer import families
from hubindex.indexer.adapter_base import TOP_PASSAGES, _cosine, _shapes, _Weights, simulated_b
from hubindex.lineage import adapter_choice

SCALES = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)  # the adapter's B scaled: where does the fit bottom out?


def losses(probe, texts: tuple[str, ...]) -> torch.Tensor:
    batch = probe.tokenizer(list(texts), return_tensors="pt", padding=True, truncation=True, max_length=256)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    logits = probe.model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    tokens = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
    weight = mask[:, 1:].float()
    return (tokens * weight).sum(1) / weight.sum(1).clamp_min(1)


def gains(adapter: Path, candidates: dict[str, Path]) -> dict[str, dict]:
    """Per candidate: the loss on every task passage without and with the adapter (`--gains`: nothing else)."""
    passages = task_passages()
    out = {}
    for cand, folder in candidates.items():
        try:
            probe = load_probe_model(adapter, folder)
        except Exception as exc:
            out[cand] = {"error": str(exc)}
            continue
        with torch.no_grad():
            adapted = losses(probe, passages)
            with probe.model.disable_adapter():
                plain = losses(probe, passages)
        out[cand] = {"plain_all": plain.tolist(), "adapted_all": adapted.tolist()}
    return out


def own_passages(adapter: Path, candidates: dict[str, Path]) -> dict[str, dict]:
    """Per candidate: the first LoRA step's alignment on the TOP_PASSAGES passages where the adapter lowers the loss
    most on that candidate (`--own`: each candidate's own passages, not the weights' choice's)."""
    passages = task_passages()
    out = {}
    for cand, folder in candidates.items():
        try:
            probe = load_probe_model(adapter, folder)
        except Exception as exc:
            out[cand] = {"error": str(exc)}
            continue
        with torch.no_grad():
            adapted = losses(probe, passages)
            with probe.model.disable_adapter():
                plain = losses(probe, passages)
        picked = torch.argsort(plain - adapted, descending=True)[:TOP_PASSAGES].tolist()
        lora_b = {n: p for n, p in probe.model.named_parameters() if ".lora_B." in n}
        trained = torch.cat([p.detach().flatten().double() for p in lora_b.values()])
        for p in probe.model.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            for p in lora_b.values():
                p.zero_()
                p.requires_grad_(True)
        steps = []
        for i in picked:
            grads = torch.autograd.grad(losses(probe, (passages[i],)).sum(), list(lora_b.values()))
            steps.append(-torch.cat([x.flatten().double() for x in grads]))
        total = torch.stack(steps).sum(0)
        out[cand] = {"picked": picked, "first_own": _cosine(total, trained),
                     "first_own_loo": [_cosine(total - s, trained) for s in steps]}
    return out


def measure(adapter: Path, candidates: dict[str, Path], select_on: str) -> dict[str, dict]:
    passages = task_passages()
    selecting = load_probe_model(adapter, candidates[select_on])
    with torch.no_grad():
        with_adapter = losses(selecting, passages)
        with selecting.model.disable_adapter():
            gain = losses(selecting, passages) - with_adapter
    order = torch.argsort(gain, descending=True).tolist()
    texts = tuple(passages[i] for i in order[:TOP_PASSAGES])
    out = {}
    for cand, folder in candidates.items():
        try:
            probe = load_probe_model(adapter, folder)
        except Exception as exc:
            out[cand] = {"error": str(exc)}
            continue
        lora_b = {n: p for n, p in probe.model.named_parameters() if ".lora_B." in n}
        trained_b = {n: p.detach().clone() for n, p in lora_b.items()}
        trained = torch.cat([p.flatten().double() for p in trained_b.values()])
        for p in probe.model.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            adapted = losses(probe, texts)
            with probe.model.disable_adapter():
                plain = losses(probe, texts)
        scale_losses = []
        with torch.no_grad():
            for s in SCALES:
                for n, p in lora_b.items():
                    p.copy_(s * trained_b[n])
                scale_losses.append(losses(probe, texts).mean().item())
            for n, p in lora_b.items():
                p.copy_(trained_b[n])
        for p in lora_b.values():
            p.requires_grad_(True)
        g = torch.autograd.grad(losses(probe, texts).mean(), list(lora_b.values()))
        grad_at = torch.cat([x.flatten().double() for x in g])
        with torch.no_grad():
            for p in lora_b.values():
                p.zero_()
        steps = []
        for text in texts:
            grads = torch.autograd.grad(losses(probe, (text,)).sum(), list(lora_b.values()))
            steps.append(-torch.cat([x.flatten().double() for x in grads]))
        total = torch.stack(steps).sum(0)
        sims = [_cosine(simulated_b(lora_b, lambda on=probe: losses(on, texts).mean()), trained)]
        for i in range(len(texts)):
            sub = texts[:i] + texts[i + 1:]
            sims.append(_cosine(simulated_b(lora_b, lambda on=probe, s=sub: losses(on, s).mean()), trained))
        out[cand] = {
            "first": _cosine(total, trained), "first_loo": [_cosine(total - s, trained) for s in steps],
            "sim": sims[0], "sim_loo": sims[1:],
            "plain": plain.tolist(), "adapted": adapted.tolist(),
            "scale_losses": scale_losses, "grad_norm": float(grad_at.norm()), "grad_cos_b": _cosine(-grad_at, trained),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("zoo")
    ap.add_argument("--adapter", action="append")
    ap.add_argument("--json")
    ap.add_argument("--gains", action="store_true", help="only the per-passage losses (`gains`)")
    ap.add_argument("--own", action="store_true", help="shortlist only, each candidate's own passages (`own_passages`)")
    ap.add_argument("--kinds", default="adapter_on_finetune,lora")
    args = ap.parse_args()
    torch.set_num_threads(1)
    truth = json.loads((Path(args.zoo) / "truth.json").read_text())
    catalog = Catalog(Path(args.db), read_only=True)
    assigned = families.assign(catalog)
    facts = adapter_choice.stored(catalog)
    weights = _Weights(catalog, {m: a for m, a in assigned.items() if catalog.require(m).kind == "model"})
    report = {}
    kinds = set(args.kinds.split(","))
    for model_id in sorted(assigned):
        row = catalog.require(model_id)
        t = truth.get(model_id, {})
        if row.kind != "adapter" or (args.adapter and model_id not in args.adapter) or t.get("kind") not in kinds:
            continue
        choice = assigned[model_id]
        true_base = t["parents"][0]
        true_family = assigned.get(true_base).family if true_base in assigned else None
        fitting = weights.fitting(_shapes(catalog, model_id))
        wide = [m for m in fitting if (assigned[m].family or m) == true_family] if true_family else []
        cands = list(dict.fromkeys([*choice.candidates, *([true_base] if args.own else wide)]))
        stored_facts = next((f for (a, _), f in facts.items() if a == model_id), [])
        entry = {"kind": t.get("kind"), "truth": true_base, "truth_parent_of_base": truth.get(true_base, {}).get(
            "parents"), "base": row["base"], "source": str(row["base_source"]), "weights_choice": choice.base,
            "shortlist": list(choice.candidates), "stored": [f.__dict__ for f in stored_facts]}
        if len(cands) > 1:
            folders = {c: Path(catalog.require(c).path) for c in cands}
            select_on = choice.base if choice.base in folders else cands[0]
            entry["measured"] = gains(Path(row.path), folders) if args.gains else own_passages(
                Path(row.path), folders) if args.own else measure(Path(row.path), folders, select_on)
        entry["relation"] = {c: truth.get(c, {}).get("parents") for c in cands}
        report[model_id] = entry
        print(model_id, entry["kind"], "truth", true_base, "base", row["base"], flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
