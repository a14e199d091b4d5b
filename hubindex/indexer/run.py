"""An indexing run (`hubindex index`): the pipeline core's Run with indexing's phases.

Phases: fingerprint (changed folders) -> bases (families; adapters with several possible bases are scored by probe
loss) -> embed:<i> (Delta Activations missing or stale, one method after the other) -> lineage and FAISS rebuild
-> finished. The stages themselves are in `stages.py`, declared here by import path: importing this module (to read
a queued run back, or to route its jobs) does not import them, nor the torch and transformers they need.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from hubindex.catalog import Catalog
from hubindex.pipeline.run import IndexReport, Run
from hubindex.pipeline.stage import declare

STAGES = (declare("fingerprint", "cpu", "hubindex.indexer.stages:FINGERPRINT"),
          declare("bases", "gpu", "hubindex.indexer.stages:BASES"),
          declare("embed", "gpu", "hubindex.indexer.stages:EMBED"))


class IndexRun(Run):
    KIND: ClassVar[str] = "index"

    kind: Literal["index"] = "index"
    methods: list[str]
    embed: bool = True
    prune: bool = False
    sources: dict[str, list[str]] = Field(default_factory=dict)  # ids found per root (for --prune)

    @classmethod
    def new(cls, run_id: str, db: Path, paths: list[Path], methods: list[str], embed: bool = True,
            prune: bool = False) -> IndexRun:
        return cls(id=run_id, db=str(db), paths=[str(p) for p in paths], methods=methods, embed=embed, prune=prune,
                   report=IndexReport.empty(str(db)))

    def phases(self) -> list[str]:
        embeds = [f"embed:{i}" for i in range(len(self.methods))] if self.embed else []
        return ["fingerprint", "bases", *embeds]

    def finish(self, catalog: Catalog) -> None:
        from hubindex.indexer.stages import finish  # the lineage engine, with the stages (see the docstring)

        self.report.lineage_families, self.report.spaces = finish(catalog)
