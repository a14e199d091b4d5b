"""Delta Activations recipes, by name. One recipe per space: embeddings of different recipes never mix.

A recipe = probes + a read-out of the probe features of model and base:
- `paper`: the published recipe exactly: the 5 official Alpaca templates, each run alone (batch 1, no padding),
  final layer's hidden state at the last token, mean over probes of (model - base), fp32.
- `hubindex` (default): see DEFAULT_METHOD's comment for how it was chosen and what it scored.

Read-out options (candidates measured by bench/embedding_eval.py):
- layers: hidden-state layers read (negative indices into embeddings-output + blocks); several layers are
  concatenated, each layer's delta scaled to unit norm first so no layer dominates by its activation scale;
- per_probe_norm: every probe's delta is scaled to unit norm before the mean, so a few probes with large shifts do
  not decide the direction alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hubindex.embed.probes import PAPER_PROBES, default_probes
from hubindex.errors import HubindexError


@dataclass(frozen=True)
class EmbeddingMethod:
    name: str
    probes: tuple[str, ...]
    pooling: str  # "last" | "mean"
    batch_size: int
    layers: tuple[int, ...] = (-1,)
    per_probe_norm: bool = False

    def delta(self, model_features: dict[str, torch.Tensor], base_features: dict[str, torch.Tensor]) -> np.ndarray:
        """The model's activation shift from the base, one vector (hidden size x layers read)."""
        shift = (model_features[self.pooling] - base_features[self.pooling]).double()  # [probes, layers+1, hidden]
        parts = []
        for layer in self.layers:
            per_probe = shift[:, layer]
            if self.per_probe_norm:
                per_probe = per_probe / per_probe.norm(dim=1, keepdim=True).clamp_min(1e-12)
            part = per_probe.mean(dim=0)
            if len(self.layers) > 1:
                part = part / part.norm().clamp_min(1e-12)
            parts.append(part)
        return torch.cat(parts).numpy().astype(np.float32)


METHODS: dict[str, EmbeddingMethod] = {
    "paper": EmbeddingMethod("paper", PAPER_PROBES, "last", batch_size=1),
    "hubindex": EmbeddingMethod("hubindex", default_probes(), "last", batch_size=16),
}
DEFAULT_METHOD = "hubindex"


def get_method(name: str) -> EmbeddingMethod:
    try:
        return METHODS[name]
    except KeyError:
        raise HubindexError(f"unknown embedding method {name!r}; choose one of {', '.join(METHODS)}") from None
