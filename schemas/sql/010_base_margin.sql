-- hubindex catalog, version 10: how clearly an adapter's base was decided. An adapter's base chosen among several
-- full models by gradient alignment (base_source 'gradient') keeps the decision's margin: the chosen candidate's
-- alignment over the runner-up's, relative (0 tied, 1 alone); its lineage confidence is read from it.
ALTER TABLE models ADD COLUMN base_margin DOUBLE;
