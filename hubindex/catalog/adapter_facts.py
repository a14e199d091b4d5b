"""Rows of `adapter_base_facts` (migration 013): what the bases stage measured of each candidate base of an adapter.

The decision among the candidates lives in hubindex.lineage.adapter_choice; this module only stores and reads the
rows, since the catalog owns all SQL.
"""

from __future__ import annotations

from hubindex.catalog.store import Catalog

# Per candidate, in this order: the candidate's id, whether the weights chose it, the weights' continuation score
# and offset cosine, the gradient alignment on all passages, the same with each passage left out, the alignment
# after simulated Adam steps, the first step's alignment on the candidate's own passages (all, then each left out;
# migration 014).
FACT_COLUMNS = ("candidate", "preferred", "continuation", "offset_cosine", "alignment", "held_out", "simulated",
                "own_alignment")


def replace_adapter_facts(catalog: Catalog, adapter: str, revision: str, rows: list[tuple]) -> None:
    """Replace the stored rows of `adapter` with `rows` (FACT_COLUMNS order) measured on `revision`."""
    catalog.con.execute("DELETE FROM adapter_base_facts WHERE adapter = ?", [adapter])
    for row in rows:
        catalog.con.execute(f"INSERT INTO adapter_base_facts (adapter, revision, {', '.join(FACT_COLUMNS)}) "
                            f"VALUES (?, ?, {', '.join('?' * len(FACT_COLUMNS))})", [adapter, revision, *row])
    keep_base_alignment(catalog, adapter)


def keep_base_alignment(catalog: Catalog, adapter: str) -> None:
    """`models.base_alignment`: the stored alignment of the base the adapter has now (NULL if not measured)."""
    catalog.con.execute("UPDATE models SET base_alignment = (SELECT f.alignment FROM adapter_base_facts f "
                        "WHERE f.adapter = models.id AND f.candidate = models.base AND f.revision = models.revision) "
                        "WHERE id = ?", [adapter])


def adapter_fact_rows(catalog: Catalog) -> list[tuple]:
    """Every stored row as (adapter, revision, *FACT_COLUMNS), by adapter then candidate."""
    return catalog.con.execute(f"SELECT adapter, revision, {', '.join(FACT_COLUMNS)} FROM adapter_base_facts "
                               "ORDER BY adapter, candidate").fetchall()
