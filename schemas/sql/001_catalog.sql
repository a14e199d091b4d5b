-- hubindex catalog, version 1. Applied by hubindex.catalog.migrations; never edit an applied file, add the next one.

-- One row per model id: its current revision and everything read from its folder or hub repo.
CREATE TABLE models (
    id                VARCHAR PRIMARY KEY,   -- org/name, relative to the indexed root
    revision          VARCHAR,               -- XXH3-128 content hash of the weight files (local) or commit sha (hub)
    source            VARCHAR NOT NULL,      -- where it was read: a local root or a hub endpoint
    path              VARCHAR,               -- local folder, when there is one
    kind              VARCHAR,               -- model | adapter
    status            VARCHAR NOT NULL,      -- indexed | weights_only | error | unsupported
    error             VARCHAR,               -- why, when status is not indexed
    architecture      VARCHAR,               -- config.json architectures[0]
    model_type        VARCHAR,
    layout            VARCHAR,               -- hash of tensor names and shapes
    params            BIGINT,
    dtype             VARCHAR,               -- dominant safetensors dtype
    files             JSON,                  -- [{name, bytes, xxh3_128}]
    file_stamp        VARCHAR,               -- sizes and mtimes of the weight files: unchanged means not re-read
    declared_base     VARCHAR[],             -- card base_model (a list for merges)
    declared_relation VARCHAR,               -- card base_model_relation
    adapter_base      VARCHAR,               -- adapter_config.json base_model_name_or_path
    tags              VARCHAR[],
    created_at        TIMESTAMP,             -- declared creation or upload time, when known
    family            VARCHAR,               -- family root, found from the weights
    base              VARCHAR,               -- model its Delta Activations are taken against
    base_source       VARCHAR,               -- declared | weights | probe-loss
    indexed_at        TIMESTAMP NOT NULL
);

-- Per-tensor statistics of the current revision (for adapters: of the effective delta on each target).
CREATE TABLE tensor_stats (
    model_id  VARCHAR NOT NULL,
    name      VARCHAR NOT NULL,
    dtype     VARCHAR NOT NULL,
    shape     INTEGER[] NOT NULL,
    numel     BIGINT NOT NULL,
    l2        DOUBLE,
    mean      DOUBLE,
    std       DOUBLE,
    absmax    DOUBLE,
    kurtosis  DOUBLE,
    PRIMARY KEY (model_id, name)
);

-- Weight signature: sampled coordinates (hubindex.fingerprint.sampling) and their CountSketch.
CREATE TABLE signatures (
    model_id  VARCHAR PRIMARY KEY,
    revision  VARCHAR NOT NULL,
    kind      VARCHAR NOT NULL,
    layout    VARCHAR NOT NULL,
    samples   FLOAT[] NOT NULL,              -- raw sampled values, tensors in name order
    sketch    FLOAT[] NOT NULL,
    meta      JSON
);

-- Delta Activations, one row per (model, method). Source of truth; FAISS indexes are rebuilt from here.
CREATE TABLE embeddings (
    model_id       VARCHAR NOT NULL,
    method         VARCHAR NOT NULL,
    revision       VARCHAR NOT NULL,         -- model revision it was computed from
    base           VARCHAR NOT NULL,
    base_revision  VARCHAR NOT NULL,
    vector         FLOAT[] NOT NULL,
    norm           DOUBLE NOT NULL,
    PRIMARY KEY (model_id, method)
);
