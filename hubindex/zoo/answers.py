"""The JSON answers of `hubindex zoo` (`--json`): a build's zoo.json and the generated text domains."""

from __future__ import annotations

from pydantic import BaseModel, Field, RootModel


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
