"""The JSON answers of CLI commands that print a result no library model describes (`--json`); exported to
schemas/ by `python -m hubindex.schemas` with the rest."""

from __future__ import annotations

from pydantic import BaseModel, Field, RootModel


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


class ZooBuilt(BaseModel):
    """`hubindex zoo build --json`: the zoo.json the build wrote, and where."""

    directory: str
    seed: int
    size: str
    profile: str
    clock: str
    domains: list[str] | None
    families: int | None
    strip_metadata: bool
    models: int
    built_models: int = Field(description="models trained by this run (0: the zoo was complete already)")
    build_seconds: float
    hubindex_version: str


class Domain(BaseModel):
    name: str
    sample: str = Field(description="the start of one generated document (seed 0)")


class DomainsAnswer(RootModel[list[Domain]]):
    """`hubindex zoo domains --json`: the generated text domains."""


class Reindexed(BaseModel):
    """`hubindex reindex --json`: the FAISS spaces rebuilt from the catalog tables."""

    db: str
    spaces_dir: str
    spaces: dict[str, int] = Field(description="space name -> vectors")
    vectors: int
