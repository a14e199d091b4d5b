"""Re-saves: models within COPY_MAX of another are dtype copies or quantized re-saves of it (pure numpy)."""

from __future__ import annotations

import json
import math

import numpy as np

from hubindex.lineage.context import Context
from hubindex.lineage.evidence import COPY_MAX, resave_kind, resave_of

# save_pretrained's default max_shard_size ("5GB", decimal): a default save of a smaller checkpoint is one file.
DEFAULT_SHARD_BYTES = 5 * 10**9


def split_on_purpose(row: dict) -> bool | None:
    """Is this checkpoint split into more safetensors files than a default save of its size writes (re-sharded by
    hand, for smaller downloads or loading)? None when the files are unknown (no local file stamp)."""
    try:
        entries = json.loads(row.get("file_stamp") or "[]")
        sizes = [int(entry[1]) for entry in entries if str(entry[0]).endswith(".safetensors")]
    except (ValueError, TypeError, IndexError):
        return None
    if not sizes:
        return None
    return len(sizes) > math.ceil(sum(sizes) / DEFAULT_SHARD_BYTES)


def find_resaves(ctx: Context) -> dict[int, tuple[int, str, float, bool]]:
    """child index -> (original index, 'copy' | 'quantized', relative distance, ordered). `ordered` is False when
    nothing but a tie-break orients the pair: same precision, neither on a grid, and created times that tie or are
    missing (a re-sharded copy and its original hold the same weights: only the clock, or how the files are
    split, tells them apart)."""
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
            split = split_on_purpose(fam.rows[a]), split_on_purpose(fam.rows[b])
            if not ordered and None not in split and split[0] != split[1]:
                # Same weights and no clock: only the files differ. A checkpoint split further than a default save
                # was re-sharded from the other (still a tie-break of the files: `ordered` stays False).
                child, parent = (i, j) if split[0] else (j, i)
        if fam.ids[child] == fam.root:
            child, parent = parent, child
        kind = resave_kind(fam.raw[child], fam.raw[parent])
        if kind is None:  # moved off its parent without a grid: a short run, decided as a finetune
            continue
        if child not in out or rel < out[child][2]:
            out[child] = (parent, kind, float(rel), ordered)
    return out
