"""What every decision in one family reads and what the decisions so far found (pure numpy, no catalog)."""

from __future__ import annotations

import math

import numpy as np

from hubindex.lineage.answers import LineageEntry
from hubindex.lineage.direction import weight_order
from hubindex.lineage.evidence import HALF_ULP, increment_tails
from hubindex.lineage.family import Family
from hubindex.lineage.neighbours import Neighbours, nearest_members


def declared_bases(row: dict) -> list[str]:
    return list(row.get("declared_base") or []) or ([row["adapter_base"]] if row.get("adapter_base") else [])


def card_check(row: dict, chosen: list[str]) -> dict:
    declared = declared_bases(row)
    if not declared:
        return {}
    agrees = sorted(declared) == sorted(chosen)
    return {"declared": declared, "card_agrees": agrees} if agrees else {
        "declared": declared, "card_agrees": False, "conflict": f"card declares {declared}, weights say {chosen}"}


TYPICAL_EVERY = 64  # decisions between two recomputations of Context.typical_tail


class Context:
    """What every decision in one family reads: samples, creation times, the shortlist, decisions so far."""

    def __init__(self, fam: Family, neighbours: Neighbours | None = None) -> None:
        self.fam = fam
        self.root = fam.index(fam.root)
        self.times = np.array([c.timestamp() if (c := fam.created(m)) is not None else np.nan for m in fam.ids])
        self.neighbours = neighbours or nearest_members(fam.scaled, times=self.times)
        self.norms = np.linalg.norm(fam.scaled, axis=1)
        self.rounding = np.array([HALF_ULP.get(fam.rows[m].get("dtype"), 0.0) for m in fam.ids])
        self._tasks = fam.scaled - fam.scaled[self.root]  # see tasks()
        self.root_distance = np.linalg.norm(self._tasks, axis=1)
        self.rank = weight_order(self.times, self.root_distance)
        self.merged_into: dict[int, set[int]] = {}  # source index -> merges found to contain it
        self.merge_sources: dict[int, np.ndarray] = {}  # merge index -> its sources' indices
        self.tied_merges: set[int] = set()  # merges found among models whose times tie (not merge sources)
        self.entries: dict[str, LineageEntry] = {}
        self.parent = np.full(len(fam.ids), -1)  # inferred parent of each finetune decided so far
        self.tails: dict[int, float] = {self.root: 1.0}  # step tail of each decided model from its parent
        self._flags = np.zeros(len(fam.ids), dtype=bool)
        self._typical = (0, 1.0)  # (finetunes decided, their median step tail) when last computed

    def marked(self, members: np.ndarray, query: np.ndarray) -> np.ndarray:
        """np.isin(query, members) for member indices, through a reused flag array (no sort)."""
        self._flags[members] = True
        found = self._flags[query]
        self._flags[members] = False
        return found

    def before(self, candidates: np.ndarray, member: int) -> np.ndarray:
        """Did each candidate come before `member`? Created times where they differ, else distance from the root
        (direction.weight_order): time is evidence, not an oracle."""
        return self.rank[candidates] < self.rank[member]

    def clock_orders(self, earlier: np.ndarray | list[int], later: int) -> bool:
        """Do known created times put every one of `earlier` strictly before `later`? False where a time is missing
        or tied: then only the weights can order them."""
        # Python floats: called once per decided finetune, mostly with one earlier model (numpy's per-call overhead
        # on a few elements cost three times the comparisons).
        last = float(self.times[later])
        if not math.isfinite(last):
            return False
        return all(math.isfinite(time) and time < last for time in self.times[earlier].tolist())

    def not_after(self, candidates: np.ndarray, member: int) -> np.ndarray:
        """May each candidate be a merge source of `member`? Only a created time known to be later forbids: a
        merge lies inside its sources' hull, nearer the root than they are, so distance gives no order there."""
        tc, tm = self.times[candidates], self.times[member]
        return np.isnan(tc) | np.isnan(tm) | (tc <= tm)

    def tasks(self) -> np.ndarray:
        """Task vectors (scaled samples - the root's) of every member, float64, computed once per family: the merge
        tests and the pursuit read them for a few members at a time, thousands of times."""
        return self._tasks

    def reduced_tasks(self) -> tuple[np.ndarray, np.ndarray]:
        """Task vectors (model - root) in the projection, float64, and as float32 unit rows for alignment."""
        if not hasattr(self, "_reduced_tasks"):
            tasks = self.neighbours.reduced.astype(np.float64) - self.neighbours.reduced[self.root]
            length = np.linalg.norm(tasks, axis=1, keepdims=True)
            self._reduced_tasks = tasks, (tasks / np.maximum(length, 1e-30)).astype(np.float32)
        return self._reduced_tasks

    def units_by_time(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """reduced_tasks()'s unit rows in created-time order, with their member indices and sorted times, so a merge
        pursuit scans only the members created no later than its model (a prefix); None when some time is unknown."""
        if np.isnan(self.times).any():
            return None
        if not hasattr(self, "_units_by_time"):
            order = np.argsort(self.times, kind="stable")
            # Column-major: the pursuit multiplies a prefix of the rows by one vector per round, and BLAS runs that
            # product 1.6x faster down columns than along rows (sums in another order: the last float32 bits of
            # the alignments differ, never the seeds chosen by them on the bench or the design catalogs).
            self._units_by_time = order, self.times[order], np.asfortranarray(self.reduced_tasks()[1][order])
        return self._units_by_time

    def step_tails(self, member: int, candidates: np.ndarray) -> np.ndarray:
        """evidence.increment_tails of `member` from each candidate, net of the member's own stored rounding."""
        return increment_tails(self.fam.raw[member], self.fam.raw[candidates], float(self.rounding[member]))

    def own_tail(self, member: int) -> float:
        """Tail of the step that made `member` (from its inferred parent when it is a finetune, else the root)."""
        if member not in self.tails:
            self.tails[member] = float(self.step_tails(member, np.array([self.root]))[0])
        return self.tails[member]

    def typical_tail(self) -> float:
        """Median step tail of the finetunes decided so far: one run's tail in this family, read from all of them,
        so no single wrong decision moves it. Recomputed every TYPICAL_EVERY decisions (a median per decision would
        make the family O(n^2))."""
        count = int(np.count_nonzero(self.parent >= 0))  # no index array on the calls that only check the count
        if count >= self._typical[0] + TYPICAL_EVERY or (count and not self._typical[0]):
            decided = np.flatnonzero(self.parent >= 0)
            self._typical = (count, float(np.median([self.tails[i] for i in decided.tolist()])))
        return self._typical[1]


def ancestors(entries: dict[str, LineageEntry], model_id: str) -> set[str]:
    """Every model above `model_id` as decided so far (re-parenting must not close a cycle when times are unknown)."""
    seen: set[str] = set()
    stack = list(entries[model_id].parents) if model_id in entries else []
    while stack:
        above = stack.pop()
        if above not in seen:
            seen.add(above)
            stack.extend(entries[above].parents if above in entries else [])
    return seen
