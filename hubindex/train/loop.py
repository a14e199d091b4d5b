"""The one training loop every trainer uses: AdamW or SGD, a schedule, clipping, a progress callback, CPU or CUDA."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from hubindex.errors import TrainingError
from hubindex.progress import ProgressCallback

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "linear", "constant")


@dataclass(frozen=True)
class LoopResult:
    steps: int
    first_loss: float
    final_loss: float


@dataclass(frozen=True)
class Recipe:
    """How the optimizer steps. The defaults are hubindex's reference recipe (every reference zoo uses it):
    AdamW without weight decay, 10 % linear warmup, cosine decay to 10 % of lr, gradient norm clipped at 1."""

    optimizer: str = "adamw"
    weight_decay: float = 0.0
    momentum: float = 0.0  # SGD only
    schedule: str = "cosine"  # after warmup: cosine to 10 %, linear to 0, or constant
    warmup: float = 0.1  # fraction of the steps
    clip: float | None = 1.0  # max gradient norm; None: no clipping

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS or self.schedule not in SCHEDULES:
            raise TrainingError(f"optimizer must be one of {OPTIMIZERS} and schedule one of {SCHEDULES}; "
                                f"got {self.optimizer!r}, {self.schedule!r}")

    @classmethod
    def from_params(cls, params: dict) -> Recipe:
        """The recipe named by a zoo spec's params (keys absent there keep the defaults)."""
        keys = ("optimizer", "weight_decay", "momentum", "schedule", "warmup", "clip")
        return cls(**{k: params[k] for k in keys if k in params})


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def _optimizer(params: list[torch.nn.Parameter], lr: float, recipe: Recipe) -> torch.optim.Optimizer:
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=recipe.weight_decay)


def _schedule(steps: int, recipe: Recipe):
    # The epsilon makes 0.1 * steps round like steps // 10, so reference zoos stay bit-identical.
    warmup = max(1, int(steps * recipe.warmup + 1e-9)) if recipe.warmup > 0 else 0

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        if recipe.schedule == "cosine":
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
        if recipe.schedule == "linear":
            return max(0.0, 1.0 - progress)
        return 1.0

    return factor


def train(model: torch.nn.Module, blocks: torch.Tensor, steps: int, lr: float, batch: int, seed: int,
          label: str, quiet: bool = False, recipe: Recipe | None = None,
          progress: ProgressCallback | None = None) -> LoopResult:
    """Train on random batches of packed blocks; the batch order depends only on `seed`. `progress` hears
    `(label, steps done, steps)` after each step (not when `quiet`)."""
    recipe = recipe or Recipe()
    dev = device()
    model.to(dev).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = _optimizer(params, lr, recipe)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(steps, recipe))
    generator = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    report_progress = (lambda stage, done, total: None) if quiet or progress is None else progress
    report_progress(label, 0, steps)
    for step in range(steps):
        rows = torch.randint(0, blocks.shape[0], (min(batch, blocks.shape[0]),), generator=generator)
        inputs = blocks[rows].to(dev)
        loss = model(input_ids=inputs, labels=inputs).loss
        loss.backward()
        if recipe.clip is not None:
            torch.nn.utils.clip_grad_norm_(params, recipe.clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        report_progress(label, step + 1, steps)
    if not math.isfinite(losses[-1]):
        raise TrainingError(f"{label}: training diverged (loss {losses[-1]}); lower the learning rate")
    model.eval()
    return LoopResult(steps=steps, first_loss=losses[0], final_loss=sum(losses[-5:]) / len(losses[-5:]))
