"""Measure the bases stage's facts of an indexed catalog's adapters again, without indexing anything else.

An indexing run measures an adapter on its shortlisted candidate bases once per revision (`stages.BasesStage`) and
stores what it measured (`adapter_base_facts`), so that every lineage update decides the base again from those
facts (`lineage.adapter_choice.redecide`). A catalog indexed before the facts were kept (or before the stage
measured something new, e.g. the simulated steps) has none: its adapters keep the base they were given, and a
change of the decision rule never shows on it. This runs the bases stage alone for those adapters: the shortlist
from the catalog's stored signatures (`families.assign`, as a run plans it), the measurement on the model folders
the catalog records (read only), the result recorded as a run records it (base, margin and facts), then the run's
last step (`stages.finish`: lineage of the families that changed, FAISS spaces). Fingerprints and Delta
Activations are left as they are (an adapter whose base moved gets its embedding again on the next `index`).
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, Field

from hubindex.catalog import Catalog
from hubindex.errors import HubindexError
from hubindex.indexer import families
from hubindex.indexer.jobs import BasesResult
from hubindex.indexer.stages import bases_job, finish, record_bases
from hubindex.lineage import adapter_choice
from hubindex.pipeline.stage import execute
from hubindex.status import ModelKind


class RemeasuredBase(BaseModel):
    """One adapter measured again: its base before and after (the decision taken from the new facts, then by
    the lineage update of the run's last step)."""

    adapter: str
    ok: bool = Field(description="false: the measurement failed (error says why); the stored base is kept")
    error: str | None = None
    candidates: int = Field(description="shortlisted candidate bases measured")
    base_before: str | None
    base: str | None
    decided_by: str | None = Field(description="models.base_source now: gradient, weights, declared, ...")
    alignment: float | None = Field(description="the first LoRA step's alignment on the base now (NULL: not "
                                    "measured on it)")
    margin: float | None = Field(description="models.base_margin now")


class RemeasuredBases(BaseModel):
    """`hubindex remeasure-bases --json`: the adapters whose bases stage ran again, by id."""

    db: str
    measured: int
    failed: int
    adapters: list[RemeasuredBase]


def remeasure_adapter_bases(catalog: Catalog, method: str = "hubindex", every: bool = False,
                            only: set[str] | None = None,
                            done: Callable[[str, BasesResult], None] | None = None) -> RemeasuredBases:
    """Run the bases stage for the adapters of `catalog` (those in `only`, if given) with several candidate bases
    that have no stored facts of their current revision (`every`: for all of them), record the results and finish
    as an index run does. `done(adapter, result)` is called after each one. An id of `only` that is not an adapter
    of the catalog is an error, named before anything is measured (a typo must not read as "nothing to measure")."""
    strangers = sorted(m for m in only or () if (row := catalog.model(m)) is None or row.kind != ModelKind.ADAPTER)
    if strangers:
        raise HubindexError(f"not an adapter of {catalog.path.name}: {', '.join(strangers)}")
    measured = {adapter for adapter, revision in adapter_choice.stored(catalog)
                if (row := catalog.model(adapter)) is not None and row.revision == revision}
    results: dict[str, BasesResult] = {}
    before: dict[str, str | None] = {}
    for model_id, choice in sorted(families.assign(catalog).items()):
        row = catalog.require(model_id)
        if row.kind != ModelKind.ADAPTER or not choice.candidates or (model_id in measured and not every) \
                or (only is not None and model_id not in only):
            continue
        before[model_id] = row["base"]
        results[model_id] = result = execute(bases_job(catalog, model_id, choice, method))
        record_bases(catalog, result)
        if done is not None:
            done(model_id, result)
    if results:
        finish(catalog)
    entries = []
    for model_id, result in results.items():
        row = catalog.require(model_id)
        entries.append(RemeasuredBase(
            adapter=model_id, ok=result.ok, error=result.error, candidates=len(result.job.candidates),
            base_before=before[model_id], base=row["base"],
            decided_by=None if row["base_source"] is None else str(row["base_source"]),
            alignment=row["base_alignment"], margin=row["base_margin"]))
    return RemeasuredBases(db=str(catalog.path), measured=len(entries), failed=sum(not e.ok for e in entries),
                           adapters=entries)
