-- hubindex catalog, version 4: what a hub crawl saw per repo (numbered 004 so it sorts after other branches' 003).

-- One row per hub repo: the metadata of its last crawled commit and how it was fingerprinted. The weights' own rows
-- (models, signatures, tensor_stats) carry revision = sha; a repo whose sha is unchanged is not crawled again.
CREATE TABLE hub_models (
    id             VARCHAR PRIMARY KEY,
    endpoint       VARCHAR NOT NULL,
    sha            VARCHAR,               -- commit the row describes
    status         VARCHAR NOT NULL,      -- partial | full | unsupported | gated | missing | error
    reason         VARCHAR,               -- why, when not partial/full
    author         VARCHAR,
    pipeline_tag   VARCHAR,
    library_name   VARCHAR,
    gated          VARCHAR,               -- false | auto | manual
    private        BOOLEAN,
    created_at     TIMESTAMP,
    last_modified  TIMESTAMP,
    downloads      BIGINT,
    likes          BIGINT,
    tags           VARCHAR[],
    base_models    VARCHAR[],             -- the Hub's baseModels (from card base_model)
    base_relation  VARCHAR,
    card_data      JSON,
    siblings       VARCHAR[],
    bytes_total    BIGINT,                -- size of the weight files
    bytes_fetched  BIGINT,                -- what the crawl downloaded for this commit (headers, ranges, small files)
    requests       INTEGER,
    crawled_at     TIMESTAMP NOT NULL
);
