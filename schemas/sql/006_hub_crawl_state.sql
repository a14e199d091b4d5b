-- hubindex catalog, version 6: where each repo's creation time came from, the Hub's gated as a proper value, and
-- the listing cursor of a crawl in progress (a crawl killed mid-listing resumes from its last recorded page).

-- hub | first_commit | card | hub_floor (createdAt is the Hub's 2022-03-02T23:29:04Z floor: the repo is older).
ALTER TABLE hub_models ADD COLUMN created_source VARCHAR;
UPDATE hub_models SET created_source = CASE WHEN created_at <= TIMESTAMP '2022-03-02 23:29:04' THEN 'hub_floor'
                                             ELSE 'hub' END WHERE created_at IS NOT NULL;
-- gated: the Hub's false | "auto" | "manual"; earlier crawls stored Python's str() of it.
UPDATE hub_models SET gated = 'false' WHERE gated = 'False';
UPDATE hub_models SET gated = 'manual' WHERE gated = 'True';

-- One row per (endpoint, listing query) being crawled: the next page's URL (the Hub's cursor), written in the same
-- transaction as the rows of the page before it. Deleted when the listing is finished.
CREATE TABLE hub_crawl_cursors (
    endpoint    VARCHAR NOT NULL,
    query_key   VARCHAR NOT NULL,     -- the listing query, canonical JSON
    next_url    VARCHAR NOT NULL,
    listed      BIGINT NOT NULL,      -- repos recorded so far by this listing
    started_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (endpoint, query_key)
);
