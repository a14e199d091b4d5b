"""TIES: trim each task vector to its top `int(density * n)` magnitudes, elect a sign per entry, combine the
entries that agree; normalize (on by default) divides by the weights of the agreeing models only.
With density unset (1.0) nothing is trimmed."""

from hubindex.train.merge.methods import MergeMethod, TensorInputs
from hubindex.train.merge.methods.sparsify import common_params, magnitude, task_vector_merge


def merge(x: TensorInputs):
    return task_vector_merge(x, magnitude, consensus=True)


METHOD = MergeMethod("ties", merge, common_params(normalize=True, rescale=False))
