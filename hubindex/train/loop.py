"""The one training loop every trainer uses: AdamW, warmup then cosine decay, rich progress, CPU or CUDA."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


@dataclass(frozen=True)
class LoopResult:
    steps: int
    first_loss: float
    final_loss: float


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def train(model: torch.nn.Module, blocks: torch.Tensor, steps: int, lr: float, batch: int, seed: int,
          label: str, quiet: bool = False) -> LoopResult:
    """Train on random batches of packed blocks; the batch order depends only on `seed`."""
    dev = device()
    model.to(dev).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    warmup = max(1, steps // 10)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    generator = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]:.3f}"), TimeRemainingColumn())
    with Progress(*columns, transient=True, disable=quiet) as progress:
        task = progress.add_task(label, total=steps, loss=float("nan"))
        for _ in range(steps):
            rows = torch.randint(0, blocks.shape[0], (min(batch, blocks.shape[0]),), generator=generator)
            inputs = blocks[rows].to(dev)
            loss = model(input_ids=inputs, labels=inputs).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            progress.update(task, advance=1, loss=losses[-1])
    model.eval()
    return LoopResult(steps=steps, first_loss=losses[0], final_loss=sum(losses[-5:]) / len(losses[-5:]))
