"""Per-tensor statistics estimated from some of a tensor's values (its sampled block), for signatures built from
range reads.

The L2 norm is the values' norm scaled by sqrt(numel / values) (the same scaling that makes sampled distances
estimate full distances); mean, std and kurtosis are the samples' moments; absmax is the samples' maximum, a lower
bound; non-finite values are counted among the samples only. Signatures built this way say so in their `meta`
(`stats_estimated`), since a full read gives exact norms and absmax.
"""

from __future__ import annotations

import math

import numpy as np

from hubindex.fingerprint.stats import TensorStats

ESTIMATED_FIELDS = ("l2", "mean", "std", "absmax", "kurtosis", "nonfinite")


def estimated_stats(name: str, dtype: str, shape: tuple[int, ...], samples: np.ndarray) -> TensorStats:
    """Statistics of a tensor from any of its values (`samples`: a block read, or sampled coordinates)."""
    numel = math.prod(shape)
    values = samples.astype(np.float64)
    if not len(values):
        return TensorStats(name, dtype, list(shape), numel, 0.0, 0.0, 0.0, 0.0, 0.0, 0)
    nonfinite = int((~np.isfinite(values)).sum())
    if nonfinite:
        return TensorStats(name, dtype, list(shape), numel, math.nan, math.nan, math.nan, math.nan, math.nan,
                           nonfinite)
    scale = math.sqrt(numel / len(values))
    mean = float(values.mean())
    squared = (values - mean) ** 2
    m2 = float(squared.mean())
    kurtosis = float((squared**2).mean()) / (m2 * m2) if m2 > 0 else 0.0
    return TensorStats(name, dtype, list(shape), numel, float(np.linalg.norm(values)) * scale, mean, math.sqrt(m2),
                       float(np.abs(values).max()), kurtosis, 0)
