"""The catalog: DuckDB tables (source of truth) plus FAISS indexes rebuilt from them."""

from hubindex.catalog.store import Catalog

__all__ = ["Catalog"]
