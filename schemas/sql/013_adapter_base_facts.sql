-- hubindex catalog, version 13: what the bases stage measured per candidate base of an adapter, so that the
-- decision among them (hubindex.lineage.adapter_choice) can be taken again by the lineage update when its rule
-- changes, without loading any model. One row per (adapter, candidate) for the adapter revision measured;
-- replaced whole when the bases stage measures that adapter again.
CREATE TABLE adapter_base_facts (
    adapter       VARCHAR NOT NULL,
    revision      VARCHAR NOT NULL,
    candidate     VARCHAR NOT NULL,
    preferred     BOOLEAN NOT NULL,  -- the weights' choice (base_source 'weights' before the gradient ran)
    continuation  DOUBLE,            -- weights: best cosine of the adapter's delta with the candidate's continuations
    offset_cosine DOUBLE,            -- weights: cosine of the delta with the candidate's offset from its root
    alignment     DOUBLE,            -- gradient alignment on all passages (NULL: the candidate did not load)
    held_out      DOUBLE[],          -- the same with each passage left out in turn
    simulated     DOUBLE,            -- alignment with B after a few simulated Adam steps (adapter_base.simulated_b)
    PRIMARY KEY (adapter, candidate)
);

-- The gradient alignment of the base an adapter has now (of its facts above; NULL without them): how much the
-- gradient said at all, next to base_margin (how clearly it chose). Read by the lineage confidence.
ALTER TABLE models ADD COLUMN base_alignment DOUBLE;
