"""SLERP: spherical interpolation from the base (t = 0) to the other model (t = 1), over the whole tensor.

mergekit's meaning: exactly two inputs, one of them `base_model` (listed under models or not); t is required.
Nearly parallel tensors (|cos| > 0.9995) interpolate linearly; zero-norm tensors count as unit-norm for the angle.
Computed in fp32 (fp64 for fp64 inputs).
"""

import torch

from hubindex.train.merge.methods import MergeMethod, Param, TensorInputs

PARALLEL = 0.9995
EPS = 1e-8


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    work = torch.float64 if a.dtype == torch.float64 else torch.float32
    x, y = a.to(work).flatten(), b.to(work).flatten()
    if x.numel() == 0:
        return a
    na, nb = x.norm(), y.norm()
    na = na if na > EPS else torch.ones_like(na)
    nb = nb if nb > EPS else torch.ones_like(nb)
    dot = ((x / na) * (y / nb)).sum().clamp(-1, 1)
    if dot.abs() > PARALLEL:
        ca, cb = 1 - t, t
    else:
        theta = torch.acos(dot)
        ca, cb = torch.sin((1 - t) * theta) / torch.sin(theta), torch.sin(t * theta) / torch.sin(theta)
    return (ca * x + cb * y).view(a.shape).to(a.dtype)


def merge(x: TensorInputs):
    other = x.non_base()[0]
    return slerp(x.base, x.tensors[other], x.shared["t"])


METHOD = MergeMethod("slerp", merge, (Param("t", float, "shared"),), min_inputs=2, max_inputs=2)
