"""FAISS indexes, one per embedding space, rebuilt from the catalog's tables.

Spaces: `weights/<layout>` (CountSketch of sampled weights, L2) and `delta/<method>/<family root>` (unit Delta
Activations, inner product = cosine). Deltas against different bases are not comparable, so they never share an
index. A delta space holds each member's `read_out` of the stored vectors (an adapter on a finetune: whole +
increment), and `similar` asks with the vector its space holds (`Spaces.vector`). Files live beside the database in
`<db>.faiss/`, with a manifest naming each file, its id order and its vector count. Exact flat indexes up to
LARGE_FROM vectors; beyond, a fast-scan PQ index whose candidates are re-scored exactly (dim <= SCAN_DIM_MAX, the
delta spaces), or HNSW (wider spaces: the weight sketches).

A rebuild never touches a file the current manifest names: it writes every index under a new name, then replaces
the manifest in one rename (the moment the new spaces are served), then deletes the files no manifest names. A
rebuild killed at any step leaves either the old spaces or the new ones, never a mix. Readers still check each
index against its manifest entry and refuse a mismatch (a file edited or copied by hand).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import uuid
from pathlib import Path
from typing import ClassVar

import faiss
import numpy as np

from hubindex.catalog.forest_rows import rooted_above, rooted_norms_sorted
from hubindex.catalog.records import MemberEmbedding
from hubindex.catalog.store import Catalog
from hubindex.embed.methods import METHODS, whole_and_increment
from hubindex.errors import HubindexError
from hubindex.status import ModelKind, ok_sql

MANIFEST = "spaces.json"
KILL_AT_ENV = "HUBINDEX_TEST_KILL_REBUILD_AT"  # tests: SIGKILL this process at the named step of `rebuild`
STEPS = ("indexes-written", "manifest-written", "manifest-replaced", "stale-deleted")
LARGE_FROM = 50_000  # vectors from which a space stops scanning every float of every vector
SCAN_DIM_MAX = 256  # widest space given the fast-scan index (4-bit codes: dim / 2 bytes a vector to scan)
# Candidates re-scored exactly per answer wanted. bench/query_latency.py --hnsw, 100k unit vectors, dim 64, k=10,
# same queries: recall@10 against exact search 0.9997 (clustered) and 1.000 (uniform) at 50, 0.998 / 1.000 at 20;
# HNSW (M 32, efSearch 256, used before) had 0.969 and 0.962.
REFINE_FACTOR = 50
EF_SEARCH = 256  # HNSW beyond SCAN_DIM_MAX: recall@10 0.94 at 128, 0.97 at 256 (100k clustered unit vectors)
NULL_DELTA = 0.02  # a delta under 2 % of its family's median norm has no direction (a copy of the base)


def weight_space(layout: str) -> str:
    return f"weights/{layout}"


def delta_space(method: str, family: str) -> str:
    return f"delta/{method}/{family}"


def _file_for(space: str, generation: str) -> str:
    """A name no earlier rebuild used: the space's hash and this rebuild's generation."""
    return f"{hashlib.sha1(space.encode()).hexdigest()[:20]}-{generation}.faiss"


def _reached(step: str) -> None:
    """Fault injection for the crash tests: die here, as a power cut or an OOM kill would."""
    if os.environ.get(KILL_AT_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def _write_durably(path: Path, write) -> None:
    write(str(path))
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def build_index(vectors: np.ndarray, metric: str) -> faiss.Index:
    dim = vectors.shape[1]
    inner = metric == "ip"
    measure = faiss.METRIC_INNER_PRODUCT if inner else faiss.METRIC_L2
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(vectors) < LARGE_FROM:
        index = faiss.IndexFlatIP(dim) if inner else faiss.IndexFlatL2(dim)
    elif dim <= SCAN_DIM_MAX:
        # A flat scan reads 4 bytes per dimension per vector from memory (26 MB at 100k x 64: milliseconds). Here
        # each dimension is one 4-bit code scanned by FAISS's SIMD fast-scan (1/8 of the bytes), and the
        # k * REFINE_FACTOR best are re-scored against the stored float32 vectors by the flat index's own distance
        # code: the scores answered are the exact ones, only a true neighbour missing from the candidates differs.
        codes = faiss.IndexPQFastScan(dim, dim, 4, measure)
        codes.train(vectors)
        index = faiss.IndexRefineFlat(codes)
        index.k_factor = REFINE_FACTOR
    else:
        index = faiss.IndexHNSWFlat(dim, 32, measure)
        index.hnsw.efSearch = EF_SEARCH
    index.add(vectors)
    return index


def implied_sketch(catalog: Catalog, model_id: str) -> tuple[str, np.ndarray] | None:
    """(layout, sketch) placing a model in weight space; an adapter sits at base + its delta (sketches add)."""
    sig = catalog.signature(model_id)
    if sig is None:
        return None
    if sig.kind == ModelKind.MODEL:
        return sig.layout, sig.sketch
    applied = catalog.applied_base(catalog.require(model_id))
    base = catalog.signature(applied) if applied else None
    return (base.layout, base.sketch + sig.sketch) if base is not None else None


def direction_floor(norms: list[float]) -> float:
    """The norm a family's delta must exceed to have a direction: NULL_DELTA of the family's median."""
    return NULL_DELTA * float(np.median(norms))


def sorted_direction_floors(families: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """`direction_floor` of each family at once, for norms sorted by family then norm: one value per family, in
    order (np.median's exact arithmetic: the middle value, or the mean of the two middle ones; NaN if any is)."""
    if len(norms) == 0:
        return np.zeros(0)
    starts = np.flatnonzero(np.r_[True, families[1:] != families[:-1]])
    counts = np.diff(np.r_[starts, len(norms)])
    low, high = starts + (counts - 1) // 2, starts + counts // 2
    medians = np.where(low == high, norms[low], (norms[low] + norms[high]) / 2)
    medians[np.add.reduceat(np.isnan(norms), starts) > 0] = np.nan
    return NULL_DELTA * medians


def direction_floors(catalog: Catalog, method: str) -> dict[str, float]:
    """Per family: `direction_floor` of its deltas taken against the family root, read as two columns."""
    families, norms = rooted_norms_sorted(catalog, method)
    starts = np.flatnonzero(np.r_[True, families[1:] != families[:-1]]) if len(families) else []
    return dict(zip(families[starts].tolist(), sorted_direction_floors(families, norms).tolist(), strict=True))


def _with_direction(by_family: dict[str, list]) -> dict[str, list]:
    """Per family, the rows (with a `norm`) whose delta has a direction; families left empty are dropped."""
    families = {}
    for family, members in by_family.items():
        floor = direction_floor([r.norm for r in members])
        kept = [r for r in members if r.norm > floor]
        if kept:
            families[family] = kept
    return families


def _rooted(rows: list[MemberEmbedding]) -> dict[str, list[MemberEmbedding]]:
    """Per family: the embeddings taken against the family root."""
    by_family: dict[str, list[MemberEmbedding]] = {}
    for row in rows:
        if row.family and row.base == row.family:
            by_family.setdefault(row.family, []).append(row)
    return by_family


def _kept_deltas(rows: list[MemberEmbedding]) -> dict[str, list[MemberEmbedding]]:
    """Per family: the embeddings taken against the family root whose delta has a direction."""
    return _with_direction(_rooted(rows))


def adapter_parents(catalog: Catalog, family: str | None = None) -> dict[str, str]:
    """Adapter id -> the model lineage applied it on, for the adapters applied on another model than their family's
    root (an adapter on a finetune). Read when the spaces are built, so a new base is read at the next rebuild."""
    where = "AND family = ?" if family else ""
    return dict(catalog.con.execute(
        f"SELECT id, base FROM models WHERE kind = ? AND status IN {ok_sql()} AND base IS NOT NULL "
        f"AND family IS NOT NULL AND base <> family {where}", [ModelKind.ADAPTER.value, *([family] if family else [])]
    ).fetchall())


def read_out(method: str, rows: list[MemberEmbedding], parents: dict[str, str],
             rooted: list[MemberEmbedding]) -> dict[str, np.ndarray]:
    """Model id -> the unit vector a space holds for each of `rows` (one family's kept embeddings). The one place a
    stored vector becomes what spaces, `similar`, merge candidates, the atlas and the evaluation compare: an
    adapter applied on a finetune (`parents`, the parent's vector among the family's `rooted` embeddings, kept or
    not: a parent below the null floor still gives an increment) is `whole_and_increment` of its and its parent's
    stored vectors when the method reads it so (`EmbeddingMethod.adapter_increment`; `paper` stays the published
    recipe); every other model is its stored vector."""
    stored = {r.model_id: r.vector for r in rooted} if METHODS[method].adapter_increment else {}
    out = {}
    for row in rows:
        parent = stored.get(parents.get(row.model_id, ""))
        if parent is None:
            out[row.model_id] = row.vector / row.norm
        else:
            vector = whole_and_increment(row.vector, parent)
            out[row.model_id] = vector / max(float(np.linalg.norm(vector)), 1e-30)
    return out


def delta_vectors(catalog: Catalog, method: str, family: str | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Per family (or for one family): model id -> unit read-out (`read_out`), dropping null deltas (decided on
    the stored norms, as `delta_members`: the read-out changes directions, never who is in a space)."""
    rooted = _rooted(catalog.embeddings(method, family=family))
    parents = adapter_parents(catalog, family) if METHODS[method].adapter_increment else {}
    return {fam: read_out(method, rows, parents, rooted[fam]) for fam, rows in _with_direction(rooted).items()}


def composed_adapters(catalog: Catalog, method: str) -> dict[str, str]:
    """Adapter -> parent, for the adapters `read_out` reads as whole + increment (both rooted in one family)."""
    if not METHODS[method].adapter_increment:
        return {}
    rooted = {r.model_id: r.family for rows in _rooted(catalog.embeddings(method)).values() for r in rows}
    return {a: p for a, p in adapter_parents(catalog).items() if a in rooted and rooted.get(p) == rooted[a]}


def delta_members(catalog: Catalog, method: str) -> dict[str, list[str]]:
    """Per family: the models delta_vectors keeps, without reading a vector (families by their first model id)."""
    by_family: dict[str, list[str]] = {}
    for family, model in rooted_above(catalog, method, direction_floors(catalog, method)):
        by_family.setdefault(family, []).append(model)
    return by_family


def rebuild(catalog: Catalog, weights: bool = True) -> dict[str, int]:
    """Write every space's index from the tables (weights=False: delta spaces only); returns vectors per space."""
    out_dir = catalog.spaces_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    spaces: dict[str, tuple[str, list[str], np.ndarray]] = {}
    by_layout: dict[str, dict[str, np.ndarray]] = {}
    for row in catalog.models(ok_only=True) if weights else []:
        placed = implied_sketch(catalog, row.id)
        if placed is not None:
            by_layout.setdefault(placed[0], {})[row.id] = placed[1]
    for layout, members in by_layout.items():
        spaces[weight_space(layout)] = ("l2", list(members), np.stack(list(members.values())))
    for method in METHODS:
        for family, members in delta_vectors(catalog, method).items():
            spaces[delta_space(method, family)] = ("ip", list(members), np.stack(list(members.values())))
    generation = uuid.uuid4().hex[:12]
    manifest = {}
    for space, (metric, ids, vectors) in sorted(spaces.items()):
        name = _file_for(space, generation)
        index = build_index(vectors, metric)
        _write_durably(out_dir / name, lambda path, index=index: faiss.write_index(index, path))
        manifest[space] = {"file": name, "metric": metric, "ids": ids, "vectors": int(index.ntotal)}
    _reached("indexes-written")
    tmp = out_dir / f"{MANIFEST}.{generation}.tmp"
    _write_durably(tmp, lambda path: Path(path).write_text(json.dumps(manifest)))
    _reached("manifest-written")
    os.replace(tmp, out_dir / MANIFEST)  # the one step that switches readers to the new spaces
    directory = os.open(out_dir, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    _reached("manifest-replaced")
    for stale in set(os.listdir(out_dir)) - {m["file"] for m in manifest.values()} - {MANIFEST}:
        (out_dir / stale).unlink(missing_ok=True)  # old generations and temp files of killed rebuilds
    _reached("stale-deleted")
    return {space: len(entry["ids"]) for space, entry in manifest.items()}


class Spaces:
    """Read side: load a space's index on first use. FAISS searches on one index may run in parallel threads."""

    _cache: ClassVar[dict[Path, tuple[int, Spaces]]] = {}
    _resolved: ClassVar[dict[Path, Path]] = {}
    _manifests: ClassVar[dict[Path, str]] = {}  # folder -> its manifest's path, for `stamp`

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        path = self.directory / MANIFEST
        if not path.exists():
            raise HubindexError(f"{self.directory.name}: no FAISS indexes; run `hubindex reindex`")
        self.manifest: dict = json.loads(path.read_text())
        self._loaded: dict[str, faiss.Index] = {}
        self._rows: dict[str, dict[str, int]] = {}  # space -> model id -> its row in the index

    @classmethod
    def _resolve(cls, directory: Path) -> Path:
        resolved = cls._resolved.get(directory)
        if resolved is None:  # resolving stats every component of the path: once per folder, not per request
            resolved = cls._resolved[directory] = Path(directory).resolve()
        return resolved

    @classmethod
    def stamp(cls, directory: Path) -> int | None:
        """Changes whenever `rebuild` replaces the folder's spaces (the manifest's mtime); None: no spaces."""
        manifest = cls._manifests.get(directory)
        if manifest is None:  # the path joined once per folder: `/similar` reads the stamp twice a request
            manifest = cls._manifests[directory] = str(cls._resolve(directory) / MANIFEST)
        try:
            return os.stat(manifest).st_mtime_ns
        except FileNotFoundError:
            return None

    @classmethod
    def open(cls, directory: Path) -> Spaces:
        """The loaded spaces of a folder, shared while its manifest is unchanged (a long-lived server loads each
        index once; `rebuild` replaces the manifest last, so a new one means new indexes)."""
        directory = cls._resolve(directory)
        stamp = cls.stamp(directory)
        if stamp is None:
            raise HubindexError(f"{directory.name}: no FAISS indexes; run `hubindex reindex`")
        cached = cls._cache.get(directory)
        if cached is None or cached[0] != stamp:
            cached = (stamp, cls(directory))
            cls._cache[directory] = cached
        return cached[1]

    def has(self, space: str) -> bool:
        return space in self.manifest

    def _positions(self, space: str) -> dict[str, int]:
        if space not in self._rows:
            ids = self.manifest[space]["ids"] if space in self.manifest else []
            self._rows[space] = {m: i for i, m in enumerate(ids)}
        return self._rows[space]

    def contains(self, space: str, model_id: str) -> bool:
        return model_id in self._positions(space)

    def vector(self, space: str, model_id: str) -> np.ndarray:
        """A member's vector as the space holds it (for a delta space, its unit `read_out`): what `similar` asks
        with, so the question is read exactly as the answers are."""
        return self._index(space).reconstruct(self._positions(space)[model_id])

    def _index(self, space: str) -> faiss.Index:
        if space in self._loaded:
            return self._loaded[space]
        entry = self.manifest[space]
        broken = f"FAISS space {space!r} in {self.directory.name}"
        try:
            index = faiss.read_index(str(self.directory / entry["file"]))
        except RuntimeError:  # missing or unreadable file
            raise HubindexError(f"{broken}: its index file {entry['file']} cannot be read; rebuild the spaces with "
                                "`hubindex reindex`") from None
        expected = entry.get("vectors")
        if index.ntotal != len(entry["ids"]) or (expected is not None and index.ntotal != expected):
            raise HubindexError(f"{broken} does not match its manifest ({len(entry['ids'])} ids, {index.ntotal} "
                                "vectors): refusing to answer from it; rebuild the spaces with `hubindex reindex`")
        self._loaded[space] = index
        return index

    def search(self, space: str, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        entry = self.manifest[space]
        index = self._index(space)
        scores, rows = index.search(np.ascontiguousarray(vector[None, :], dtype=np.float32), min(k, index.ntotal))
        ids = entry["ids"]  # plain ints and floats first: indexing a list by numpy scalars costs a microsecond each
        return [(ids[r], s) for r, s in zip(rows[0].tolist(), scores[0].tolist(), strict=True) if r >= 0]
