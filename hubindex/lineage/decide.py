"""Infer every model's parents, relation and confidence, one family at a time (decisions on a family's samples).

Every decision looks at a model's shortlist: its nearest family members by weight distance (neighbours.py, FAISS),
widened by what earlier decisions know (context.py), so a family of n models costs O(n * k), never all pairs. Models
are decided in creation order where created times differ, by distance from the root where they tie or are missing,
merges after their sources (direction.py); each decision uses the weights first and declared metadata as checked
evidence:
1. re-saves (resaves.py): models within COPY_MAX of another are copies (dtype conversions) or quantized re-saves of
   it; the original is the one in higher precision (else created first). Later steps use originals only.
2. adapters: their base as resolved at indexing (declared and shape-checked, the only fitting root, or probe loss).
3. merges (merge_search.py, merges.py): sources, weights and method from task vectors, first among the nearest
   earlier models.
4. finetunes (parents.py): the shortlist plus the inferred parents and grandparents of its members (a fan's parent
   hides behind its children), those C lies beyond (betweenness), created earlier, plus the root. The nearest wins
   unless the step from it does not look like one optimizer run (evidence.increment_tail): a sibling of the same
   domain looks like a parent by distance and angle, but the difference of two runs has no displacement cap. A card
   naming another plausible parent (allowed, and at most DECLARED_SLACK times farther) wins; a card naming an
   implausible one is reported as a conflict and overruled.
5. a model whose step from its chosen parent still is no single run may be a merge of sources outside the
   shortlist: matching pursuit over the whole family (merge_search.pursued_sources) proposes them, step 3 decides.
Finally every finetune with local weights gets low-rank delta evidence (low_rank.check_low_rank, the only step that
reads model files): a merged LoRA shows there, and a delta low rank from the root or the runner-up but not from the
chosen parent moves the model there.
"""

from __future__ import annotations

import numpy as np

from hubindex.lineage import confidence
from hubindex.lineage.answers import LineageEntry, ParentCandidate
from hubindex.lineage.context import Context, card_check
from hubindex.lineage.direction import tied_earliest
from hubindex.lineage.evidence import COPY_MAX
from hubindex.lineage.family import Family
from hubindex.lineage.low_rank import check_low_rank
from hubindex.lineage.merge_search import (
    find_merge,
    fit_merge,
    possible_sources,
    rank_merges_after_sources,
    widened_sources,
)
from hubindex.lineage.merges import NEAR_EXACT
from hubindex.lineage.parents import choose_parent, rank_parents, unlike_one_run
from hubindex.lineage.resaves import find_resaves


def infer_family(fam: Family) -> list[LineageEntry]:
    ctx = Context(fam)
    root = ctx.root
    entries = ctx.entries
    by_weights = len(tied_earliest(ctx.times)) > 1  # the clock did not name the root: the smallest norm did
    entries[fam.root] = LineageEntry(model=fam.root, parents=[], relation="root", family=fam.root,
                                     confidence=confidence.ROOT_BY_WEIGHTS if by_weights else confidence.ROOT_BY_TIME,
                                     evidence={"source": fam.rows[fam.root].get("base_source") or "family root"})
    resaved = find_resaves(ctx)
    for child, (parent, kind, rel, ordered) in resaved.items():
        entries[fam.ids[child]] = LineageEntry(
            model=fam.ids[child], parents=[fam.ids[parent]], relation=kind, family=fam.root,
            confidence=confidence.resave(rel, COPY_MAX, ordered, kind == "quantized"),
            evidence={"relative_distance": round(rel, 6), "dtype": fam.rows[fam.ids[child]]["dtype"],
                      "parent_dtype": fam.rows[fam.ids[parent]]["dtype"], "ordered": ordered})
    original = np.ones(len(fam.ids), dtype=bool)
    original[list(resaved)] = False
    merged: dict[str, set[str]] = {}
    root_raw = fam.raw[root].astype(np.float64)
    rank_merges_after_sources(ctx, original, root_raw)
    order = np.argsort(ctx.rank)
    # Chronological, so a merge is known before a later merge of the same sources is examined, and a parent's own
    # step is known before its children are.
    for index in (int(i) for i in order if original[i] and i != root):
        model_id = fam.ids[index]
        shortlist, shortlist_distance = ctx.neighbours.of(index)
        sources = possible_sources(ctx, index, shortlist, original)
        merge, searched_wide = find_merge(ctx, index, sources, original, root_raw, merged)
        if merge is None:
            keep = original[shortlist]
            entries[model_id] = choose_keeping_rows(ctx, index, shortlist[keep], shortlist_distance[keep])
            if searched_wide or not unlike_one_run(ctx, index):
                continue
            # Not one optimizer run from any shortlisted model: look for merge sources beyond the shortlist.
            wide = widened_sources(ctx, index, sources, original)
            if wide is None:
                continue
            merge = fit_merge(ctx, index, wide, root_raw, merged)
            if merge is None:
                continue
            ctx.parent[index] = -1
            ctx.tails.pop(index, None)
        sources_index = np.array([fam.index(source) for source in merge.sources], dtype=np.int64)
        if (child := chain_read_as_merge(ctx, index, sources_index, merge.residual)) is not None:
            # Model, then its child: each one decided as a finetune among its own candidates. The fact stays in
            # both answers' evidence (`merge_read_as_chain`: the sources the untimed merge fit named), for the
            # confidence model: only the missing clock told the two readings apart.
            ctx.rank[index], ctx.rank[child] = ctx.rank[child], ctx.rank[index]
            for member in (index, child):
                shortlist, shortlist_distance = ctx.neighbours.of(member)
                keep = original[shortlist]
                entries[fam.ids[member]] = choose_keeping_rows(ctx, member, shortlist[keep],
                                                               shortlist_distance[keep])
                entries[fam.ids[member]].evidence["merge_read_as_chain"] = list(merge.sources)
            continue
        merged[model_id] = set(merge.sources)
        ctx.merge_sources[index] = sources_index
        for source in merge.sources:
            ctx.merged_into.setdefault(fam.index(source), set()).add(index)
        entries[model_id] = LineageEntry(
            model=model_id, parents=merge.sources, relation="merge", family=fam.root,
            confidence=confidence.merge(merge.residual, merge.evidence.get("mode_shares"),
                                        any(source in merged for source in merge.sources)),
            evidence={"method": merge.method, "weights": merge.weights, "residual": round(merge.residual, 4),
                      **merge.evidence, **card_check(fam.rows[model_id], merge.sources)})
    for adapter in fam.adapters:
        row = fam.rows[adapter]
        base = row["base"]  # resolved at indexing: a declared base is checked there, never taken on trust
        sure = confidence.adapter(row["base_source"], row.get("base_margin"), base is None or base == fam.root,
                                  row.get("base_alignment"), row.get("weights_choice"))
        entries[adapter] = LineageEntry(model=adapter, parents=[base] if base else [], relation="adapter",
                                        confidence=sure, family=fam.root,
                                        evidence={"base_source": row["base_source"], **card_check(row, [base])})
        if row.get("weights_choice") is not None:  # update.py reads it from adapter_base_facts
            entries[adapter].evidence["weights_choice"] = row["weights_choice"]
    check_low_rank(fam, entries)
    for entry in entries.values():  # a low-rank delta from the parent: two separate runs never differ by one
        if entry.relation == "finetune" and entry.evidence.get("lora_merged") is True:
            entry.confidence = max(entry.confidence, confidence.LOW_RANK_PARENT)
    # An unordered re-save pair (same weights, nothing orients it) may be the other way round: the original's own
    # answer is then the copy's, and an answer naming either as parent or merge source may name the wrong one of
    # the two, so neither is surer than the pair's orientation. (The family root stays the original by rule.)
    unordered = {fam.ids[i] for child, (parent, _, _, ordered) in resaved.items() if not ordered
                 for i in (child, parent)} - {fam.root}
    for entry in entries.values():
        if entry.relation != "root" and (entry.model in unordered or not unordered.isdisjoint(entry.parents)):
            entry.confidence = min(entry.confidence, confidence.RESAVE_UNORDERED)
    return list(entries.values())


def choose_keeping_rows(ctx: Context, index: int, candidates: np.ndarray, distance: np.ndarray) -> LineageEntry:
    """parents.choose_parent, unless it names a parent with more vocabulary rows than the model (Family.drops_rows:
    a sibling padded to a multiple of 64, decided first on a tied clock, s120-reset); then it chooses again among
    the candidates without such rows. The first call keeps every candidate: the sibling tests read the shortlist's
    later runs as witnesses (s121-reset northwind/model-c0860375 needs its vocabulary-extended siblings there), so
    filtering before the choice moved a right answer. choose_parent's last write (ctx.parent, ctx.tails) is
    replaced by the second call's."""
    entry = choose_parent(ctx, index, candidates, distance)
    first = int(ctx.parent[index])
    if not ctx.fam.drops_rows(index, np.array([first]))[0]:
        return entry
    keep = ~ctx.fam.drops_rows(index, candidates)
    entry = choose_parent(ctx, index, candidates[keep], distance[keep])
    entry.evidence["more_rows"] = ctx.fam.ids[first]  # the candidate passed over
    return entry


def chain_read_as_merge(ctx: Context, index: int, sources: np.ndarray, residual: float) -> int | None:
    """A source C of the merge found for model B that was decided as the finetune of another source A, when the
    clock does not put B after every source (some created time tied or missing): that is the chain A -> B -> C read
    backwards. Where times tie, distance from the root orders the decisions (direction.py), and a child that partly
    undid its parent's step (another domain, a parent saved in bf16) lies nearer the root than its parent, so it is
    decided first, from A; B, between A and C, then fits a merge of its own parent and child (SLERP residual
    0.11-0.12 on s106 and s109 reset). Merges combine separate runs, not a model and its own finetune (no merge of
    the realistic zoos does); B goes before C and both are decided as finetunes. This is the one rule for a merge
    of a line. With a clock that orders every source before B, the merge stands or falls on its own fit. So does a
    fit within merges.NEAR_EXACT (`residual`, relative): that is the bf16 rounding of an exact merge, and the line
    among its sources a tied clock's decision (two same-domain runs of a sweep, the larger one taken for the
    smaller one's child: s115 floor and reset, s116 reset, residuals 0.013), while B, read as a merge of its own
    parent and child, leaves the part of its own step that C's own step does not repeat (0.11-0.12 above)."""
    if ctx.clock_orders(sources, index) or residual < NEAR_EXACT:
        return None
    parents = ctx.parent[sources]
    line = np.flatnonzero((parents >= 0) & np.isin(parents, sources))
    return int(sources[line[0]]) if len(line) else None


def parent_candidates(fam: Family, model_id: str, ctx: Context | None = None) -> list[ParentCandidate]:
    """`hubindex parents`: every shortlisted candidate of one model, ranked as the engine ranks them. Ranking reads
    the context and changes nothing, so one fresh `Context(fam)` serves every member of a family."""
    ctx = ctx or Context(fam)
    index = fam.index(model_id)
    return rank_parents(ctx, index, ctx.neighbours.of(index))
