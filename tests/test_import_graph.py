"""The package import graph has no cycles: hubindex's subpackages (and its top-level modules), plus api/, workers/
and cli/ (installed as hubindex.api, .workers, .cli). Imports are read with ast, nothing is imported; imports inside
functions and under TYPE_CHECKING count too (a deferred import is still a dependency)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREES = {"hubindex": ROOT / "hubindex", "hubindex.api": ROOT / "api", "hubindex.workers": ROOT / "workers",
         "hubindex.cli": ROOT / "cli"}


def _units() -> set[str]:
    """`hubindex.<package or top-level module>`: the nodes of the graph."""
    units = {f"hubindex.{p.stem}" for p in TREES["hubindex"].glob("*.py") if p.stem != "__init__"}
    units |= {f"hubindex.{p.name}" for p in TREES["hubindex"].iterdir() if (p / "__init__.py").exists()}
    return units | set(TREES) - {"hubindex"}


def _unit_of(module: str, units: set[str]) -> str | None:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 and ".".join(parts[:2]) in units else None


def import_graph() -> dict[str, dict[str, str]]:
    """unit -> {imported unit: the first file:line that imports it}."""
    units, graph = _units(), {}
    for prefix, tree in TREES.items():
        for path in sorted(tree.rglob("*.py")):
            module = ".".join([prefix, *path.relative_to(tree).with_suffix("").parts])
            source = _unit_of(module, units)
            if source is None:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
                else:
                    continue
                for name in names:
                    target = _unit_of(name, units)
                    if target and target != source:
                        graph.setdefault(source, {}).setdefault(target, f"{path.relative_to(ROOT)}:{node.lineno}")
    return graph


def cycles(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_sees_a_cycle():
    graph = {"a": {"b": "x"}, "b": {"c": "y"}, "c": {"a": "z"}, "d": {"a": "w"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b": "x"}, "b": {}}) == []


def test_packages_import_each_other_without_cycles():
    graph = import_graph()
    assert {"hubindex.indexer", "hubindex.hub", "hubindex.catalog", "hubindex.workers"} <= set(graph)
    assert "hubindex.pipeline" in graph["hubindex.indexer"]  # the graph sees real edges
    problems = []
    for component in cycles(graph):
        edges = [f"{a} -> {b} ({graph[a][b]})" for a in component for b in component if b in graph.get(a, {})]
        problems.append("cycle: " + "; ".join(edges))
    assert not problems, "\n".join(problems)
    assert "hubindex.hub" not in graph["hubindex.indexer"]
    assert "hubindex.catalog" not in graph.get("hubindex.embed", {})


def test_the_library_imports_none_of_its_shells():
    """hubindex/ knows nothing of HTTP, queues or the command line: api/, workers/ and cli/ import it, never back."""
    shells = set(TREES) - {"hubindex"}
    graph = import_graph()
    found = [f"{unit} -> {shell} ({graph[unit][shell]})" for unit in sorted(set(graph) - shells)
             for shell in sorted(shells) if shell in graph[unit]]
    assert not found, "\n".join(found)


def test_the_query_service_starts_without_torch():
    """`hubindex serve` imports the command line and the API app; torch, transformers and peft (seconds of start-up)
    load only when a route that needs them runs (indexing jobs, parents ranked on request, search by examples)."""
    heavy = ("torch", "transformers", "peft")
    code = ("import sys, hubindex.cli.main, hubindex.cli.serve_cmd, hubindex.api.app; "
            f"print(' '.join(m for m in {heavy!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert loaded.stdout.split() == [], f"imported at start-up: {loaded.stdout}"


def test_every_subcommand_loads_under_its_name():
    """The CLI imports a subcommand's module when it runs (cli/main.py COMMANDS): each entry names a real command."""
    import click
    from hubindex.cli.main import COMMANDS, cli

    with click.Context(cli) as ctx:
        assert cli.list_commands(ctx) == sorted(COMMANDS)
        for name in COMMANDS:
            command = cli.get_command(ctx, name)
            assert isinstance(command, click.Command) and command.name == name, name
        assert cli.get_command(ctx, "no-such-command") is None
