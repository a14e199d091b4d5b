"""SLERP: spherical interpolation between two models at t (0 gives the first, 1 the second).

Falls back to linear interpolation when the two tensors are nearly parallel, where the sphere is ill-conditioned.
"""

import torch

from hubindex.train.merge.methods import MergeMethod, TensorMergeInputs

PARALLEL = 0.9995


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    na, nb = a.norm(), b.norm()
    if na == 0 or nb == 0:
        return (1 - t) * a + t * b
    dot = torch.dot((a / na).flatten(), (b / nb).flatten()).clamp(-1.0, 1.0)
    if dot.abs() > PARALLEL:
        return (1 - t) * a + t * b
    theta = torch.arccos(dot)
    return (torch.sin((1 - t) * theta) * a + torch.sin(t * theta) * b) / torch.sin(theta)


def merge(x: TensorMergeInputs):
    return slerp(x.models[0], x.models[1], x.t)


METHOD = MergeMethod("slerp", merge, needs_base=False, min_models=2, max_models=2)
