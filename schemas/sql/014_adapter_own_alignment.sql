-- hubindex catalog, version 14: per candidate base of an adapter, the first LoRA step's alignment on the
-- candidate's own passages (the TOP_PASSAGES task passages where the adapter, applied on that candidate, lowers the
-- loss most): on all of them, then with each left out in turn (hubindex.indexer.adapter_base.gradient_alignment).
-- NULL: measured before this column existed (`hubindex remeasure-bases --every` measures it).
ALTER TABLE adapter_base_facts ADD COLUMN own_alignment DOUBLE[];
