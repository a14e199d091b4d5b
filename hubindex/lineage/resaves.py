"""Re-saves: models within COPY_MAX of another are dtype copies or quantized re-saves of it (pure numpy)."""

from __future__ import annotations

import numpy as np

from hubindex.lineage.context import Context
from hubindex.lineage.evidence import COPY_MAX, resave_kind, resave_of


def find_resaves(ctx: Context) -> dict[int, tuple[int, str, float, bool]]:
    """child index -> (original index, 'copy' | 'quantized', relative distance, ordered). `ordered` is False when
    nothing but a tie-break orients the pair: same precision, neither on a grid, and created times that tie or are
    missing (a re-sharded copy and its original hold the same weights; only the clock could tell them apart)."""
    fam = ctx.fam
    out: dict[int, tuple[int, str, float]] = {}
    near, distance = ctx.neighbours.index, ctx.neighbours.distance
    rows = np.broadcast_to(np.arange(len(near))[:, None], near.shape)
    close = distance < COPY_MAX * np.maximum(np.maximum(ctx.norms[rows], ctx.norms[near]), 1e-30)
    pairs = {(min(int(i), int(j)), max(int(i), int(j))): float(d)
             for i, j, d in zip(rows[close], near[close], distance[close], strict=True)}
    for (i, j), d in sorted(pairs.items()):
        rel = d / max(ctx.norms[i], ctx.norms[j], 1e-30)
        a, b = fam.ids[i], fam.ids[j]
        ordered = True
        if (i_is_copy := resave_of(fam.rows[a]["dtype"], fam.rows[b]["dtype"], fam.raw[i], fam.raw[j])) is not None:
            child, parent = (i, j) if i_is_copy else (j, i)
        else:
            child, parent = (j, i) if ctx.before(np.array([i]), j)[0] else (i, j)
            ordered = bool(np.isfinite(ctx.times[[i, j]]).all() and ctx.times[i] != ctx.times[j])
        if fam.ids[child] == fam.root:
            child, parent = parent, child
        kind = resave_kind(fam.raw[child], fam.raw[parent])
        if kind is None:  # moved off its parent without a grid: a short run, decided as a finetune
            continue
        if child not in out or rel < out[child][2]:
            out[child] = (parent, kind, float(rel), ordered)
    return out
