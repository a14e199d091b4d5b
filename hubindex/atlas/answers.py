"""Typed atlas answers (schemas/atlas_forest, schemas/atlas_map): compact, so a 10,000-model catalog is one
request of a few MB rather than 10,000 lineage queries."""

from __future__ import annotations

from pydantic import BaseModel, Field

from hubindex.status import ModelKind, ModelStatus, Relation


class ForestNode(BaseModel):
    model: str
    family: str | None
    kind: ModelKind | None
    status: ModelStatus
    relation: Relation | None = Field(description="null when the model has no lineage (not indexed, or failed)")
    parents: list[str]
    confidence: float | None
    tags: list[str]
    delta_methods: list[str] = Field(description="Delta Activations methods in which the model has a delta to "
                                     "compare (similar --by delta and the map work)")


class FamilySummary(BaseModel):
    root: str
    size: int = Field(description="models in the family, the root included")
    embedded: dict[str, int] = Field(description="per Delta Activations method: models with a delta to map")


class AtlasForest(BaseModel):
    """Every model with its parents and relation, and the families (largest first)."""

    families: list[FamilySummary]
    nodes: list[ForestNode]


class MapPoint(BaseModel):
    model: str
    x: float
    y: float
    cluster: int = Field(description="k-means cluster of the unit deltas, 0..clusters-1")
    tag: str | None = Field(description="the model's most specific declared tag within the family, if any")
    kind: ModelKind | None


class AtlasMap(BaseModel):
    """A family's Delta Activations projected to 2-D by PCA (of unit deltas, so distance follows cosine)."""

    family: str
    method: str
    clusters: int
    explained_variance: list[float] = Field(description="share of the variance on x and on y")
    points: list[MapPoint]
