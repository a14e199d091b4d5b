"""Which models may be merge sources, and the merge test on them (merges.py decides; pure numpy).

Sources are tried first among the nearest earlier models; a model whose step from its chosen parent is no single
optimizer run gets a matching pursuit over the whole family. Where created times tie, merges are ranked after their
sources (a merge lies inside their hull, nearer the root, so distance alone would put it first).
"""

from __future__ import annotations

import math

import numpy as np

from hubindex.lineage.context import Context
from hubindex.lineage.direction import weight_order
from hubindex.lineage.evidence import round_bf16
from hubindex.lineage.linear import least_squares
from hubindex.lineage.merges import MAX_SOURCES, Incomplete, MergeFit, detect_merge, sparse_possible

ROUNDED = {"BF16": round_bf16, "F16": lambda x: x.astype(np.float16).astype(np.float64)}
MANTISSA_BITS = {"BF16": 7, "F16": 10}  # explicit mantissa bits; anything else is treated as float32 (23)
NEAREST_SOURCES = 12  # merge sources tried first: the nearest earlier models
PURSUIT_SEEDS = 16  # per pursuit round: best aligned models in the projection...
PURSUIT_NEIGHBOURS = 8  # ...and this many nearest neighbours of each


def find_merge(ctx: Context, index: int, sources: np.ndarray, original: np.ndarray, root_raw: np.ndarray,
               merged: dict[str, set[str]]) -> tuple[MergeFit | None, bool]:
    """fit_merge on the nearest earlier models (`sources`); when they hold some of a sparse merge's sources but
    not all (the others lie beyond the shortlist: TIES of three domains), add a matching pursuit's and fit again.
    Also says whether the pursuit's sources were tried (a caller need not try them again). Still incomplete: the
    model that carries the unexplained coordinates is looked for over the family (_completed)."""
    found = _detect(ctx, index, sources, root_raw, merged)
    wide = widened_sources(ctx, index, sources, original) if isinstance(found, Incomplete) else None
    if wide is not None:
        found = _detect(ctx, index, wide, root_raw, merged)
    if isinstance(found, Incomplete):
        found = _completed(ctx, index, found, original, root_raw, merged) or found
    return (found if isinstance(found, MergeFit) else None), wide is not None


CARRIES = 0.5  # share of a sparse merge's unexplained coordinates a missing source must hold exactly (_completed)


def _completed(ctx: Context, index: int, found: Incomplete, original: np.ndarray, root_raw: np.ndarray,
               merged: dict[str, set[str]]) -> MergeFit | None:
    """An incomplete TIES merge completed by the earlier model that holds, exactly (to the saved dtype's last
    place), at least CARRIES of the moved coordinates its found sources cannot explain: there only the missing
    source survived, so the merge copied its value (the true source: ~all of them; any other model: ~none). One
    pass over those coordinates (a few % of the samples) for every earlier original model. s121-reset
    quill-labs/model-9dd3a3aa: a third source with a small share (fit weight -0.08) is neither among the nearest
    nor picked by the pursuit."""
    fam = ctx.fam
    dtype = fam.rows[fam.ids[index]]["dtype"]
    rounding = ROUNDED.get(dtype)
    base = rounding(root_raw[None])[0] if rounding is not None else root_raw
    own = fam.raw[index].astype(np.float64)
    task = own - base
    chosen = np.array([fam.index(source) for source in found.sources], dtype=np.int64)
    slack = unit_in_last_place(own, dtype)

    def tasks_at(members: np.ndarray, where: np.ndarray) -> np.ndarray:
        raw = fam.raw[np.ix_(members, where)].astype(np.float64)
        return (rounding(raw) if rounding is not None else raw) - base[where]

    known = tasks_at(chosen, np.arange(len(task)))
    low, high = np.minimum(known, 0).sum(axis=0) - slack, np.maximum(known, 0).sum(axis=0) + slack
    left = np.flatnonzero((task != 0) & ((task < low) | (task > high)))
    excluded = np.fromiter({ctx.root, index, *ctx.merge_sources, *ctx.tied_merges, *chosen.tolist()}, dtype=np.int64)
    members = np.arange(len(fam.ids))
    members = members[original & ctx.not_after(members, index) & ~ctx.marked(excluded, members)]
    if not len(left) or not len(members):
        return None
    carried = np.mean(np.abs(tasks_at(members, left) - task[left]) <= slack[left], axis=1)
    best = int(np.argmax(carried))
    if carried[best] < CARRIES:
        return None
    complete = _detect(ctx, index, np.append(chosen, members[best]), root_raw, merged)
    return complete if isinstance(complete, MergeFit) else None


def widened_sources(ctx: Context, index: int, sources: np.ndarray, original: np.ndarray) -> np.ndarray | None:
    """`sources` and, after them, a matching pursuit's over the family (None when the pursuit finds none)."""
    wide = pursued_sources(ctx, index, original)
    return np.concatenate([sources, wide[~ctx.marked(sources, wide)]]) if len(wide) else None


def fit_merge(ctx: Context, index: int, sources: np.ndarray, root_raw: np.ndarray,
              merged: dict[str, set[str]]) -> MergeFit | None:
    """Is the model at `index` a merge of `sources` (family indices)? merges.detect_merge on their task vectors."""
    found = _detect(ctx, index, sources, root_raw, merged)
    return found if isinstance(found, MergeFit) else None


def _detect(ctx: Context, index: int, sources: np.ndarray, root_raw: np.ndarray,
            merged: dict[str, set[str]]) -> MergeFit | Incomplete | None:
    fam = ctx.fam
    own = fam.raw[index].astype(np.float64)
    dtype = fam.rows[fam.ids[index]]["dtype"]
    rounding = ROUNDED.get(dtype)
    if rounding is not None:
        # A merge saved in low precision holds round(source) where one source alone survives (TIES) and
        # round(root) where every source was trimmed: compare with the root and sources rounded alike.
        root_raw = rounding(root_raw[None])[0]
    task = own - root_raw
    if sparse_possible(task):
        raw = fam.raw[sources].astype(np.float64)
        raw_tasks = np.vstack([task, (rounding(raw) if rounding is not None else raw) - root_raw])
        slack = unit_in_last_place(own, dtype)
    else:
        # The sources' raw task vectors and the rounding slack are read by the sparse test only, which detect_merge
        # skips for this model (the same sparse_possible test): most models are finetunes.
        raw_tasks, slack = task[None], 0.0
    return detect_merge([fam.ids[c] for c in sources.tolist()], ctx.tasks()[np.concatenate([[index], sources])],
                        raw_tasks, merged, slack)


def unit_in_last_place(values: np.ndarray, dtype: str | None) -> np.ndarray:
    """Spacing of the saved dtype at each value: how far a merge's mean of rounded sources may sit from them."""
    bits = MANTISSA_BITS.get(dtype or "", 23)
    exponent = np.floor(np.log2(np.maximum(np.abs(values), np.finfo(np.float32).tiny)))
    return np.exp2(exponent - bits)


def possible_sources(ctx: Context, index: int, shortlist: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Earlier original models (not the root) among the nearest: the merge sources tried first."""
    near = shortlist[original[shortlist] & (shortlist != ctx.root) & ctx.not_after(shortlist, index)]
    if ctx.tied_merges:
        near = near[~ctx.marked(np.fromiter(ctx.tied_merges, dtype=np.int64), near)]
    return near[:NEAREST_SOURCES]


def pursued_sources(ctx: Context, index: int, original: np.ndarray) -> np.ndarray:
    """Merge sources by non-negative matching pursuit: each round adds the earlier model whose task vector is best
    aligned with what the sources chosen so far leave unexplained. Raw alignment ranks a second source hundreds
    deep behind the first one's relatives; the residual's does not. Each round shortlists PURSUIT_SEEDS models in
    the projection (cheap, over the whole family), adds their nearest neighbours (siblings look alike in the
    projection), and picks by the exact sample vectors, where the merge carries its source's own step."""
    fam, root = ctx.fam, ctx.root
    reduced, unit = ctx.reduced_tasks()
    excluded = np.fromiter(ctx.tied_merges | {root, index}, dtype=np.int64)

    def possible(members: np.ndarray) -> np.ndarray:
        return original[members] & ctx.not_after(members, index) & ~ctx.marked(excluded, members)

    # Only members created no later than this model can be sources: with every time known they are a prefix of
    # the family in time order, and the alignment (the pursuit's O(n) step) is computed over that prefix only.
    by_time = ctx.units_by_time()
    if by_time is None:
        members, rows = np.arange(len(fam.ids)), unit
        scanned = possible(members)
    else:
        earlier = int(np.searchsorted(by_time[1], ctx.times[index], side="right"))
        members, rows = by_time[0][:earlier], by_time[2][:earlier]
        # possible() without not_after: the prefix holds exactly the members created no later than this model.
        scanned = original[members] & ~ctx.marked(excluded, members)
    if np.count_nonzero(scanned) < 2:
        return np.zeros(0, dtype=np.int64)
    unscanned = np.flatnonzero(~scanned)
    all_tasks = ctx.tasks()
    target = all_tasks[index]
    enough = 0.01 * math.sqrt(target.dot(target))
    chosen: list[int] = []
    left, left_projected = target, reduced[index]
    for _ in range(MAX_SOURCES):
        # Minus the alignment (the product with the negated vector: IEEE rounding is symmetric, so the same values
        # as negating the product, one pass fewer), +inf where no source may be: what argpartition selects from.
        negated = rows @ np.negative(left_projected.astype(np.float32))
        negated[unscanned] = np.inf
        count = min(PURSUIT_SEEDS, len(negated))
        seeds = np.argpartition(negated, count - 1)[:count]
        seeds = members[seeds[np.isfinite(negated[seeds])]]
        # Sorted without duplicates, as np.unique gives it, through a Python set (~150 indices: np.unique's overhead
        # cost more than the set).
        pool = np.array(sorted({*seeds.tolist(), *ctx.neighbours.index[seeds, :PURSUIT_NEIGHBOURS].ravel().tolist()}),
                        dtype=np.int64)
        pool = pool[possible(pool) & ~ctx.marked(np.array(chosen, dtype=np.int64), pool)]
        if not len(pool):
            break
        exact = all_tasks[pool] @ left / np.maximum(ctx.root_distance[pool], 1e-30)  # root_distance: the tasks' norms
        best = int(np.argmax(exact))
        if exact[best] <= 0:
            break
        chosen.append(int(pool[best]))
        sources = all_tasks[chosen]
        weights = least_squares(sources, target)
        left = target - weights @ sources
        left_projected = reduced[index] - weights @ reduced[chosen]
        if math.sqrt(left.dot(left)) < enough:  # np.linalg.norm's own sum for a vector, without its checks
            break
    return np.array(chosen, dtype=np.int64)


def rank_merges_after_sources(ctx: Context, original: np.ndarray, root_raw: np.ndarray) -> None:
    """Where created times tie, distance from the root orders a merge before its sources (it lies inside their
    hull). A first pass finds the merges among tied models; each is then ranked after its sources, and merges
    found there are no merge sources of tied models (ctx.tied_merges)."""
    tied = np.isnan(ctx.times).any() or len(np.unique(ctx.times)) < len(ctx.times)
    if not tied:
        return
    key = ctx.rank.astype(np.float64)
    for index in (int(i) for i in np.argsort(ctx.rank) if original[i] and i != ctx.root):
        shortlist, _ = ctx.neighbours.of(index)
        merge = fit_merge(ctx, index, possible_sources(ctx, index, shortlist, original), root_raw, {})
        if merge is not None:
            ctx.tied_merges.add(index)
            key[index] = max(key[ctx.fam.index(m)] for m in merge.sources) + 0.5
    ctx.rank = weight_order(key, np.zeros(len(key)))
