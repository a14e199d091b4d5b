"""One family's weight samples in memory: the raw and scaled sampled coordinates of every full model.

All full models of a family share a tensor layout, so their samples line up coordinate by coordinate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from hubindex.catalog import Catalog
from hubindex.catalog.samples import sample_vectors
from hubindex.errors import NotFoundError
from hubindex.fingerprint.sampling import sample_counts, tensor_sample
from hubindex.fingerprint.signature import split_samples


@dataclass
class Family:
    root: str
    ids: list[str]  # full models, root first
    raw: np.ndarray  # [n, d] float32 sampled values as stored
    scaled: np.ndarray  # [n, d] float64, L2 distances estimate full weight distances
    rows: dict[str, dict]  # catalog rows of members and adapters
    adapters: list[str]
    kurtosis: np.ndarray  # [n] mean kurtosis of 2-D tensors (MoTHer's direction signal)
    # Where each tensor's samples start in a row, and where the last one ends ([tensors + 1]); None when the
    # samples have no tensor structure (synthetic sketches).
    bounds: np.ndarray | None = None
    # [n, t] rows (first dimension) of each member's tensors whose row counts differ between layouts (embeddings,
    # LM head) where those tensors agree in every other dimension; None with one layout. See drops_rows.
    vocab_rows: np.ndarray | None = None
    _positions: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._positions = {m: i for i, m in enumerate(self.ids)}

    def index(self, model_id: str) -> int:
        return self._positions[model_id]

    def created(self, model_id: str) -> datetime | None:
        return self.rows[model_id]["created_at"]

    def drops_rows(self, index: int, candidates: np.ndarray) -> np.ndarray:
        """Would member `index` have had to drop vocabulary rows to come from each candidate: the candidate has
        more rows in some resized tensor and no fewer in any? Finetunes, vocabulary extensions
        (`resize_token_embeddings`, added tokens, padding to a multiple) only ever add rows, so such a candidate is
        a sibling or a descendant, never a parent (a vocabulary-trimmed model would be misread; no zoo has one)."""
        if self.vocab_rows is None:
            return np.zeros(len(candidates), dtype=bool)
        own, theirs = self.vocab_rows[index], self.vocab_rows[candidates]
        return np.any(theirs > own, axis=1) & np.all(theirs >= own, axis=1)


SHARED_MIN = 0.5  # share of a model's samples that models of two layouts must share to be compared


def shared_samples(catalog: Catalog, ids: list[str]) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
    """Raw and scaled samples of `ids` on the tensors they share (_shared_samples without the bounds)."""
    shared = _shared_samples([catalog.signature(i) for i in ids])
    return None if shared is None else shared[:2]


def _shared_samples(signatures: list) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray] | None:
    """Raw and scaled samples of models (their stored `signatures`, None where missing) on the tensors (name and
    shape) all of them share, in one coordinate order.
    A vocabulary-extended or resized child differs from its parent only in its embeddings' rows: every other
    tensor lines up. None when the shared tensors hold less than SHARED_MIN of some model's samples (different
    architectures or sizes are not compared)."""
    if any(sig is None for sig in signatures):
        return None
    segments = [split_samples(sig["samples"], sig["shapes"]) for sig in signatures]
    first = signatures[0]["shapes"]
    names = sorted(n for n in first if all(sig["shapes"].get(n) == first[n] for sig in signatures))
    if any(sum(len(seg[n]) for n in names) < SHARED_MIN * len(sig["samples"])
           for seg, sig in zip(segments, signatures, strict=True)):
        return None
    scales = np.concatenate([np.full(len(segments[0][n]), tensor_sample(n, first[n]).scale) for n in names]) \
        if names else np.zeros(0)
    raw = [np.concatenate([seg[n] for n in names]) if names else np.zeros(0, np.float32) for seg in segments]
    bounds = np.cumsum([0] + [len(segments[0][n]) for n in names])
    return raw, [r.astype(np.float64) * scales for r in raw], bounds


def tensor_bounds(shapes: dict) -> np.ndarray:
    """Family.bounds of one layout: samples are stored tensor by tensor in name order (catalog.samples)."""
    counts = sample_counts(shapes)
    return np.cumsum([0] + [counts[n] for n in sorted(shapes)])


def vocab_rows(shapes: list[dict]) -> np.ndarray | None:
    """Family.vocab_rows from each member's tensor shapes (name -> shape): the tensors every member has, with
    differing row counts and the same other dimensions. None when no tensor differs that way."""
    names = [n for n in sorted(shapes[0]) if all(n in s for s in shapes)
             and len({tuple(s[n][1:]) for s in shapes}) == 1 and len({len(s[n]) for s in shapes}) == 1
             and len(shapes[0][n]) >= 1 and len({s[n][0] for s in shapes}) > 1]
    if not names:
        return None
    return np.array([[int(s[n][0]) for n in names] for s in shapes], dtype=np.int64)


def load_family(catalog: Catalog, root: str, members: list[dict]) -> Family:
    full = sorted((m for m in members if m["kind"] == "model"), key=lambda m: (m["id"] != root, m["id"]))
    kurt = []
    rows = None
    if len({m["layout"] for m in full}) == 1:
        raw, scaled = (list(x) for x in zip(*(sample_vectors(catalog, m["id"]) for m in full), strict=True))
        signature = catalog.signature(full[0]["id"])
        bounds = tensor_bounds(signature.shapes) if signature is not None else None
    else:  # vocabulary-extended or resized members: compare on the tensors every member shares
        signatures = [catalog.signature(m["id"]) for m in full]  # read once: samples and shapes
        shared = _shared_samples(signatures)
        if shared is None:
            raise NotFoundError(f"family {root}: its members share too few tensors to compare")
        raw, scaled, bounds = shared
        rows = vocab_rows([dict(sig["shapes"]) for sig in signatures])
    for row in full:
        stats = [t for t in catalog.tensor_stats(row["id"]) if len(t["shape"]) == 2 and t["kurtosis"] is not None]
        kurt.append(float(np.mean([t["kurtosis"] for t in stats])) if stats else 0.0)
    return Family(root=root, ids=[r["id"] for r in full], raw=np.stack(raw).astype(np.float32),
                  scaled=np.stack(scaled).astype(np.float64), rows={m["id"]: m for m in members},
                  adapters=[m["id"] for m in members if m["kind"] == "adapter"], kurtosis=np.array(kurt),
                  bounds=bounds, vocab_rows=rows)


def families(catalog: Catalog) -> list[Family]:
    groups: dict[str, list[dict]] = {}
    for row in catalog.models(ok_only=True):
        if row["family"]:
            groups.setdefault(row["family"], []).append(row)
    # An adapter with no base found is a group of its own without a full model: nothing to infer from its weights.
    return [load_family(catalog, root, members) for root, members in sorted(groups.items())
            if any(m["kind"] == "model" for m in members)]
