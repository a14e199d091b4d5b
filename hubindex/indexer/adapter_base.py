"""The base model an adapter was trained on.

An adapter's base is its declared base when that model is indexed and has every target tensor at the right shape,
else the one family root whose layout fits; when several fit (same architecture and size, different
initialisations), the caller breaks the tie (by probe loss).
"""

from __future__ import annotations

from hubindex.catalog import Catalog
from hubindex.indexer.assignment import Assignment


def _fits(catalog: Catalog, adapter_shapes: dict, base_id: str) -> bool:
    shapes = {r["name"]: tuple(r["shape"]) for r in catalog.tensor_stats(base_id)}
    return all(shapes.get(name) == shape for name, shape in adapter_shapes.items())


def assign(catalog: Catalog, row: dict, roots: list[dict], found: dict[str, Assignment]) -> Assignment:
    shapes = {r["name"]: tuple(r["shape"]) for r in catalog.tensor_stats(row["id"])}
    for declared in (row["adapter_base"], *(row["declared_base"] or [])):
        if declared and declared in found and _fits(catalog, shapes, declared):
            root = found[declared].family or declared
            if root == declared:
                return Assignment(root, declared, "declared")
            # A finetune as the base: plausible, but a wrong card looks the same. The pipeline checks it against
            # the family root by probe loss when it embeds (declared wins ties).
            return Assignment(root, declared, "declared", (declared, root))
    fitting = tuple(r["id"] for r in roots if _fits(catalog, shapes, r["id"]))
    if len(fitting) == 1:
        return Assignment(fitting[0], fitting[0], "weights")
    return Assignment(None, None, None, fitting)
