"""The JSON answers of `hubindex train` (`--json`): what a training or merge run wrote."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TrainedModel(BaseModel):
    """`hubindex train pretrain|finetune --json`: the folder written and how training went."""

    out: str
    kind: str = Field(description="pretrain, or the finetune's kind: full | lora | lora_merged")
    parameters: int = Field(description="trainable parameters (all of them for pretrain and full finetunes)")
    steps: int
    first_loss: float
    final_loss: float = Field(description="mean loss of the last five steps")


class MergedModel(BaseModel):
    """`hubindex train merge --json`: the folder written and what went into it."""

    out: str
    method: str
    inputs: list[str] = Field(description="the recipe's models (and base), as the card names them")
    tensors: int
