"""Is a finetune its parent plus a merged LoRA? The delta of a few projection matrices is low rank.

A LoRA adapter merged with `merge_and_unload` adds B @ A (rank r, typically 4-64) to each targeted matrix, so
child - parent has at most r non-zero singular values there; a full finetune moves every direction and its delta is
full rank. Sampled coordinates cannot show rank, so this reads a handful of whole matrices (attention and MLP
projections of the first and last layer, named as adapters name their targets) of both models, safetensors only.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from hubindex.checkpoint import ModelFolder
from hubindex.errors import HubindexError
from hubindex.lineage.answers import LineageEntry
from hubindex.lineage.context import ancestors, card_check
from hubindex.lineage.family import Family

ENERGY = 0.99  # share of the delta's squared Frobenius norm the rank must capture
MAX_RANK = 64  # LoRA ranks on the Hub are <= 64; a larger "low rank" is no adapter's
RANK_SHARE = 4  # and the rank must be at most min(shape) / RANK_SHARE, so small matrices are not trivially low rank
MAX_TENSORS = 4  # matrices checked per model: two layers, one attention and one MLP projection each
EXACT_MAX = 1024  # narrow side up to which all singular values are computed
OVERSAMPLE = 16  # extra directions of the randomized SVD beyond the bound
# Module names that LoRA adapters target in the common architectures (peft's defaults and the Hub's usual choice).
ADAPTER_TARGETS = frozenset({"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "c_attn",
                             "c_proj", "c_fc", "query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h", "fc1",
                             "fc2", "out_proj", "query", "key", "value", "w1", "w2", "w3", "Wqkv", "wo"})
_LAYER = re.compile(r"\.(\d+)\.")


def energy_rank(power: torch.Tensor, total: float, energy: float = ENERGY) -> int:
    """Fewest of the squared singular values `power` (largest first) that hold `energy` of `total` (0 for a zero
    matrix; len(power) + 1 when all of them fall short: the rank is larger than computed)."""
    if total <= 0:
        return 0
    share = torch.cumsum(power.double(), 0) / total
    return int(torch.searchsorted(share, torch.tensor([energy], dtype=torch.float64))) + 1


def delta_spectrum(delta: torch.Tensor, bound: int) -> tuple[torch.Tensor, float]:
    """Squared singular values of `delta`, largest first, and its total energy. Exact (svdvals) up to EXACT_MAX on
    the narrow side; beyond, only the top bound + OVERSAMPLE by randomized SVD, which is all the bound needs (a
    4096-wide svdvals takes ~10 s on one core, the randomized one a fraction of it). It is exact for a delta of
    rank <= its q and can only underestimate the top values, so it never makes a full-rank delta look low rank."""
    total = float(delta.double().pow(2).sum())
    if min(delta.shape) <= EXACT_MAX:
        return torch.linalg.svdvals(delta).double() ** 2, total
    with torch.random.fork_rng():  # deterministic sketch, and the caller's RNG is left alone
        torch.manual_seed(0)
        _, singular, _ = torch.svd_lowrank(delta, q=bound + OVERSAMPLE, niter=2)
    return singular.double() ** 2, total


def checked_tensors(folder: ModelFolder) -> list[str]:
    """Up to MAX_TENSORS adapter-capable 2-D weights: the widest attention and MLP projection of the first and last
    layer (LoRA often targets attention only, so both kinds are read)."""
    by_layer: dict[int, list[str]] = {}
    for name, info in folder.tensors.items():
        parts = name.split(".")
        layer = _LAYER.search(name)
        if len(info.shape) == 2 and parts[-1] == "weight" and len(parts) > 1 and parts[-2] in ADAPTER_TARGETS \
                and layer:
            by_layer.setdefault(int(layer.group(1)), []).append(name)
    if not by_layer:
        return []
    chosen: list[str] = []
    for layer in sorted({min(by_layer), max(by_layer)}):
        # Widest first: a grouped-query k_proj has few rows, and the rank bound scales with the narrow side.
        names = sorted(by_layer[layer], key=lambda n: (-min(folder.tensors[n].shape), n))
        attention = [n for n in names if "attn" in n or "attention" in n]
        other = [n for n in names if n not in attention]
        chosen += [group[0] for group in (attention, other) if group]
    return chosen[:MAX_TENSORS]


def low_rank_delta(child: ModelFolder, parent: ModelFolder) -> dict:
    """Evidence that child = parent + a merged low-rank update: the largest energy rank over the checked matrices,
    their count, the least energy those ranks capture, the bound, and `lora_merged`. A matrix the child leaves
    unchanged counts as rank 0; at least one must have changed. Raises HubindexError for unreadable or mismatched
    weights."""
    names = checked_tensors(child)
    if not names:
        raise HubindexError("no adapter-capable 2-D weights found by name")
    ranks, spectra, bounds = [], [], []
    for name in names:
        a, b = child.read(name), parent.read(name)
        if a.shape != b.shape:
            raise HubindexError(f"{name}: shape {tuple(a.shape)} vs parent {tuple(b.shape)}")
        if not (a.is_floating_point() and b.is_floating_point()):
            raise HubindexError(f"{name}: not a floating-point tensor ({a.dtype}, {b.dtype})")
        delta = a.float() - b.float()
        if not torch.isfinite(delta).all():
            raise HubindexError(f"{name}: non-finite weights")
        bounds.append(min(MAX_RANK, min(delta.shape) // RANK_SHARE))
        power, total = delta_spectrum(delta, bounds[-1])
        ranks.append(energy_rank(power, total))
        spectra.append((power, total))
    rank = max(ranks)
    # Share of each changed matrix's delta held by its top `rank` directions (1.0 for an exact merged LoRA).
    energy = min((min(1.0, float(p[:rank].sum()) / total) for p, total in spectra if total > 0), default=1.0)
    low = any(ranks) and all(r <= bound for r, bound in zip(ranks, bounds, strict=True))
    return {"rank": rank, "tensors": len(names), "energy": round(energy, 4), "bound": min(bounds),
            "lora_merged": low}


def low_rank_evidence(child_path: str | None, parent_path: str | None,
                      folders: dict[str, ModelFolder] | None = None) -> dict:
    """{"low_rank_delta": {...}, "lora_merged": bool} for a finetune and its chosen parent; {} when either has no
    local weights (a crawled fingerprint); {"low_rank_delta": {"not_checked": reason}} when the weights cannot be
    compared. `folders` caches opened folders across calls (a parent has many children)."""
    if not child_path or not parent_path:
        return {}
    folders = {} if folders is None else folders
    try:
        opened = []
        for path in (child_path, parent_path):
            if path not in folders:
                folders[path] = ModelFolder.open(Path(path), require_config=False)
            opened.append(folders[path])
        if any(f.kind != "model" for f in opened):
            return {}
        found = low_rank_delta(*opened)
    except (HubindexError, OSError, RuntimeError) as exc:
        return {"low_rank_delta": {"not_checked": str(exc)}}
    return {"low_rank_delta": {k: v for k, v in found.items() if k != "lora_merged"},
            "lora_merged": found["lora_merged"]}


def check_low_rank(fam: Family, entries: dict[str, LineageEntry]) -> None:
    """Add low-rank delta evidence to every finetune whose weights and parent's are local (low_rank.py): a full
    checkpoint that is its parent plus a merged LoRA. Reads a few whole matrices per finetune, so it runs here,
    once the family's decisions are final, and only when its lineage is recomputed. A delta that is full rank from
    the chosen parent but low rank from the family root or the runner-up re-parents the model there: two
    independent runs never differ by a low-rank update (a same-domain sibling can look nearer than the base by
    distance and step tail, not by rank)."""
    folders: dict[str, ModelFolder] = {}
    for entry in entries.values():
        if entry.relation != "finetune" or not entry.parents:
            continue
        path = fam.rows[entry.model].get("path")
        found = low_rank_evidence(path, fam.rows[entry.parents[0]].get("path"), folders)
        # Other candidates, only for deltas that are not low rank: the root, then the runner-up (both allowed).
        others = [m for m in dict.fromkeys([fam.root, entry.evidence.get("runner_up")]) if m in fam.rows
                  and m != entry.parents[0] and entry.model not in ancestors(entries, m)] \
            if found.get("lora_merged") is False else []
        for other in others:
            from_other = low_rank_evidence(path, fam.rows[other].get("path"), folders)
            if from_other.get("lora_merged"):
                found = {**from_other, "parent_by_rank": {"replaced": entry.parents[0],
                                                          "its_rank": found["low_rank_delta"]["rank"]}}
                entry.parents = [other]
                entry.evidence.pop("conflict", None)
                entry.evidence.update(card_check(fam.rows[entry.model], entry.parents))
                break
        entry.evidence.update(found)
