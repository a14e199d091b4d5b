"""Linear: sum(weight_i * model_i), divided by the weight sum unless `normalize: false`. Computed in fp32 (fp64
for fp64 inputs) and returned in the compute dtype. A base_model is one more input with its own weight."""

import torch

from hubindex.errors import MergeError
from hubindex.train.merge.methods import MergeMethod, Param, TensorInputs


def merge(x: TensorInputs):
    first = x.tensors[0]
    work = torch.float64 if first.dtype == torch.float64 else torch.float32
    weights = [p["weight"] for p in x.per_input]
    total = torch.zeros_like(first, dtype=work)
    for tensor, weight in zip(x.tensors, weights, strict=True):
        total += weight * tensor.to(work)
    if x.shared["normalize"]:
        if sum(weights) == 0:
            raise MergeError(f"{x.name}: linear weights sum to 0 with normalize on (set normalize: false)")
        total /= sum(weights)
    return total.to(first.dtype)


METHOD = MergeMethod("linear", merge, (Param("weight", float, "input"), Param("normalize", bool, "shared", True)),
                     needs_base=False)
