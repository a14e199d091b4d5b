"""Typed merge-candidate answers: what `hubindex merge-candidates --json` and the API print (schemas/)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MergeCandidate(BaseModel):
    model: str
    score: float = Field(description="expected merge benefit, 0..1: complementarity x (1 - redundancy) x "
                                     "(1 - excess sign conflict)")
    complementarity: float = Field(description="(1 - cosine of Delta Activations) / 2: different domains score high")
    delta_cosine: float | None = Field(description="cosine of the two Delta Activations (None: no delta)")
    task_cosine: float = Field(description="cosine of the task vectors (weights minus the shared base)")
    sign_conflict: float = Field(description="share of coordinates kept by both after TIES trimming whose signs "
                                             "differ (independent task vectors: about 0.5)")
    reasons: list[str]


class MergeCandidates(BaseModel):
    """`hubindex merge-candidates MODEL --json`: models sharing MODEL's base, best merge partner first."""

    model: str
    base: str = Field(description="the shared base (family root) the task vectors are taken against")
    method: str = Field(description="Delta Activations recipe used for complementarity")
    candidates: list[MergeCandidate]
    excluded: dict[str, str] = Field(description="family members left out, with the reason")
