"""The catalog side of lineage: recompute the families whose members changed and store their entries."""

from __future__ import annotations

import hashlib
import json
import time

from hubindex.catalog import Catalog
from hubindex.lineage import adapter_choice, confidence
from hubindex.lineage.answers import LineageEntry
from hubindex.lineage.calibration import apply_map
from hubindex.lineage.decide import infer_family
from hubindex.lineage.family import load_family


def family_digest(members: list[dict]) -> str:
    """What a family's lineage depends on: its members, their revisions, declarations, times, bases and how
    clearly an adapter's base was decided (its confidence: margin, alignment, whether it is the weights' choice)."""
    keys = sorted((m["id"], m["revision"], str(m["declared_base"]), m["adapter_base"], str(m["created_at"]),
                   m["base"], m["dtype"], m["base_margin"], m.get("base_alignment"), m.get("weights_choice"))
                  for m in members)
    return hashlib.sha256(json.dumps(keys).encode()).hexdigest()[:24]


def update_lineage(catalog: Catalog, force: bool = False) -> dict[str, int]:
    """Recompute lineage for families whose members changed (all with force). Returns members per family done.
    Adapters' bases are first decided again from the facts the bases stage stored (`adapter_choice.redecide`): a
    base the current rule moves changes its families' digests."""
    adapter_choice.redecide(catalog)
    chosen = adapter_choice.weights_choices(catalog)  # the weights' choice per adapter, for its confidence
    groups: dict[str, list[dict]] = {}
    for row in catalog.models(ok_only=True):
        if row["kind"] == "adapter":  # a derived column, read by key as decide.py reads base_margin (`extra`)
            row.extra["weights_choice"] = confidence.is_weights_choice(row["base"], chosen.get(row["id"]))
        groups.setdefault(row["family"] or row["id"], []).append(row)
    done = {}
    for family, members in sorted(groups.items()):
        digest = family_digest(members)
        if not force and catalog.family_digest(family) == digest:
            continue
        started = time.perf_counter()
        # Adapters whose base is unknown form a "family" without its root among the indexed models.
        # An adapter whose base is unknown is a "family" of its own, with no full model to infer from.
        rooted = any(m["id"] == family and m["kind"] == "model" for m in members)
        entries = infer_family(load_family(catalog, family, members)) if rooted else []
        known = {e.model for e in entries}
        entries += [LineageEntry(model=m["id"], parents=[], relation="root", confidence=confidence.NO_FAMILY,
                                 family=m["family"],
                                 evidence={"note": "no family or base found among indexed models"})
                    for m in members if m["id"] not in known]
        apply_map(entries)  # raw scores to probabilities (calibration.json); the raw score stays in the evidence
        catalog.replace_lineage(family, digest, [e.model_dump() for e in entries], time.perf_counter() - started)
        done[family] = len(entries)
    catalog.drop_stale_lineage(set(groups))
    return done
