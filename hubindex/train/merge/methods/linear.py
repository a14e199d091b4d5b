"""Linear: a weighted average of the models' weights (normalised by the weight sum unless normalize: false)."""

from hubindex.train.merge.methods import MergeMethod, TensorMergeInputs
from hubindex.train.merge.methods.sparsify import weighted_sum


def merge(x: TensorMergeInputs):
    return weighted_sum(x.models, x.weights, normalize=x.normalize is not False)


METHOD = MergeMethod("linear", merge, needs_base=False, min_models=2)
