-- hubindex catalog, version 8: ranked parent candidates, stored when lineage runs (`/parents` reads them).

-- One row per (model, rank): the chosen parents first, then the engine's other candidates, as `hubindex parents`
-- answers. Recomputed with the family's lineage.
CREATE TABLE parent_candidates (
    model_id    VARCHAR NOT NULL,
    family      VARCHAR NOT NULL,
    rank        INTEGER NOT NULL,
    candidate   VARCHAR NOT NULL,
    score       DOUBLE NOT NULL,
    distance    DOUBLE,
    allowed     BOOLEAN NOT NULL,
    evidence    JSON NOT NULL
);
CREATE INDEX parent_candidates_model ON parent_candidates (model_id);

-- The lineage digest (lineage_families.digest) each family's candidates were ranked from: a family whose lineage
-- moved on is ranked again, and until then `/parents` ranks it on request.
CREATE TABLE parent_rankings (
    family      VARCHAR PRIMARY KEY,
    digest      VARCHAR NOT NULL
);
