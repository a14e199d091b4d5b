"""CLI output in a pipe or a log: plain aligned tables at their natural width (never wrapped into one-word cells,
no box drawing), progress reported through the library's callback."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from hubindex.cli.main import cli

from hubindex.indexer.pipeline import index_paths
from tests.helpers import CONFIG, write_checkpoint

ORG = "an-organisation-with-a-rather-long-name"
BOX = re.compile("[\u2500-\u257f]")  # box-drawing characters


@pytest.fixture(scope="module")
def long_named(tmp_path_factory) -> tuple[Path, list[str]]:
    """A base and four finetunes with ids far wider than 80 columns together, indexed by weights only."""
    root = tmp_path_factory.mktemp("long-names")
    generator = torch.Generator().manual_seed(0)
    base = {f"model.layers.{i}.mlp.weight": torch.randn(64, 64, generator=generator) for i in range(4)}
    ids = [f"{ORG}/base-model-with-a-long-descriptive-name"]
    write_checkpoint(root / ids[0], base, CONFIG)
    for n in range(4):
        ids.append(f"{ORG}/finetune-number-{n}-of-the-base-with-a-long-name")
        step = {k: v + 0.02 * torch.randn(v.shape, generator=generator) for k, v in base.items()}
        write_checkpoint(root / ids[-1], step, CONFIG)
    calls: list[tuple[str, int, int]] = []
    report = index_paths(root / "cat.duckdb", [root], ["hubindex"], embed=False,
                         progress=lambda stage, done, total: calls.append((stage, done, total)))
    assert report.indexed == 5 and not report.failed, report
    return root / "cat.duckdb", ids, calls


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_progress_callback_counts_every_job(long_named):
    _, _, calls = long_named
    fingerprint = [c for c in calls if c[0] == "fingerprint"]
    assert fingerprint[0] == ("fingerprint", 0, 5) and fingerprint[-1] == ("fingerprint", 5, 5)
    assert [done for _, done, _ in fingerprint] == list(range(6))


@pytest.mark.parametrize("command", [["similar", "{id}", "--by", "weights", "-k", "4"], ["parents", "{id}", "-k", "3"],
                                     ["search", "finetune"]])
def test_tables_in_a_pipe_are_plain_and_unwrapped(long_named, command):
    db, ids, _ = long_named
    query = ids[1]
    out = _run(*[part.replace("{id}", query) for part in command], "--db", str(db))
    lines = [line for line in out.splitlines() if line.strip()]
    assert not BOX.search(out), out
    shown = [i for i in ids if i != query and any(i in line for line in lines)]
    assert shown, out  # every id printed whole, on one line with its row
    others = [i for i in ids if i != query or command[0] == "search"]
    rows = [line for line in lines if any(i in line for i in others)]
    assert len(rows) >= len(shown)
    assert max(len(line.rstrip()) for line in rows) > 80, out  # natural width, not folded into 80 columns
    # Aligned: the id column starts at the same offset in every row.
    starts = {min(line.index(i) for i in others if i in line) for line in rows}
    assert len(starts) == 1, out


def test_merge_candidates_table_in_a_pipe(tiny_catalog):
    """The tiny zoo's catalog (with Delta Activations): one line per candidate, the header on one line."""
    from hubindex.catalog import Catalog

    with Catalog(tiny_catalog, read_only=True) as catalog:
        model = next(m["id"] for m in catalog.models() if m["id"].endswith("-ft1") and m["kind"] == "model")
    out = _run("merge-candidates", model, "--db", str(tiny_catalog), "-k", "3")
    answer = json.loads(_run("merge-candidates", model, "--db", str(tiny_catalog), "-k", "3", "--json"))
    lines = out.splitlines()
    assert not BOX.search(out)
    for rank, candidate in enumerate(answer["candidates"], 1):
        (line,) = [line for line in lines if candidate["model"] in line]
        assert line.split()[0] == str(rank)
    header = next(line for line in lines if line.startswith("#"))
    assert "score" in header and "sign" in header


def test_reindex_json(long_named):
    import jsonschema

    from hubindex.schemas import schema_for

    db, ids, _ = long_named
    answer = json.loads(_run("reindex", "--db", str(db), "--json"))
    jsonschema.validate(answer, schema_for("reindexed"))
    assert answer["vectors"] == sum(answer["spaces"].values()) >= len(ids)  # every model has a weight signature
    assert Path(answer["spaces_dir"]).is_dir()


LIBRARY = [Path(__file__).resolve().parent.parent / part for part in ("hubindex", "api", "workers")]


def test_no_library_module_draws_progress():
    """Progress is the library's `(stage, done, total)` callback; only cli/ draws it (rich.progress, rich.live)."""
    drawing = {"rich.progress", "rich.live"}
    offenders = []
    for root in LIBRARY:
        for path in root.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom):  # `from rich.progress import X`, `from rich import progress`
                    names = [node.module or "", *(f"{node.module}.{a.name}" for a in node.names)]
                else:
                    names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                offenders += [f"{path}: {n}" for n in names if n in drawing]
    assert len(LIBRARY) == sum(root.is_dir() for root in LIBRARY) and not offenders, offenders
