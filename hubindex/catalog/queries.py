"""Read-side queries over the catalog: `show` and `similar`."""

from __future__ import annotations

import weakref

import numpy as np

from hubindex.catalog.answers import Declared, EmbeddingEntry, FileEntry, ModelView, SimilarHit, TensorEntry
from hubindex.catalog.delta_targets import DeltaTargets
from hubindex.catalog.records import Placement
from hubindex.catalog.spaces import NULL_DELTA, Spaces, delta_space, implied_sketch, weight_space
from hubindex.catalog.store import Catalog
from hubindex.embed.methods import METHODS, get_method
from hubindex.errors import HubindexError, NotFoundError
from hubindex.status import OK_STATUSES, ModelKind

SHORTLIST = 4  # FAISS returns SHORTLIST * k (at least 32) candidates, re-ranked by exact sampled distance
MAX_K = 1000
_PLACEMENTS: weakref.WeakKeyDictionary[Spaces, dict[str, Placement]] = weakref.WeakKeyDictionary()


def show(catalog: Catalog, model_id: str) -> ModelView:
    row = catalog.require(model_id)
    sig = catalog.signature(model_id)
    embeddings = []
    for method in METHODS:
        emb = catalog.embedding(model_id, method)
        if emb is not None:
            embeddings.append(EmbeddingEntry(method=method, dim=len(emb.vector), norm=emb.norm, base=emb.base))
    return ModelView(
        id=row.id, revision=row.revision, status=row.status, error=row.error, source=row.source,
        path=row.path, kind=row.kind, architecture=row.architecture, model_type=row.model_type,
        layout=row.layout, params=row.params, dtype=row.dtype,
        files=[FileEntry(**f) for f in row.files or []],
        declared=Declared(base_model=row.declared_base, relation=row.declared_relation,
                          adapter_base=row.adapter_base),
        tags=row.tags or [], created_at=row.created_at, family=row.family, base=row.base,
        base_source=row.base_source, samples=0 if sig is None else len(sig.samples),
        embeddings=embeddings,
        tensors=[TensorEntry.model_validate(t, from_attributes=True) for t in catalog.tensor_stats(model_id)],
    )


def _check_k(k: int) -> None:
    if not 1 <= k <= MAX_K:
        raise HubindexError(f"k must be between 1 and {MAX_K}, got {k}")


def implied_samples(catalog: Catalog, model_id: str) -> dict[str, np.ndarray]:
    """Scaled samples of a model's full weights (an adapter: its base's plus its delta on the targets)."""
    # Importing fingerprint/ loads the checkpoint reader and torch: only comparisons by weights pay for it.
    from hubindex.fingerprint.sampling import tensor_sample
    from hubindex.fingerprint.signature import split_samples

    sig = catalog.signature(model_id)
    segments = split_samples(sig.samples, sig.shapes)
    if sig.kind == ModelKind.ADAPTER:
        applied = catalog.applied_base(catalog.require(model_id))
        base = catalog.signature(applied)
        base_segments = split_samples(base.samples, base.shapes)
        for name, delta in segments.items():
            base_segments[name] = base_segments[name] + delta
        segments, shapes = base_segments, base.shapes
    else:
        shapes = sig.shapes
    return {n: v.astype(np.float64) * tensor_sample(n, shapes[n]).scale for n, v in segments.items()}


def _placements(catalog: Catalog, spaces: Spaces) -> dict[str, Placement]:
    """Family and kind of every model, read once per generation of the spaces: hits come from those spaces, and a
    model's family or kind changes only with a run, which ends by rebuilding them."""
    placed = _PLACEMENTS.get(spaces)
    if placed is None:
        placed = _PLACEMENTS[spaces] = catalog.placements()
    return placed


def similar(catalog: Catalog, model_id: str, k: int = 10, by: str = "delta", method: str = "hubindex",
            targets: DeltaTargets | None = None) -> list[SimilarHit]:
    """`targets`: a server's in-memory copy of what the delta path reads of the asking model (same answer)."""
    _check_k(k)
    if by == "delta":  # the hot path of the service: one point lookup, one FAISS search
        get_method(method)
        target = (targets.target(catalog, model_id, method) if targets is not None
                  else catalog.delta_target(model_id, method))
        if target is None:
            raise NotFoundError(f"model {model_id!r} is not in the catalog {catalog.path.name}")
        status, error = target.status, target.error
    else:
        row = catalog.require(model_id)
        status, error = row.status, row.error
    if status not in OK_STATUSES:
        raise HubindexError(f"{model_id} is not indexed ({status}: {error})")
    spaces = Spaces.open(catalog.spaces_dir)
    if by == "delta":
        family = target.family
        space = delta_space(method, family or "")
        if target.vector is None or not spaces.contains(space, model_id):  # null deltas are left out of the space
            why = "it is its family's root" if family == model_id else (
                "its activations barely differ from its base" if target.vector is not None
                else "it has no Delta Activations embedding")
            raise HubindexError(f"{model_id}: no delta to compare ({why}; NULL_DELTA={NULL_DELTA}); "
                                "try --by weights")
        # The model's vector as its space holds it: an adapter on a finetune is read there from its own and its
        # parent's stored vectors (spaces.read_out), which its stored vector alone is not.
        hits = [(m, s) for m, s in spaces.search(space, spaces.vector(space, model_id), k + 1) if m != model_id][:k]
        placed = _placements(catalog, spaces)
        return [SimilarHit(model=m, score=s, by="delta", distance=1 - s, family=placed[m].family,
                           kind=placed[m].kind)
                for m, s in hits if m in placed]  # a model deleted since the spaces were built is no hit
    if by != "weights":
        raise HubindexError(f"--by must be delta or weights, not {by!r}")
    placed = implied_sketch(catalog, model_id)
    if placed is None or not spaces.has(weight_space(placed[0])):
        raise HubindexError(f"{model_id}: not placed in weight space (adapter without a known base?)")
    shortlist = spaces.search(weight_space(placed[0]), placed[1], max(32, SHORTLIST * k) + 1)
    mine = implied_samples(catalog, model_id)
    norm = float(np.sqrt(sum(v @ v for v in mine.values())))
    scored = []
    for other, _ in shortlist:
        if other == model_id:
            continue
        theirs = implied_samples(catalog, other)
        distance = float(np.sqrt(sum(float((mine[n] - theirs[n]) @ (mine[n] - theirs[n])) for n in mine)))
        scored.append((distance, other))
    scored.sort()
    placed = catalog.placements([m for _, m in scored[:k]])
    return [SimilarHit(model=m, score=1 - d / norm if norm else 0.0, by="weights", distance=d,
                       family=placed[m].family, kind=placed[m].kind) for d, m in scored[:k]]
