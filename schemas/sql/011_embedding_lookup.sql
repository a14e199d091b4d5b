-- hubindex catalog, version 11: `similar --by delta` reads the asking model's embedding by (model_id, method). The
-- composite primary key's index is not used for that parameterised lookup (a scan: 6.4 ms at 100k models), an
-- index on model_id alone is (1.3 ms).
CREATE INDEX IF NOT EXISTS embeddings_model ON embeddings (model_id);
