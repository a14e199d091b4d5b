-- hubindex catalog, version 15: the model an adapter was applied on when its Delta Activations were taken, at which
-- revision. Lineage can move an adapter to another base after it was embedded (the bases stage, `update_lineage`'s
-- re-decision); the stored vector is then that of another model and must be taken again
-- (hubindex.indexer.embedding.stale). NULL for full models, and for adapters embedded before this column existed
-- (embedded again once, by the next index run).
ALTER TABLE embeddings ADD COLUMN applied_on VARCHAR;
ALTER TABLE embeddings ADD COLUMN applied_revision VARCHAR;
