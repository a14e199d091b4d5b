"""Model Breadcrumbs: mask both the largest outliers (gamma) and the negligible entries, keeping `density`.

breadcrumbs sums the masked task vectors; breadcrumbs_ties adds TIES sign consensus.
"""

from hubindex.train.merge.methods import MergeMethod, TensorMergeInputs
from hubindex.train.merge.methods.sparsify import breadcrumbs_mask, sign_consensus, task_vectors, weighted_sum


def _masked(x: TensorMergeInputs):
    taus = task_vectors(x.base, x.models)
    return [breadcrumbs_mask(t, d, x.gamma) for t, d in zip(taus, x.densities, strict=True)]


def merge_sum(x: TensorMergeInputs):
    return x.base + x.scale * weighted_sum(_masked(x), x.weights, normalize=bool(x.normalize))


def merge_ties(x: TensorMergeInputs):
    return x.base + x.scale * sign_consensus(_masked(x), x.weights, normalize=x.normalize is not False)


METHODS = [MergeMethod("breadcrumbs", merge_sum, needs_base=True, min_models=1),
           MergeMethod("breadcrumbs_ties", merge_ties, needs_base=True, min_models=1)]
