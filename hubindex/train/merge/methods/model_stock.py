"""Model Stock: move from the base towards the average of the finetunes by t = N cos / (1 + (N - 1) cos),
with cos the mean pairwise cosine of the task vectors (computed per tensor)."""

import itertools

import torch

from hubindex.train.merge.methods import MergeMethod, TensorMergeInputs
from hubindex.train.merge.methods.sparsify import task_vectors


def merge(x: TensorMergeInputs):
    taus = [t.flatten() for t in task_vectors(x.base, x.models)]
    cosines = [torch.nn.functional.cosine_similarity(a, b, dim=0) for a, b in itertools.combinations(taus, 2)]
    cos = torch.stack(cosines).mean().clamp(min=0.0)
    n = len(taus)
    t = n * cos / (1 + (n - 1) * cos)
    average = torch.stack(x.models).mean(dim=0)
    return t * average + (1 - t) * x.base


METHOD = MergeMethod("model_stock", merge, needs_base=True, min_models=2)
