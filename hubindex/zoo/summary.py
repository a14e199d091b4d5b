"""What `hubindex zoo show` answers: the zoo's families as trees, with counts and sizes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from hubindex.errors import HubindexError
from hubindex.ids import model_path
from hubindex.zoo.build import ZOO_FILE
from hubindex.zoo.spec import KINDS
from hubindex.zoo.truth import load_truth


class TreeNode(BaseModel):
    model: str
    relation: str
    domain: str | None
    method: str
    parents: list[str]
    bytes: int
    children: list[TreeNode]


class FamilySummary(BaseModel):
    family: str
    arch: str
    root: str
    models: int
    bytes: int
    tree: TreeNode


class ZooSummary(BaseModel):
    path: str
    seed: int | None
    size: str | None
    strip_metadata: bool | None
    models: int
    bytes: int
    relations: dict[str, int]
    build_seconds: float | None
    families: list[FamilySummary]


Kind = Literal[tuple(KINDS)]  # the closed vocabulary of hubindex.zoo.spec, as an enum in the schema


class TruthEntry(BaseModel):
    """One model in truth.json (the file maps model id to this)."""

    parents: list[str]
    relation: str
    domain: str | None
    family: str
    arch: str
    method: str
    created_at: str = Field(description="the real upload time (whatever clock the zoo's files show)")
    kind: Kind | None = Field(default=None, description="which phenomenon the model is (hubindex.zoo.spec.KINDS); "
                             "absent in zoos built before kinds existed")
    merge: dict | None = None


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def summarize(root: Path) -> ZooSummary:
    root = Path(root)
    truth = load_truth(root)
    meta = json.loads((root / ZOO_FILE).read_text()) if (root / ZOO_FILE).exists() else {}
    if meta.get("complete") is False:
        raise HubindexError(f"{root}: zoo build did not finish; run `hubindex zoo build` again to resume")
    sizes = {m: _folder_bytes(model_path(root, m)) for m in truth}
    children: dict[str, list[str]] = {}
    for model, entry in truth.items():
        if entry["parents"]:
            children.setdefault(entry["parents"][0], []).append(model)  # a merge hangs under its first source

    def node(model: str) -> TreeNode:
        e = truth[model]
        return TreeNode(model=model, relation=e["relation"], domain=e.get("domain"), method=e.get("method", ""),
                        parents=e["parents"], bytes=sizes[model],
                        children=[node(c) for c in children.get(model, [])])

    families = []
    for model, entry in truth.items():
        if entry["relation"] == "root":
            members = [m for m, e in truth.items() if e["family"] == entry["family"]]
            families.append(FamilySummary(family=entry["family"], arch=entry.get("arch", ""), root=model,
                                          models=len(members), bytes=sum(sizes[m] for m in members),
                                          tree=node(model)))
    relations: dict[str, int] = {}
    for entry in truth.values():
        relations[entry["relation"]] = relations.get(entry["relation"], 0) + 1
    return ZooSummary(path=str(root), seed=meta.get("seed"), size=meta.get("size"),
                      strip_metadata=meta.get("strip_metadata"), models=len(truth), bytes=sum(sizes.values()),
                      relations=relations, build_seconds=meta.get("build_seconds"), families=families)
