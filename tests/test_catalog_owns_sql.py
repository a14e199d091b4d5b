"""The catalog owns all SQL: outside hubindex/catalog/ no module of the library or its shells (api/, workers/,
cli/) writes an SQL statement or reaches for the DuckDB connection (`.con`); they call Catalog methods and get
typed records back. Read with ast, nothing is imported."""

from __future__ import annotations

import ast
import re

from tests.test_import_graph import ROOT, TREES

# Statements as the code base writes them (keywords in capitals), not prose that starts with "select" or "update".
SQL = re.compile(r"\s*(SELECT \S|INSERT (OR REPLACE )?INTO|UPDATE \w+ SET|DELETE FROM|CREATE (TABLE|INDEX|VIEW)|"
                 r"ALTER TABLE|DROP (TABLE|INDEX)|BEGIN|COMMIT|ROLLBACK|WITH \w+ AS)")
CATALOG = ROOT / "hubindex" / "catalog"


def sql_outside_the_catalog() -> list[str]:
    found = []
    for tree in TREES.values():
        for path in sorted(tree.rglob("*.py")):
            if CATALOG in path.parents:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
                if isinstance(node, ast.Attribute) and node.attr == "con":
                    found.append(f"{where}: .con")
                elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.match(node.value):
                    found.append(f"{where}: {node.value[:60]!r}")
    return found


def test_the_finder_sees_sql_and_the_connection(tmp_path, monkeypatch):
    import tests.test_catalog_owns_sql as me

    (tmp_path / "bad.py").write_text('def f(catalog):\n    return catalog.con.execute("SELECT 1").fetchone()\n')
    (tmp_path / "fine.py").write_text('"""Select a model."""\nWORDS = ["select models", "UPDATE me", "Begin"]\n')
    monkeypatch.setattr(me, "TREES", {"t": tmp_path})
    monkeypatch.setattr(me, "ROOT", tmp_path)
    assert sorted(me.sql_outside_the_catalog()) == ["bad.py:2: 'SELECT 1'", "bad.py:2: .con"]


def test_no_sql_outside_the_catalog():
    found = sql_outside_the_catalog()
    assert not found, "SQL belongs behind Catalog methods (hubindex/catalog/):\n" + "\n".join(found)
