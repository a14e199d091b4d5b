"""A model's stored weight samples as vectors, and the distances between them.

Raw values (as stored, for exact comparisons) and scaled values (each tensor's samples times sqrt(numel / samples),
so L2 distances estimate full weight distances), concatenated in tensor-name order: models of one layout line up.
"""

from __future__ import annotations

import numpy as np

from hubindex.catalog.store import Catalog
from hubindex.errors import NotFoundError


def sample_vectors(catalog: Catalog, model_id: str) -> tuple[np.ndarray, np.ndarray]:
    # Importing fingerprint/ loads the checkpoint reader and torch: only comparisons by weights pay for it.
    from hubindex.fingerprint.sampling import tensor_sample
    from hubindex.fingerprint.signature import split_samples

    sig = catalog.signature(model_id)
    if sig is None:  # a failed or metadata-only row: nothing to compare, said plainly rather than a TypeError
        raise NotFoundError(f"model {model_id!r} has no weight signature in the catalog")
    segments = split_samples(sig.samples, sig.shapes)
    names = sorted(segments)
    raw = np.concatenate([segments[n] for n in names])
    scales = np.concatenate([np.full(len(segments[n]), tensor_sample(n, sig.shapes[n]).scale) for n in names])
    return raw, raw.astype(np.float64) * scales


def pairwise_distances(scaled: np.ndarray) -> np.ndarray:
    """L2 distances between rows, from the Gram matrix (one matrix product, no pairwise loop)."""
    squares = np.einsum("ij,ij->i", scaled, scaled)
    gram = scaled @ scaled.T
    return np.sqrt(np.maximum(squares[:, None] + squares[None, :] - 2 * gram, 0.0))
