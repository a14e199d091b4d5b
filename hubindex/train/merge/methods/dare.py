"""DARE: drop task-vector entries at random (keep probability `density`); `rescale` (on by default) scales the
survivors so each tensor keeps its L1 norm. dare_ties adds TIES sign consensus, dare_linear sums.
normalize is off by default for both. The drops come from the recipe's `seed` (a hubindex key mergekit ignores)."""

from hubindex.train.merge.methods import MergeMethod, TensorInputs
from hubindex.train.merge.methods.sparsify import common_params, random_drop, task_vector_merge


def merge_ties(x: TensorInputs):
    return task_vector_merge(x, random_drop, consensus=True)


def merge_linear(x: TensorInputs):
    return task_vector_merge(x, random_drop, consensus=False)


METHODS = [MergeMethod("dare_ties", merge_ties, common_params(normalize=False, rescale=True)),
           MergeMethod("dare_linear", merge_linear, common_params(normalize=False, rescale=True))]
