"""The lineage forest of the whole catalog in one answer: models, their parents and relation, and families.

Built as JSON bytes by the catalog (catalog/forest_rows.py), columnar: at 300,000 models the typed build (a
pydantic node per model) took 116 s; the bytes are the same."""

from __future__ import annotations

import pydantic_core

from hubindex.atlas.answers import AtlasForest
from hubindex.catalog.forest_rows import forest_family_sizes, forest_nodes_json, rooted_above_counts
from hubindex.catalog.spaces import direction_floors
from hubindex.catalog.store import Catalog
from hubindex.embed.methods import METHODS


def forest_json(catalog: Catalog) -> bytes:
    """`AtlasForest` as `model_dump_json` writes it."""
    floors = {method: direction_floors(catalog, method) for method in METHODS}
    embedded = {method: rooted_above_counts(catalog, method, floors[method]) for method in METHODS}
    families = [{"root": family, "size": size, "embedded": {m: embedded[m].get(family, 0) for m in METHODS}}
                for family, size in sorted(forest_family_sizes(catalog), key=lambda kv: (-kv[1], kv[0]))]
    nodes = forest_nodes_json(catalog, floors)
    return b"".join((b'{"families":', pydantic_core.to_json(families), b',"nodes":', nodes.encode(), b"}"))


def forest(catalog: Catalog) -> AtlasForest:
    return AtlasForest.model_validate_json(forest_json(catalog))
