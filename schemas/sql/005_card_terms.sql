-- hubindex catalog, version 5: card text searched by word. The duckdb-extension-fts wheels on PyPI (1.5.x) are
-- built for duckdb 1.5 and do not load in the duckdb 2.x this catalog runs on, so the catalog keeps its own term
-- table: one row per model and distinct lower-case term of its card (hubindex/catalog/terms.py).
CREATE TABLE card_terms (model_id VARCHAR NOT NULL, term VARCHAR NOT NULL);
-- Before this version card text never reached the catalog: forget the stamp of local models without it, so the
-- next `hubindex index` of their folders reads them (and their cards) again.
UPDATE models SET file_stamp = NULL WHERE card_text IS NULL AND path IS NOT NULL;
