"""DuckDB catalog access. One read-write connection per file (DuckDB's rule); readers open it read-only.

Rows are keyed on model id and carry the revision they describe. Re-recording a model with the same revision
changes nothing; a new revision replaces its signature, statistics and embeddings in one transaction; a failure on a
model already indexed keeps its last good rows and marks the status, so a bad upload never erases data.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np

from hubindex.catalog import stamp
from hubindex.catalog.migrations import available, current_version, migrate
from hubindex.catalog.records import (
    _KINDS,
    _RELATIONS,
    _STATUSES,
    ColumnMapping,
    DeltaTarget,
    EmbeddingRecord,
    LineageEdge,
    LineageRecord,
    MemberEmbedding,
    ModelBrief,
    ModelRecord,
    Placement,
    SignatureRecord,
    StoredParent,
    TensorStatRecord,
)
from hubindex.catalog.terms import text_terms
from hubindex.embed.methods import current_recipe
from hubindex.errors import HubindexError, NotFoundError
from hubindex.status import BaseSource, ModelKind, ModelStatus, Relation, ok_sql

if TYPE_CHECKING:  # fingerprinting reads checkpoints with torch; readers of the catalog never need it
    from hubindex.fingerprint import WeightSignature

MODEL_COLUMNS = ("id", "revision", "source", "path", "kind", "status", "error", "architecture", "model_type", "layout",
                 "params", "dtype", "files", "file_stamp", "declared_base", "declared_relation", "adapter_base", "tags",
                 "created_at", "family", "base", "base_source", "indexed_at", "card_text")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Catalog:
    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        self.path = Path(path)
        if read_only and not self.path.exists():
            raise HubindexError(f"{self.path}: no catalog here; create one with `hubindex index PATH --db {path}`")
        try:
            connection = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as exc:
            raise HubindexError(f"{self.path}: cannot open catalog ({exc})") from None
        self._key = str(self.path.resolve())
        stamp.touch(self._key)  # another process may have written the file since this one last held it
        self.con = stamp.TrackedConnection(connection, self._key)
        if read_only:
            if current_version(self.con) != available()[-1][0]:
                raise HubindexError(f"{self.path}: catalog schema is out of date; run `hubindex reindex --db {path}`")
        else:
            migrate(self.con)

    def cursor_view(self) -> Catalog:
        """The same catalog over a new cursor of this connection, for one thread or request.

        A DuckDB connection object is not safe to share across threads, and only one process may hold the file
        read-write, so a server opens one Catalog for its lifetime and hands each request its own view.
        Closing the view closes only its cursor.
        """
        view = object.__new__(Catalog)
        view.path, view._key = self.path, self._key
        view.con = self.con.cursor()
        return view

    @property
    def write_stamp(self) -> int:
        """Changes after every write to this file by this process, and when the file is opened: equal stamps mean
        an unchanged catalog (catalog/stamp.py). Costs a dict lookup, where `state_digest` scans tables."""
        return stamp.stamp(self._key)

    @cached_property
    def spaces_dir(self) -> Path:
        """The FAISS folder beside the file; one Path per catalog object (`/similar` reads it twice a request, and
        a fresh Path costs its parsing again wherever it is hashed)."""
        return self.path.with_name(self.path.name + ".faiss")

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """What is written inside commits together, or (on any exception, KeyboardInterrupt included) not at all."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    # ---- reads
    def _rows(self, sql: str, params: list | None = None) -> list[dict]:
        cursor = self.con.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _records(self, kind: type[ColumnMapping], sql: str, params: list | None = None) -> list:
        cursor = self.con.execute(sql, params or [])
        return kind.from_rows([d[0] for d in cursor.description], cursor.fetchall())

    def model(self, model_id: str) -> ModelRecord | None:
        rows = self._records(ModelRecord, "SELECT * REPLACE (coalesce(files, '[]') AS files) FROM models WHERE id = ?",
                             [model_id])
        return rows[0] if rows else None

    def require(self, model_id: str) -> ModelRecord:
        row = self.model(model_id)
        if row is None:
            raise NotFoundError(f"model {model_id!r} is not in the catalog {self.path.name}")
        return row

    def models(self, ok_only: bool = False) -> list[ModelRecord]:
        """Every model (with a signature when `ok_only`), by id; without `files` and `card_text` (None here)."""
        where = f"WHERE status IN {ok_sql()}" if ok_only else ""
        return self._records(ModelRecord, f"SELECT * EXCLUDE (files, card_text) FROM models {where} ORDER BY id")

    def placements(self, model_ids: list[str] | None = None) -> dict[str, Placement]:
        """Family and kind of these models (of every model when None)."""
        if model_ids is None:
            rows = self.con.execute("SELECT id, family, kind FROM models").fetchall()
        else:
            rows = self.con.execute("SELECT id, family, kind FROM models WHERE id IN (SELECT unnest(?))",
                                    [model_ids]).fetchall()
        return {r[0]: Placement.of(r[1], r[2]) for r in rows}

    def delta_target(self, model_id: str, method: str) -> DeltaTarget | None:
        """What `similar --by delta` reads of the asking model (None when it is not in the catalog)."""
        # Two primary-key lookups: a join would read every embedding of the method.
        row = self.con.execute("SELECT status, error, family FROM models WHERE id = ?", [model_id]).fetchone()
        if row is None:
            return None
        emb = self.con.execute("SELECT vector, norm FROM embeddings WHERE model_id = ? AND method = ?",
                               [model_id, method]).fetchone()
        return DeltaTarget(status=ModelStatus(row[0]), error=row[1], family=row[2],
                           vector=None if emb is None else np.asarray(emb[0], dtype=np.float32),
                           norm=None if emb is None else emb[1])

    def delta_target_columns(self, method: str) -> dict[str, np.ndarray]:
        """`delta_target` of every model at once, as columns (id, status, error, family, vector, norm; masked where
        NULL): what catalog/delta_targets.py keeps in memory."""
        return self.con.execute("SELECT m.id, m.status, m.error, m.family, e.vector, e.norm FROM models m "
                                "LEFT JOIN embeddings e ON e.model_id = m.id AND e.method = ?", [method]).fetchnumpy()

    def tensor_stats(self, model_id: str) -> list[TensorStatRecord]:
        return self._records(TensorStatRecord, "SELECT * EXCLUDE (model_id) FROM tensor_stats WHERE model_id = ? "
                             "ORDER BY name", [model_id])

    def signature(self, model_id: str) -> SignatureRecord | None:
        rows = self._rows("SELECT * FROM signatures WHERE model_id = ?", [model_id])
        if not rows:
            return None
        shapes = {r.name: tuple(r.shape) for r in self.tensor_stats(model_id)}
        columns = [*rows[0], "shapes"]
        return SignatureRecord.from_rows(columns, [(*rows[0].values(), shapes)])[0]

    def applied_base(self, row: Mapping) -> str | None:
        """The model an adapter is applied on: its resolved base (a declared one is checked before it is used),
        else its declared base when that is indexed."""
        declared = row.get("adapter_base")
        if row.get("base"):
            return row["base"]
        return declared if declared and self.signature(declared) is not None else None

    def embedding(self, model_id: str, method: str) -> EmbeddingRecord | None:
        """The model's embedding by `method`'s current recipe (a row of another recipe counts as missing)."""
        row = self.con.execute("SELECT model_id, method, revision, base, base_revision, vector, norm, recipe, "
                               "applied_on, applied_revision FROM embeddings "
                               "WHERE model_id = ? AND method = ? AND recipe = ?",
                               [model_id, method, current_recipe(method)]).fetchone()
        if row is None:
            return None
        return EmbeddingRecord(*row[:5], np.asarray(row[5], dtype=np.float32), *row[6:])

    def embeddings(self, method: str, family: str | None = None) -> list[MemberEmbedding]:
        """Current embeddings of ok models with their family (or of one family)."""
        rows = self.con.execute(
            "SELECT e.model_id, e.method, e.revision, e.base, e.base_revision, e.vector, e.norm, e.recipe, "
            "e.applied_on, e.applied_revision, m.family "
            "FROM embeddings e JOIN models m ON m.id = e.model_id "
            f"WHERE e.method = ? AND e.recipe = ? AND m.status IN {ok_sql()} AND e.revision = m.revision "
            f"{'AND m.family = ? ' if family else ''}ORDER BY e.model_id",
            [method, current_recipe(method), *([family] if family else [])]).fetchall()
        return [MemberEmbedding(*r[:5], np.asarray(r[5], dtype=np.float32), *r[6:]) for r in rows]

    def models_brief(self, family: str | None = None) -> list[ModelBrief]:
        """id, kind, status, family and tags of every model (or of one family's): what views of the whole catalog
        need, read fast."""
        where, params = ("WHERE family = ? ", [family]) if family is not None else ("", [])
        rows = self.con.execute(f"SELECT id, kind, status, family, tags FROM models {where}ORDER BY id",
                                params).fetchall()
        return [ModelBrief(id=r[0], kind=_KINDS[r[1]] if r[1] else None, status=_STATUSES[r[2]], family=r[3],
                           tags=r[4] or []) for r in rows]

    def lineage_edges(self) -> list[LineageEdge]:
        """Every model's parents, relation, confidence and family, without the evidence."""
        rows = self.con.execute("SELECT model_id, family, parents, relation, confidence FROM lineage "
                                "ORDER BY model_id").fetchall()
        return [LineageEdge(model_id=r[0], family=r[1], parents=list(r[2]), relation=_RELATIONS[r[3]],
                            confidence=r[4]) for r in rows]

    def lineage(self, model_id: str | None = None, family: str | None = None) -> list[LineageRecord]:
        """Lineage of one model, of one family, or of every model; by model id."""
        where, params = ("WHERE model_id = ?", [model_id]) if model_id else ("", [])
        if family is not None:
            where, params = (f"{where} AND family = ?" if where else "WHERE family = ?"), [*params, family]
        rows = self.con.execute(f"SELECT model_id, family, parents, relation, confidence, evidence FROM lineage "
                                f"{where} ORDER BY model_id", params).fetchall()
        return [LineageRecord(model_id=r[0], family=r[1], parents=list(r[2]), relation=Relation(r[3]),
                              confidence=r[4], evidence=json.loads(r[5])) for r in rows]

    def family_digest(self, family: str) -> str | None:
        row = self.con.execute("SELECT digest FROM lineage_families WHERE family = ?", [family]).fetchone()
        return row[0] if row else None

    def stored_parents(self, model_id: str, k: int) -> list[StoredParent] | None:
        """The first k stored parent candidates of a model, best first; None when its family's candidates were not
        ranked from its current lineage (a catalog indexed before they were stored, or lineage newer than them)."""
        family = self.con.execute("SELECT family FROM lineage WHERE model_id = ?", [model_id]).fetchone()
        if family is None:
            return None
        current = self.con.execute("SELECT (SELECT digest FROM lineage_families WHERE family = $1) = "
                                   "(SELECT digest FROM parent_rankings WHERE family = $1)", [family[0]]).fetchone()
        if not current[0]:
            return None
        rows = self.con.execute("SELECT candidate, score, distance, allowed, evidence FROM parent_candidates "
                                "WHERE model_id = ? ORDER BY rank LIMIT ?", [model_id, k]).fetchall()
        return [StoredParent(candidate=r[0], score=r[1], distance=r[2], allowed=r[3], evidence=json.loads(r[4]))
                for r in rows]

    def unranked_parent_families(self) -> dict[str, str]:
        """family -> lineage digest, for families whose parent candidates are missing or older than their lineage."""
        return dict(self.con.execute(
            "SELECT f.family, f.digest FROM lineage_families f LEFT JOIN parent_rankings r ON r.family = f.family "
            "WHERE r.digest IS DISTINCT FROM f.digest ORDER BY f.family").fetchall())

    def state_digest(self) -> str:
        """A digest of what the catalog's views are computed from (models, lineage, embeddings): equal digests mean
        an unchanged catalog, whichever process or code path wrote it. One scan of each table, no row leaves DuckDB."""
        row = self.con.execute(
            "SELECT (SELECT count(*) || ':' || coalesce(bit_xor(hash(id, revision, status, kind, family, base, "
            "tags::VARCHAR)), 0) FROM models), (SELECT count(*) || ':' || coalesce(bit_xor(hash(model_id, family, "
            "parents::VARCHAR, relation, confidence)), 0) FROM lineage), (SELECT count(*) || ':' || "
            "coalesce(bit_xor(hash(model_id, method, revision, base, base_revision, norm, applied_on)), 0) "
            "FROM embeddings)"
        ).fetchone()
        return "/".join(row)

    def counts(self) -> dict[ModelStatus, int]:
        """Models per status."""
        rows = self.con.execute("SELECT status, count(*) FROM models GROUP BY status").fetchall()
        return {ModelStatus(s): n for s, n in rows}

    # ---- writes
    def record_model(self, row: dict, signature: WeightSignature) -> None:
        """Insert or replace a model at a revision, with its signature and statistics, atomically."""
        previous = self.model(row["id"])
        row = {**row, "status": ModelStatus(row["status"]), "revision": signature.revision,
               "kind": ModelKind(signature.kind), "layout": signature.layout,
               "params": signature.params, "files": json.dumps(signature.files), "indexed_at": _now()}
        same = previous is not None and previous.revision == signature.revision
        if previous is not None:  # lineage and base choices survive a re-record at the same revision
            for key in ("family", "base", "base_source"):
                row.setdefault(key, getattr(previous, key) if same else None)
        values = [row.get(c) for c in MODEL_COLUMNS]
        with self.transaction():
            self._delete(row["id"], keep_embeddings=same)
            self.con.execute(f"INSERT INTO models ({', '.join(MODEL_COLUMNS)}) VALUES "
                             f"({', '.join('?' * len(MODEL_COLUMNS))})", values)
            self.con.executemany(
                "INSERT INTO tensor_stats VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [[row["id"], t.name, t.dtype, t.shape, t.numel, t.l2, t.mean, t.std, t.absmax, t.kurtosis]
                 for t in signature.tensors])
            self.con.execute("INSERT INTO signatures VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [row["id"], signature.revision, signature.kind, signature.layout,
                              signature.sample_vector().tolist(), signature.sketch.tolist(),
                              json.dumps(signature.meta)])
            terms = sorted(text_terms(row.get("card_text")))
            if terms:
                self.con.execute("INSERT INTO card_terms SELECT ?, unnest(?)", [row["id"], terms])

    def record_failure(self, model_id: str, source: str, path: str | None, status: ModelStatus, error: str) -> None:
        """Mark a model bad; a model indexed before keeps its last good rows (status says they are stale)."""
        status = ModelStatus(status)  # a value outside the vocabulary is refused here, not by every later reader
        if self.model(model_id) is None:
            self.con.execute("INSERT INTO models (id, source, path, status, error, indexed_at) "
                             "VALUES (?, ?, ?, ?, ?, ?)", [model_id, source, path, status, error, _now()])
        else:
            self.con.execute("UPDATE models SET status = ?, error = ?, file_stamp = NULL, indexed_at = ? WHERE id = ?",
                             [status, error, _now(), model_id])

    def set_status(self, model_id: str, status: ModelStatus, error: str | None) -> None:
        status = ModelStatus(status)
        self.con.execute("UPDATE models SET status = ?, error = ? WHERE id = ?", [status, error, model_id])

    def set_base(self, model_id: str, family: str | None, base: str | None, base_source: BaseSource | None,
                 margin: float | None = None) -> None:
        """`margin`: how clearly a gradient decision chose the base (BaseSource.GRADIENT only)."""
        base_source = None if base_source is None else BaseSource(base_source)
        self.con.execute("UPDATE models SET family = ?, base = ?, base_source = ?, base_margin = ? WHERE id = ?",
                         [family, base, base_source, margin, model_id])

    def save_embedding(self, model_id: str, method: str, revision: str, base: str, base_revision: str,
                       vector: np.ndarray, recipe: str, applied: tuple[str, str] | None = None) -> None:
        """`applied`: for an adapter, (model id, revision) of the model it was applied on."""
        applied_on, applied_revision = applied or (None, None)
        self.con.execute("INSERT OR REPLACE INTO embeddings (model_id, method, revision, base, base_revision, vector, "
                         "norm, recipe, applied_on, applied_revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         [model_id, method, revision, base, base_revision, vector.astype(np.float32).tolist(),
                          float(np.linalg.norm(vector)), recipe, applied_on, applied_revision])

    def replace_lineage(self, family: str, digest: str, entries: list[dict], seconds: float) -> None:
        """Swap in a family's recomputed lineage in one transaction."""
        with self.transaction():
            self.con.execute("DELETE FROM lineage WHERE family = ? OR model_id IN (SELECT unnest(?))",
                             [family, [e["model"] for e in entries]])
            self.con.executemany("INSERT INTO lineage VALUES (?, ?, ?, ?, ?, ?)",
                                 [[e["model"], family, e["parents"], e["relation"], e["confidence"],
                                   json.dumps(e["evidence"])] for e in entries])
            self.con.execute("INSERT OR REPLACE INTO lineage_families VALUES (?, ?, ?, ?, ?)",
                             [family, digest, len(entries), seconds, _now()])

    def replace_parent_candidates(self, family: str, digest: str, ranked: dict[str, list[dict]]) -> None:
        """Swap in a family's ranked parent candidates (model -> candidates, best first) in one transaction."""
        cols: dict[str, list] = {c: [] for c in ("model_id", "rank", "candidate", "score", "distance", "allowed",
                                                 "evidence")}
        for model_id, candidates in ranked.items():
            for rank, c in enumerate(candidates):
                for key, value in (("model_id", model_id), ("rank", rank), ("candidate", c["model"]),
                                   ("score", c["score"]), ("distance", c["distance"]), ("allowed", c["allowed"]),
                                   ("evidence", json.dumps(c["evidence"]))):
                    cols[key].append(value)
        with self.transaction():
            self.con.execute("DELETE FROM parent_candidates WHERE family = ? OR model_id IN (SELECT unnest(?))",
                             [family, list(ranked)])
            if cols["model_id"]:
                self.con.execute(
                    "INSERT INTO parent_candidates SELECT unnest(?), ?, unnest(?), unnest(?), unnest(?), "
                    "unnest(?::DOUBLE[]), unnest(?), unnest(?)::JSON",
                    [cols["model_id"], family, cols["rank"], cols["candidate"], cols["score"], cols["distance"],
                     cols["allowed"], cols["evidence"]])
            self.con.execute("INSERT OR REPLACE INTO parent_rankings VALUES (?, ?)", [family, digest])

    def drop_stale_parent_candidates(self) -> None:
        """Forget rankings of families whose lineage is gone (drop_stale_lineage ran first)."""
        self.con.execute("DELETE FROM parent_rankings WHERE family NOT IN (SELECT family FROM lineage_families)")
        self.con.execute("DELETE FROM parent_candidates WHERE family NOT IN (SELECT family FROM parent_rankings) "
                         "OR model_id NOT IN (SELECT model_id FROM lineage)")

    def drop_stale_lineage(self, families: set[str]) -> None:
        """Forget lineage of families that no longer exist and of models no longer indexed."""
        self.con.execute("DELETE FROM lineage_families WHERE family NOT IN (SELECT unnest(?))", [sorted(families)])
        self.con.execute("DELETE FROM lineage WHERE family NOT IN (SELECT unnest(?)) OR model_id NOT IN "
                         f"(SELECT id FROM models WHERE status IN {ok_sql()})", [sorted(families)])

    def prune(self, source: str, keep: set[str]) -> list[str]:
        """Delete models read from `source` that are no longer there."""
        gone = [r[0] for r in self.con.execute("SELECT id FROM models WHERE source = ?", [source]).fetchall()
                if r[0] not in keep]
        for model_id in gone:
            self._delete(model_id, keep_embeddings=False)
        return gone

    def _delete(self, model_id: str, keep_embeddings: bool) -> None:
        self.con.execute("DELETE FROM card_terms WHERE model_id = ?", [model_id])
        self.con.execute("DELETE FROM tensor_stats WHERE model_id = ?", [model_id])
        self.con.execute("DELETE FROM signatures WHERE model_id = ?", [model_id])
        if not keep_embeddings:
            self.con.execute("DELETE FROM embeddings WHERE model_id = ?", [model_id])
            self.con.execute("DELETE FROM lineage WHERE model_id = ?", [model_id])
        self.con.execute("DELETE FROM models WHERE id = ?", [model_id])


class ThreadViews:
    """One cursor view of a catalog per thread, kept for the thread's life: a server's hot route reuses it where
    opening and closing a cursor per request cost 0.1 ms (closing the catalog closes them all)."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog, self._local = catalog, threading.local()

    def get(self) -> Catalog:
        view = getattr(self._local, "view", None)
        if view is None:
            view = self._local.view = self._catalog.cursor_view()
        return view
