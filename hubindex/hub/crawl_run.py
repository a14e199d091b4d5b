"""A queued hub crawl as a run of the pipeline core (`hubindex crawl --queue`): its request and its one phase.

The `crawl` stage itself (listing, range reads, recording) is in `crawl_jobs.py`, declared here by import path, so
reading a queued crawl back (`hubindex jobs`) or routing its jobs imports neither it nor the torch it needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel

from hubindex.hub.source import CrawlQuery
from hubindex.pipeline.run import IndexReport, Run
from hubindex.pipeline.stage import declare

if TYPE_CHECKING:
    from hubindex.catalog import Catalog

CRAWL = declare("crawl", "cpu", "hubindex.hub.crawl_jobs:CRAWL")


class CrawlRequest(BaseModel):
    """A queued hub crawl: the hub (so workers on other machines use the same one) and the listing's filters."""

    endpoint: str
    query: CrawlQuery = CrawlQuery()


class CrawlRun(Run):
    """A queued crawl: one `crawl` phase, then bases from the weights (no probes), lineage and spaces."""

    KIND: ClassVar[str] = "crawl"

    kind: Literal["crawl"] = "crawl"
    request: CrawlRequest

    @classmethod
    def new(cls, run_id: str, db: Path, request: CrawlRequest) -> CrawlRun:
        return cls(id=run_id, db=str(db), paths=[request.endpoint], request=request,
                   report=IndexReport.empty(str(db)))

    def phases(self) -> list[str]:
        return ["crawl"]

    def finish(self, catalog: Catalog) -> None:
        from hubindex.hub.stages import finish_stage  # families and lineage: the indexer's stages (torch)

        self.report.lineage_families, self.report.spaces = finish_stage(catalog)
