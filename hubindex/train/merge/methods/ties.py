"""TIES: trim each task vector to its top-`density` magnitudes, elect a sign per entry, average agreeing entries.

With density unset nothing is trimmed (mergekit's behaviour). normalize (default on) divides by the weights of the
agreeing models only.
"""

from hubindex.train.merge.methods import MergeMethod, TensorMergeInputs
from hubindex.train.merge.methods.sparsify import keep_top_magnitude, sign_consensus, task_vectors


def merge(x: TensorMergeInputs):
    taus = [keep_top_magnitude(t, d) for t, d in zip(task_vectors(x.base, x.models), x.densities, strict=True)]
    return x.base + x.scale * sign_consensus(taus, x.weights, normalize=x.normalize is not False)


METHOD = MergeMethod("ties", merge, needs_base=True, min_models=1)
