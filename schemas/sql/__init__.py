"""Catalog DDL: numbered SQL migrations, applied by hubindex.catalog.migrations."""
