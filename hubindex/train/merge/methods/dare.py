"""DARE: drop task-vector entries at random with probability 1 - density and rescale the rest by 1/density.

dare_ties then combines with TIES sign consensus; dare_linear with a plain weighted sum.
"""

from hubindex.train.merge.methods import MergeMethod, TensorMergeInputs
from hubindex.train.merge.methods.sparsify import drop_and_rescale, sign_consensus, task_vectors, weighted_sum


def _dropped(x: TensorMergeInputs):
    taus = task_vectors(x.base, x.models)
    return [drop_and_rescale(t, d, g) for t, d, g in zip(taus, x.densities, x.generators, strict=True)]


def merge_ties(x: TensorMergeInputs):
    return x.base + x.scale * sign_consensus(_dropped(x), x.weights, normalize=x.normalize is not False)


def merge_linear(x: TensorMergeInputs):
    return x.base + x.scale * weighted_sum(_dropped(x), x.weights, normalize=bool(x.normalize))


METHODS = [MergeMethod("dare_ties", merge_ties, needs_base=True, min_models=1),
           MergeMethod("dare_linear", merge_linear, needs_base=True, min_models=1)]
