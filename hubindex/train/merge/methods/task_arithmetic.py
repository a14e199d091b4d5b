"""Task arithmetic: base + lambda * sum(w_i * (model_i - base)). Weight 0 returns the base exactly."""

from hubindex.train.merge.methods import MergeMethod, TensorMergeInputs
from hubindex.train.merge.methods.sparsify import task_vectors, weighted_sum


def merge(x: TensorMergeInputs):
    delta = weighted_sum(task_vectors(x.base, x.models), x.weights, normalize=bool(x.normalize))
    return x.base + x.scale * delta


METHOD = MergeMethod("task_arithmetic", merge, needs_base=True, min_models=1)
