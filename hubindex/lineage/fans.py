"""Is a fan's parent the parent of the others beside it? (pure numpy; read by parents.sibling_residual)

The sibling test (evidence.inherited_noise) projects out the steps of the grandparent Q's other same-domain children
to find what the model inherits from its candidate parent P. When P's own first children were decided as Q's (the
tail rule can do that), they hold P's whole step, noise included, and projecting them out removes exactly what a
true child inherits: every later child of P then passes for P's sibling (bench seed 10: 49 children of two fans).
"""

from __future__ import annotations

import numpy as np

# Share of the parent's step left outside the span of the steps from it to the model and to the others it could
# have parented, below which those others are taken for its own children. Bench (noise 0.8, own-noise share of a
# step ~0.62): 0.61-0.75 where they were the parent's children, 0.72-1.0 (mostly above 0.78) where they were its
# siblings; s109-real's sweeps 0.76-0.79. A thin margin, fitted on those seeds.
OWN_NOISE_SHARE = 0.75


def runs_from_parent(own: np.ndarray, from_parent: np.ndarray) -> bool:
    """Are the rows of `from_parent` (steps from the candidate parent P to the model and to others P could have
    parented) runs trained from P? `own` is P's step from its parent Q. Children of P: their steps from P are runs of
    a domain with their own noise, so their span holds the domain's direction, and about P's own noise share of
    P's step (0.62 on the bench) stays outside it. Siblings of P (longer same-domain runs from Q, a sweep): each step
    from P carries P's noise with the opposite sign (X - P = common' + e_X - e_P), which turns the span away from
    P's step, and more of it stays outside (0.76-1.0 seen)."""
    basis, _ = np.linalg.qr(np.asarray(from_parent, dtype=np.float64).T)
    outside = own - basis @ (basis.T @ own)
    return bool(np.linalg.norm(outside) < OWN_NOISE_SHARE * np.linalg.norm(own))


def capped_from_parent(tails: np.ndarray) -> bool:
    """Are the runs whose step tails (evidence.increment_tail) from the candidate parent P and from P's parent Q are
    the rows of `tails` [k, 2] runs trained from P? A child of P is one capped run from P and the sum of two from Q
    (shorter tail from P); a sibling of P is one capped run from Q and the difference of two from P (shorter tail
    from Q). True when more than half of them have the shorter tail from P. A second reading beside
    runs_from_parent for parents.sweep_sibling, which lets the later runs witness only where not both call them P's.
    """
    return bool(np.mean(tails[:, 0] < tails[:, 1]) > 0.5)
