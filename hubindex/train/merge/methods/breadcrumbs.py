"""Model Breadcrumbs: per task vector, drop the `gamma` fraction of largest outliers and keep the next `density`
fraction (density defaults to 1.0: the task vector is kept whole). breadcrumbs sums the masked task vectors;
breadcrumbs_ties adds TIES sign consensus. normalize and rescale are off by default for both."""

from hubindex.train.merge.methods import MergeMethod, Param, TensorInputs
from hubindex.train.merge.methods.sparsify import common_params, outliers, task_vector_merge

PARAMS = (*common_params(normalize=False, rescale=False), Param("gamma", float, "non_base", 0.01))


def merge_sum(x: TensorInputs):
    return task_vector_merge(x, outliers, consensus=False)


def merge_ties(x: TensorInputs):
    return task_vector_merge(x, outliers, consensus=True)


METHODS = [MergeMethod("breadcrumbs", merge_sum, PARAMS), MergeMethod("breadcrumbs_ties", merge_ties, PARAMS)]
