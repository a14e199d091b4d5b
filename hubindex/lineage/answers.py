"""Typed lineage answers: what `hubindex lineage|parents` print with --json (schemas/)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from hubindex.status import Relation


class ParentCandidate(BaseModel):
    model: str
    score: float = Field(description="0..1, higher is a likelier parent")
    distance: float | None = Field(description="estimated L2 distance of the weights")
    allowed: bool = Field(description="passes the direction tests (beyond it from the root, created before)")
    evidence: dict


class LineageEntry(BaseModel):
    model: str
    parents: list[str]
    relation: Relation
    confidence: float = Field(ge=0, le=1)
    evidence: dict
    family: str | None = None


class LineageNode(BaseModel):
    """A model with its relation to the node above it, and the nodes below (descendants) or above (ancestors)."""

    model: str
    relation: Relation
    confidence: float
    children: list[LineageNode] = Field(default_factory=list)


class LineageTree(BaseModel):
    """`hubindex lineage MODEL --json`: the chain of ancestors up to the root and the tree of descendants."""

    model: str
    ancestors: list[LineageEntry] = Field(description="parent first, then its parents, up to the root")
    descendants: LineageNode
