"""What the atlas page draws: a compact lineage forest of the whole catalog and 2-D maps of Delta Activations."""

from hubindex.atlas.answers import AtlasForest, AtlasMap
from hubindex.atlas.forest import forest, forest_json
from hubindex.atlas.projection import family_map

__all__ = ["AtlasForest", "AtlasMap", "family_map", "forest", "forest_json"]
