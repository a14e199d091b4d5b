-- hubindex catalog, version 2: lineage inferred from the weights.

-- One row per model: its inferred parents and relation, recomputed when its family changes.
CREATE TABLE lineage (
    model_id    VARCHAR PRIMARY KEY,
    family      VARCHAR,
    parents     VARCHAR[] NOT NULL,
    relation    VARCHAR NOT NULL,        -- root | finetune | adapter | merge | quantized | copy
    confidence  DOUBLE NOT NULL,
    evidence    JSON NOT NULL
);

-- What each family's lineage was computed from: members and revisions. Unchanged families are not recomputed.
CREATE TABLE lineage_families (
    family      VARCHAR PRIMARY KEY,
    digest      VARCHAR NOT NULL,
    members     INTEGER NOT NULL,
    seconds     DOUBLE NOT NULL,
    computed_at TIMESTAMP NOT NULL
);
