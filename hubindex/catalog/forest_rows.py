"""The atlas forest read columnar: DuckDB writes every node's JSON and joins them into one string, so the answer at
1,000,000 models is a few queries, not a million Python objects (bench/index_scale.py).

The bytes are the ones pydantic writes for `AtlasForest.nodes` (`model_dump_json`): DuckDB's `to_json` and
pydantic's serializer agree on every string and double except control characters (DuckDB writes `\\u001F`,
pydantic `\\u001f`) and non-zero doubles under 1e-5 or from 1e15 in magnitude (positional vs exponent form). The
few such values a catalog holds are read first, written by pydantic's serializer, and handed to the query as
lookup maps (tests/test_atlas_forest_json.py holds one of each).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pydantic_core

from hubindex.catalog.store import Catalog
from hubindex.embed.methods import current_recipe
from hubindex.status import ModelKind, ModelStatus, Relation, ok_sql

# Embeddings taken against their model's family root, of the current recipe and revision: the deltas a map can
# draw (catalog/spaces.py `_kept_deltas` picks the same rows from whole embedding records).
ROOTED_FROM = "FROM embeddings e JOIN models m ON m.id = e.model_id"
ROOTED_WHERE = (f"e.method = $method AND e.recipe = $recipe AND m.status IN {ok_sql()} AND e.revision = m.revision "
                "AND m.family <> '' AND e.base = m.family")
FLOORS = "JOIN (SELECT unnest($families) AS family, unnest($floors) AS floor) f ON f.family = m.family"
# Doubles DuckDB's to_json writes as pydantic does (40,000 random doubles over 1e-320..1e20 and the edges).
PLAIN_DOUBLE = "(isnan({0}) OR isinf({0}) OR {0} = 0 OR (abs({0}) >= 1e-5 AND abs({0}) < 1e15))"
NODE_FAMILY = "CASE WHEN l.model_id IS NULL THEN m.family ELSE l.family END"  # lineage's, else the model row's


def _rooted(method: str) -> dict[str, str]:
    return {"method": method, "recipe": current_recipe(method)}


def _floors(floors: Mapping[str, float]) -> dict[str, list]:
    return {"families": list(floors), "floors": [float(f) for f in floors.values()]}


def rooted_norms_sorted(catalog: Catalog, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Families and norms of the rooted deltas as two arrays, sorted by family then norm."""
    found = catalog.con.execute(f"SELECT m.family, e.norm {ROOTED_FROM} WHERE {ROOTED_WHERE} ORDER BY 1, 2",
                                _rooted(method)).fetchnumpy()
    return np.asarray(found["family"], dtype=object), np.asarray(found["norm"], dtype=np.float64)


def rooted_above(catalog: Catalog, method: str, floors: Mapping[str, float]) -> list[tuple[str, str]]:
    """(family, model id) of the rooted deltas whose norm is above their family's floor, by model id."""
    return catalog.con.execute(
        f"SELECT m.family, e.model_id {ROOTED_FROM} {FLOORS} WHERE {ROOTED_WHERE} AND e.norm > f.floor ORDER BY 2",
        {**_rooted(method), **_floors(floors)}).fetchall()


def rooted_above_counts(catalog: Catalog, method: str, floors: Mapping[str, float]) -> dict[str, int]:
    """Per family: how many rooted deltas are above its floor."""
    return dict(catalog.con.execute(
        f"SELECT m.family, count(*) {ROOTED_FROM} {FLOORS} WHERE {ROOTED_WHERE} AND e.norm > f.floor GROUP BY 1",
        {**_rooted(method), **_floors(floors)}).fetchall())


def _check_vocabularies(catalog: Catalog) -> None:
    """An unknown kind, status or relation fails here as the typed answer's validation would (ValueError)."""
    for column, table, vocabulary in (("kind", "models", ModelKind), ("status", "models", ModelStatus),
                                      ("relation", "lineage", Relation)):
        for (value,) in catalog.con.execute(f"SELECT DISTINCT {column} FROM {table} "
                                            f"WHERE {column} IS NOT NULL AND {column} <> ''").fetchall():
            vocabulary(value)


def _odd_values(catalog: Catalog) -> tuple[dict[str, str], dict[float, str]]:
    """Strings with control characters and doubles outside PLAIN_DOUBLE, each with pydantic's JSON for it."""
    strings = [s for (s,) in catalog.con.execute(
        "SELECT DISTINCT s FROM (SELECT id AS s FROM models UNION ALL SELECT family FROM models "
        "UNION ALL SELECT unnest(tags) FROM models UNION ALL SELECT family FROM lineage "
        r"UNION ALL SELECT unnest(parents) FROM lineage) WHERE regexp_matches(s, '[\x00-\x1f]')").fetchall()]
    doubles = [c for (c,) in catalog.con.execute(
        f"SELECT DISTINCT confidence FROM lineage WHERE NOT {PLAIN_DOUBLE.format('confidence')}").fetchall()]
    return ({s: pydantic_core.to_json(s).decode() for s in strings},
            {c: pydantic_core.to_json(c).decode() for c in doubles})


def forest_nodes_json(catalog: Catalog, floors: Mapping[str, Mapping[str, float]]) -> str:
    """Every model's forest node as JSON: the `nodes` array of schemas/atlas_forest, by model id.

    `floors`: per Delta Activations method, in the answer's order, per family the norm a rooted delta must exceed
    to have a direction (catalog/spaces.py `direction_floors`)."""
    _check_vocabularies(catalog)
    strings, doubles = _odd_values(catalog)
    params: dict[str, object] = {}
    if strings:
        params |= {"odd_strings": list(strings), "odd_strings_json": list(strings.values())}
    if doubles:
        params |= {"odd_doubles": list(doubles), "odd_doubles_json": list(doubles.values())}

    def text(expr: str) -> str:
        if not strings:
            return f"to_json({expr})"
        return f"COALESCE(map_extract(MAP($odd_strings, $odd_strings_json), {expr})[1], to_json({expr}))"

    def texts(expr: str) -> str:
        if not strings:
            return f"to_json({expr})"
        return f"'[' || array_to_string(list_transform({expr}, lambda s: {text('s')}), ',') || ']'"

    confidence = "to_json(l.confidence)"
    if doubles:
        confidence = f"COALESCE(map_extract(MAP($odd_doubles, $odd_doubles_json), l.confidence)[1], {confidence})"
    joins, flags = [], []
    for i, (method, by_family) in enumerate(floors.items()):
        params |= {f"method{i}": method, f"recipe{i}": current_recipe(method), f"families{i}": list(by_family),
                   f"floors{i}": [float(f) for f in by_family.values()]}
        kept = (f"SELECT e.model_id {ROOTED_FROM} {FLOORS} WHERE {ROOTED_WHERE} AND e.norm > f.floor"
                .replace("$method", f"$method{i}").replace("$recipe", f"$recipe{i}")
                .replace("$families", f"$families{i}").replace("$floors", f"$floors{i}"))
        joins.append(f"LEFT JOIN ({kept}) d{i} ON d{i}.model_id = m.id")
        flags.append(f"CASE WHEN d{i}.model_id IS NOT NULL THEN '{pydantic_core.to_json(method).decode()}' END")
    methods = f"'[' || concat_ws(',', {', '.join(flags)}) || ']'" if flags else "'[]'"
    node = (f"""'{{"model":' || {text('m.id')} || ',"family":' || COALESCE({text(NODE_FAMILY)}, 'null') """
            """|| ',"kind":' || COALESCE(to_json(NULLIF(m.kind, '')), 'null') || ',"status":' || to_json(m.status) """
            """|| ',"relation":' || COALESCE(to_json(l.relation), 'null') """
            f"""|| ',"parents":' || CASE WHEN l.model_id IS NULL THEN '[]' ELSE {texts('l.parents')} END """
            f"""|| ',"confidence":' || CASE WHEN l.model_id IS NULL OR isnan(l.confidence) """
            f"""OR isinf(l.confidence) THEN 'null' ELSE {confidence} END """
            f"""|| ',"tags":' || COALESCE({texts('m.tags')}, '[]') || ',"delta_methods":' || {methods} || '}}'""")
    # The brackets joined by DuckDB: at 1M models the array is ~235 MB, so one Python copy fewer.
    return catalog.con.execute(f"SELECT '[' || COALESCE(string_agg({node}, ',' ORDER BY m.id), '') || ']' "
                               f"FROM models m LEFT JOIN lineage l ON l.model_id = m.id {' '.join(joins)}",
                               params).fetchone()[0]


def forest_family_sizes(catalog: Catalog) -> list[tuple[str, int]]:
    """Forest nodes per family (the node's family as `forest_nodes_json` writes it; empty ones left out)."""
    return catalog.con.execute(f"SELECT node_family, count(*) FROM (SELECT {NODE_FAMILY} AS node_family "
                               "FROM models m LEFT JOIN lineage l ON l.model_id = m.id) "
                               "WHERE node_family <> '' GROUP BY 1").fetchall()
