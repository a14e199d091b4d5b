"""Task-vector sparsification and combination shared by TIES, DARE and Breadcrumbs."""

from __future__ import annotations

import torch


def task_vectors(base: torch.Tensor, models: list[torch.Tensor]) -> list[torch.Tensor]:
    return [m - base for m in models]


def keep_top_magnitude(tau: torch.Tensor, density: float | None) -> torch.Tensor:
    """TIES trim: keep the `density` fraction of entries largest in magnitude. None or 1 keeps all (as mergekit)."""
    if density is None or density >= 1.0 or tau.numel() == 0:
        return tau
    k = max(1, round(density * tau.numel()))
    flat = tau.flatten()
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask[flat.abs().topk(k).indices] = True
    return (flat * mask).view_as(tau)


def dare_mask(shape: torch.Size, density: float, generator: torch.Generator) -> torch.Tensor:
    """DARE's Bernoulli keep-mask: each entry kept with probability `density`."""
    return torch.rand(shape, generator=generator) < density


def drop_and_rescale(tau: torch.Tensor, density: float | None, generator: torch.Generator) -> torch.Tensor:
    """DARE: drop entries at random and rescale survivors by 1/density, so the expected delta is unchanged."""
    if density is None or density >= 1.0:
        return tau
    return tau * dare_mask(tau.shape, density, generator) / density


def breadcrumbs_mask(tau: torch.Tensor, density: float | None, gamma: float) -> torch.Tensor:
    """Model Breadcrumbs: drop the `gamma` fraction of largest outliers and keep the next `density` fraction."""
    n = tau.numel()
    density = 0.9 if density is None else density
    n_top = round(gamma * n)
    n_keep = max(1, round(density * n))
    order = tau.flatten().abs().argsort(descending=True)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[order[n_top : n_top + n_keep]] = True
    return (tau.flatten() * mask).view_as(tau)


def weighted_sum(taus: list[torch.Tensor], weights: list[float], normalize: bool) -> torch.Tensor:
    total = sum(w * t for w, t in zip(weights, taus, strict=True))
    if normalize and sum(weights) != 0:
        total = total / sum(weights)
    return total


def sign_consensus(taus: list[torch.Tensor], weights: list[float], normalize: bool) -> torch.Tensor:
    """TIES: elect each entry's sign by the weighted sum, then average only the entries that agree with it."""
    weighted = torch.stack([w * t for w, t in zip(weights, taus, strict=True)])
    elected = torch.sign(weighted.sum(dim=0))
    agree = (torch.sign(weighted) == elected) & (weighted != 0)
    merged = (weighted * agree).sum(dim=0)
    if not normalize:
        return merged
    w = torch.tensor(weights, dtype=weighted.dtype).view(-1, *([1] * (weighted.ndim - 1)))
    divisor = (w * agree).sum(dim=0)
    return torch.where(divisor != 0, merged / divisor.where(divisor != 0, torch.ones_like(divisor)), 0.0)
