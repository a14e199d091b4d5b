"""Lineage inference, public entry points (others import these names from here).

- decide.py: `infer_family(fam)`, `parent_candidates(fam, model_id)`: pure decisions on a family's samples
  (context.py state, resaves.py, merge_search.py, parents.py; low_rank.py reads a few matrices at the end);
- update.py: `update_lineage(catalog, force)`, `family_digest`: the catalog side;
- confidence.py: how sure each answer is, named constants.
"""

from hubindex.lineage.decide import infer_family, parent_candidates
from hubindex.lineage.update import family_digest, update_lineage

__all__ = ["family_digest", "infer_family", "parent_candidates", "update_lineage"]
