"""Delta Activations recipes, by name. One recipe per space: embeddings of different recipes never mix.

A recipe = probes + a read-out of the probe features of model and base:
- `paper`: the published recipe exactly: the 5 official Alpaca templates, each run alone (batch 1, no padding),
  final layer's hidden state at the last token, mean over probes of (model - base), fp32.
- `hubindex` (default): the shift of the model's next-token loss on each of 40 passages of many domains, centred
  over the passages (see the comment above METHODS for how it was chosen).

Read-out options (candidates measured by bench/embedding_eval.py):
- layers: hidden-state layers read (negative indices into embeddings-output + blocks); several layers are
  concatenated, each layer's delta scaled to unit norm first so no layer dominates by its activation scale;
- per_probe_norm: every probe's delta is scaled to unit norm before the mean, so a few probes with large shifts do
  not decide the direction alone;
- combine: "mean" over probes (the paper), "concat" (probe-by-probe deltas side by side: cosine then compares the
  shift on each probe with the shift on the same probe), or "profile" (which probes moved most: log of each probe's
  shift size, centred; independent of how far training went, which varies with learning rate, optimiser, steps).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from hubindex.embed.probes import MAX_TOKENS, PAPER_PROBES, task_passages
from hubindex.errors import HubindexError

if TYPE_CHECKING:  # torch loads when a delta is computed: the catalog and the API read recipes without it
    import torch

READOUT_CODE = 1  # bump when code below changes what a recipe's fields give (their values cannot show that)


@dataclass(frozen=True)
class Part:
    """Probes [start, stop) of a method read one way; the part's mean delta is scaled to unit norm, then by
    sqrt(weight), so the cosine of two concatenations is the weighted mean of the parts' cosines."""

    start: int
    stop: int
    pooling: str  # "last" | "mean" (hidden states, final layer) | "nll" (each probe's loss shift, centred)
    weight: float = 1.0


@dataclass(frozen=True)
class EmbeddingMethod:
    name: str
    probes: tuple[str, ...]
    pooling: str  # "last" | "mean" | "nll" (each probe's loss shift, centred: `_loss_shift`)
    batch_size: int
    layers: tuple[int, ...] = (-1,)
    per_probe_norm: bool = False
    combine: str = "mean"  # "mean" over probes | "concat" (probe by probe) | "profile" (log shift size per probe)
    parts: tuple[Part, ...] = ()  # when given, the embedding is these parts side by side (final layer each)
    # How a space reads an adapter applied on a finetune: False, its stored vector (the whole model against the
    # root); True, `whole_and_increment` of its and its parent's stored vectors. A read-out of stored vectors, so not
    # part of the recipe: no stored vector changes with it.
    adapter_increment: bool = False

    @cached_property
    def recipe(self) -> str:
        """`name/hash` of everything that decides the vector: probes, read-out, truncation, tokenizer and dtype
        policy, and READOUT_CODE. Stored with each embedding (catalog `embeddings.recipe`): a row of another recipe
        counts as missing, so a changed recipe re-embeds instead of mixing vectors. The batch size is left out:
        batching never changes the features (tested)."""
        spec = {"probes": self.probes, "pooling": self.pooling, "layers": self.layers,
                "per_probe_norm": self.per_probe_norm, "combine": self.combine,
                "parts": [asdict(p) for p in self.parts], "max_tokens": MAX_TOKENS, "tokenizer": "family base",
                "dtype": "float32 read-out", "code": READOUT_CODE}
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
        return f"{self.name}/{digest}"

    def delta(self, model_features: dict[str, torch.Tensor], base_features: dict[str, torch.Tensor]) -> np.ndarray:
        """The model's activation shift from the base, one vector (hidden size x layers or parts read)."""
        import torch

        if self.parts:
            return np.concatenate([self._part(p, model_features, base_features) for p in self.parts])
        if self.pooling == "nll":  # kept at its scale: the norm says how far the model moved (NULL_DELTA reads it)
            return _loss_shift(model_features, base_features, 0, len(self.probes)).numpy().astype(np.float32)
        shift = (model_features[self.pooling] - base_features[self.pooling]).double()  # [probes, layers+1, hidden]
        parts = []
        for layer in self.layers:
            per_probe = shift[:, layer]
            if self.per_probe_norm:
                per_probe = per_probe / per_probe.norm(dim=1, keepdim=True).clamp_min(1e-12)
            if self.combine == "concat":
                part = per_probe.flatten()
            elif self.combine == "profile":
                sizes = per_probe.norm(dim=1).clamp_min(1e-12).log()
                part = sizes - sizes.mean()
            else:
                part = per_probe.mean(dim=0)
            if len(self.layers) > 1:
                part = part / part.norm().clamp_min(1e-12)
            parts.append(part)
        return torch.cat(parts).numpy().astype(np.float32)


    @staticmethod
    def _part(part: Part, model_features: dict[str, torch.Tensor], base_features: dict[str, torch.Tensor]
              ) -> np.ndarray:
        if part.pooling == "nll":
            shift = _loss_shift(model_features, base_features, part.start, part.stop)
        else:
            shift = (model_features[part.pooling][part.start:part.stop, -1]
                     - base_features[part.pooling][part.start:part.stop, -1]).double().mean(dim=0)
        shift = shift / shift.norm().clamp_min(1e-12) * part.weight ** 0.5
        return shift.numpy().astype(np.float32)


def whole_and_increment(whole: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """unit(whole) + unit(whole - parent): an adapter applied on a finetune, from its stored vector and its parent's
    (both against the family root). For the loss-shift profile, linear in the model's losses, whole - parent is
    exactly the adapter's own centred loss shift against its parent: the whole model reads the parent's domain
    when the parent's training dominates, the increment alone loses adapters whose own increment is tiny; both,
    equally weighted, never lost a family query on design seeds 111-119 (docs/fingerprints.md, rounds 10-11). An
    increment of zero (the adapter moves nothing) leaves the whole."""
    whole = np.asarray(whole, dtype=np.float64)
    increment = whole - np.asarray(parent, dtype=np.float64)
    size, step = float(np.linalg.norm(whole)), float(np.linalg.norm(increment))
    if not size or not step:
        return whole.astype(np.float32)
    return (whole / size + increment / step).astype(np.float32)


def _loss_shift(model_features: dict[str, torch.Tensor], base_features: dict[str, torch.Tensor], start: int,
                stop: int) -> torch.Tensor:
    """Per probe: how much the model's mean next-token loss on it moved from the base's, minus the mean move over
    the probes. The mean move is what any finetune does (worse on text it did not train on, better on its own); what
    is left says WHICH passages the model got better at. One number per probe, the same quantity however the
    weights moved (full finetune, LoRA on attention only, SGD, long or short runs): the hidden-state shifts of those
    point in different directions for the same domain (cosine distance 0.36 full vs LoRA of one domain against
    0.13 full vs full, design seeds 105-107), their effect on the loss of each passage does not."""
    shift = (model_features["nll"][start:stop] - base_features["nll"][start:stop]).double()
    return shift - shift.mean()


# The default (this round): the loss-shift profile on 40 passages drawn from every text domain: per passage, how much
# the model's mean next-token loss moved from the base's, centred over the passages (_loss_shift); one forward pass
# per model, as before. Chosen by a rule fixed in writing before scoring (notes/wt-embed.md: never below `paper` in
# top-1 or silhouette in any design family; then the best worst-family silhouette gain) on design seeds 1, 2, 101,
# 105, 106, 107 against the old default (paper | passages' mean-pooled hidden shift, side by side), its parts, and
# the loss profile beside them; the hidden-state candidates lost up to 0.07 silhouette to paper in some family.
# Confirmed afterwards on seeds 108-110 (not used to choose): silhouette paper + 0.156 or more in all 12 families
# (mean 0.859 vs 0.454), domain top-1 1.000 in every family (paper 0.60-1.00).
HUBINDEX_PROBES = task_passages()
METHODS: dict[str, EmbeddingMethod] = {
    "paper": EmbeddingMethod("paper", PAPER_PROBES, "last", batch_size=1),
    "hubindex": EmbeddingMethod("hubindex", HUBINDEX_PROBES, "nll", batch_size=16, adapter_increment=True),
}
DEFAULT_METHOD = "hubindex"


def get_method(name: str) -> EmbeddingMethod:
    try:
        return METHODS[name]
    except KeyError:
        raise HubindexError(f"unknown embedding method {name!r}; choose one of {', '.join(METHODS)}") from None


def current_recipe(method: str) -> str:
    """The recipe a stored embedding of `method` must have to be read (hubindex.catalog: other rows are stale)."""
    return get_method(method).recipe
