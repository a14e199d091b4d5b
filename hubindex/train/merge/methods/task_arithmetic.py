"""Task arithmetic: base + lambda * sum(weight_i * (model_i - base)); normalize (off by default) divides by the
weight sum. Weight 0 returns the base exactly."""

from hubindex.train.merge.methods import MergeMethod, TensorInputs
from hubindex.train.merge.methods.sparsify import common_params, task_vector_merge


def merge(x: TensorInputs):
    return task_vector_merge(x, None, consensus=False)


METHOD = MergeMethod("task_arithmetic", merge, common_params(normalize=False, rescale=False))
