-- hubindex catalog, version 7: each embedding records the recipe it was computed with (`method/hash` of probes,
-- read-out, truncation, tokenizer and dtype policy: hubindex.embed.methods EmbeddingMethod.recipe). Only rows of the
-- method's current recipe are read (similar, search, FAISS spaces); any other row counts as missing, so the next
-- `index` re-embeds it instead of mixing vectors of two recipes. Rows from before this version have no recipe (NULL):
-- they are re-embedded by the next `index`.
ALTER TABLE embeddings ADD COLUMN recipe VARCHAR;
