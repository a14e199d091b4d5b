"""Small dense linear systems (k x k, k up to a few dozen) that the lineage engine solves thousands of times per
family: merge weights, least-squares fits on a few task vectors."""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack


def solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.linalg.solve of one float64 system (b a vector or [k, m]) through LAPACK's dgesv called directly: the same
    LU factorisation with partial pivoting that np.linalg.solve runs, without its wrapper, which costs about ten
    times the solve itself at this size (bit-identical with numpy 2.4's and scipy 1.17's OpenBLAS, 20,000 random
    systems). Raises np.linalg.LinAlgError where the matrix is singular, as np.linalg.solve does."""
    _, _, x, info = lapack.dgesv(a, b)
    if info > 0:
        raise np.linalg.LinAlgError("Singular matrix")
    if info < 0:
        raise ValueError(f"dgesv: argument {-info} is invalid")
    return x


def least_squares(rows: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Weights w minimising |target - w @ rows| for a few independent rows [k, d] (`target` [d], or [m, d] for m
    fits at once: w [m, k]), from the normal equations (one k x k solve): the same solution as np.linalg.lstsq,
    whose SVD of the [d, k] matrix cost several times more, up to rounding in the last bits. Dependent rows (never
    two originals with one task vector) fall back to lstsq's minimum-norm solution."""
    try:
        return solve(rows @ rows.T, rows @ target.T).T
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(rows.T, target.T, rcond=None)[0].T
