"""Task-vector sparsification and combination shared by task arithmetic, TIES, DARE and Breadcrumbs.

The rules are mergekit 0.1.5's (read from its source, re-implemented here):
- magnitude (TIES): keep the `max(1, int(density * n))` largest |entries|; density >= 1 keeps all, <= 0 none;
- outliers (Breadcrumbs): drop the `int(gamma * n)` largest, keep the next `int(density * n)` (fewer outliers
  are dropped when both do not fit); density >= 1 keeps the task vector whole;
- random (DARE): keep each entry with probability `density` (hubindex draws from a seeded generator per tensor
  and input; mergekit from torch's global generator, so only the statistics match below density 1);
- rescale: multiply the survivors so the tensor's L1 norm is unchanged (skipped when either norm is < 1e-7);
- sign consensus (TIES): the elected sign is + where the weighted sum is >= 0, else -; entries that agree are kept;
- normalize divides by the summed weights of the kept entries (consensus) or of all inputs, where that is nonzero.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from hubindex.train.merge.methods import Param, TensorInputs

RESCALE_EPS = 1e-7


def common_params(normalize: bool, rescale: bool) -> tuple[Param, ...]:
    return (Param("int8_mask", bool, "shared", False),  # mask storage only: no effect on the result
            Param("normalize", bool, "shared", normalize),
            Param("rescale", bool, "shared", rescale),
            Param("lambda", float, "shared", 1.0),
            Param("weight", float, "non_base"),
            Param("density", float, "non_base", 1.0))


def rescaled(tau: torch.Tensor, mask: torch.Tensor, rescale: bool) -> torch.Tensor:
    masked = tau * mask
    if not rescale:
        return masked
    before, after = tau.abs().sum(), masked.abs().sum()
    if before < RESCALE_EPS or after < RESCALE_EPS:
        return masked
    return masked * (before / after)


def magnitude(tau: torch.Tensor, density: float, rescale: bool, **_: object) -> torch.Tensor:
    if density >= 1:
        return tau
    if density <= 0 or tau.numel() == 0:
        return torch.zeros_like(tau)
    k = max(1, int(density * tau.numel()))
    mask = torch.zeros(tau.numel(), dtype=tau.dtype)
    mask[tau.abs().flatten().float().topk(k, sorted=False).indices] = 1  # ties at the cut: either may stay
    return rescaled(tau, mask.view_as(tau), rescale)


def outliers(tau: torch.Tensor, density: float, rescale: bool, gamma: float = 0.01, **_: object) -> torch.Tensor:
    if density >= 1:
        return tau
    n = tau.numel()
    keep, top = int(density * n), int(gamma * n)
    bottom = max(0, n - keep - top)  # entries below the kept band, in ascending |entry| order
    mask = torch.zeros(n, dtype=tau.dtype)
    mask[tau.abs().flatten().float().argsort()[bottom : bottom + keep]] = 1
    return rescaled(tau, mask.view_as(tau), rescale)


def dare_mask(shape: torch.Size, density: float, generator: torch.Generator) -> torch.Tensor:
    """DARE's Bernoulli keep-mask: each entry kept with probability `density`."""
    return torch.rand(shape, generator=generator) < density


def random_drop(tau: torch.Tensor, density: float, rescale: bool, generator: torch.Generator,
                inverse_density: bool = False, **_: object) -> torch.Tensor:
    if density >= 1:
        return tau
    work = tau if tau.dtype in (torch.bfloat16, torch.float64) else tau.float()
    mask = dare_mask(tau.shape, density, generator).to(work.dtype)
    if rescale and inverse_density:  # hubindex's dare_rescale: inverse_density (the DARE paper's unbiased rescale)
        return (work * mask / density).to(tau.dtype) if density > 0 else torch.zeros_like(tau)
    return rescaled(work, mask, rescale).to(tau.dtype)


Sparsifier = Callable[..., torch.Tensor]


def task_vector_merge(x: TensorInputs, sparsify: Sparsifier | None, consensus: bool) -> torch.Tensor:
    """base + lambda * combine(weight_i * sparsify(model_i - base)), normalised as mergekit does."""
    base = x.base
    entries = x.non_base()
    if not entries:
        return base
    deltas = []
    for i in entries:
        delta = x.tensors[i] - base
        if sparsify is not None:
            p = x.per_input[i]
            delta = sparsify(delta, density=p["density"], rescale=x.shared["rescale"], gamma=p.get("gamma", 0.0),
                             generator=x.generators[i], inverse_density=x.shared.get("inverse_density", False))
        deltas.append(delta)
    stacked = torch.stack(deltas)
    weights = torch.tensor([x.per_input[i]["weight"] for i in entries], dtype=stacked.dtype)
    weights = weights.view(-1, *([1] * base.dim()))
    stacked = stacked * weights
    if consensus:
        elected = torch.where(stacked.sum(dim=0) >= 0, 1.0, -1.0).to(stacked.dtype)
        agree = (stacked.sign() == elected).to(stacked.dtype)
        mixed = (stacked * agree).sum(dim=0)
        divisor = (weights * agree).sum(dim=0)
        divisor = torch.where(divisor == 0, torch.ones_like(divisor), divisor)
    else:
        mixed = stacked.sum(dim=0)
        divisor = weights.sum(dim=0)
        divisor = torch.where(divisor.abs() < 1e-8, torch.ones_like(divisor), divisor)
    if x.shared["normalize"]:
        mixed = mixed / divisor
    if x.shared["lambda"] != 1:
        mixed = mixed * x.shared["lambda"]
    return (base + mixed).to(base.dtype)
