"""Delta Activations recipes, by name. One recipe per space: embeddings of different recipes never mix.

- `paper`: the published recipe exactly: 5 Alpaca templates, each run alone (batch 1, no padding), final layer's
  hidden state at the last token, mean over probes of (model - base), fp32.
- `hubindex` (default): same read-out on 40 varied probes (8 templated instructions + 32 neutral passages),
  batched. Measured on the small reference zoo (seed 0, 3 families, 72 single-domain finetunes): domain top-1
  0.889 -> 0.972, silhouette 0.477 -> 0.655 against `paper`. Several layers, mean pooling, per-family whitening and
  per-probe normalisation were tried and scored lower (README, "Delta Activations").
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

    def delta(self, model_features: dict[str, torch.Tensor], base_features: dict[str, torch.Tensor]) -> np.ndarray:
        """Mean over probes of the final layer's shift: one vector of hidden size."""
        shift = model_features[self.pooling][:, -1] - base_features[self.pooling][:, -1]
        return shift.mean(dim=0).numpy().astype(np.float32)


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
