"""`--json` answers of the commands that print a result (each checked against its schema in schemas/), and the
plain progress lines long commands write to stderr when it is not a terminal."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
from click.testing import CliRunner
from hubindex.cli.main import cli

from hubindex import corpus
from hubindex.schemas import schema_for
from tests.conftest import TEST_SEED
from tests.hub_server import HubServer

PLAIN_LINE = re.compile(r"^(?P<stage>[^:]+): (?P<done>\d+)(?:/(?P<total>\d+))?$")


def _invoke(*args: str, env: dict | None = None):
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env)
    assert result.exit_code == 0, result.output
    return result


def progress_lines(stderr: str, stage: str) -> list[tuple[int, int]]:
    """The `(done, total)` of every plain progress line of `stage` (total 0 when not known)."""
    found = [PLAIN_LINE.match(line) for line in stderr.splitlines()]
    return [(int(m["done"]), int(m["total"] or 0)) for m in found if m and m["stage"] == stage]


def test_zoo_build_and_domains_json(tiny_zoo):
    """A finished zoo: `zoo build` returns at once; its answer is zoo.json's, and a log gets the final count."""
    args = ("zoo", "build", tiny_zoo, "--size", "tiny", "--seed", TEST_SEED, "--jobs", "1")
    answer = json.loads(_invoke(*args, "--json").stdout)
    jsonschema.validate(answer, schema_for("zoo_built"))
    models = len(json.loads((tiny_zoo / "truth.json").read_text()))
    assert answer["models"] == models and answer["built_models"] == 0 and answer["seed"] == TEST_SEED
    plain = _invoke(*args)
    assert plain.stdout == "" and "zoo ready" in plain.stderr
    assert progress_lines(plain.stderr, "zoo")[-1] == (models, models)

    domains = json.loads(_invoke("zoo", "domains", "--json").stdout)
    jsonschema.validate(domains, schema_for("domains"))
    assert [d["name"] for d in domains] == corpus.domain_names() and all(d["sample"] for d in domains)
    table = _invoke("zoo", "domains").stdout.splitlines()
    assert all(any(line.split()[0] == d["name"] for line in table if line.strip()) for d in domains)


@pytest.mark.usefixtures("online")
def test_crawl_reports_each_repo_to_the_cli(tiny_zoo, tmp_path):
    """Progress from the library's callback: one count per fingerprinted repo, written as plain lines in a log."""
    from hubindex.hub.crawl import crawl
    from hubindex.hub.source import CrawlQuery, HubSource

    calls: list[tuple[str, int, int]] = []
    with HubServer(tiny_zoo, page_size=2) as hub:
        report = crawl(tmp_path / "lib.duckdb", CrawlQuery(limit=3), HubSource(endpoint=hub.endpoint),
                       progress=lambda *call: calls.append(call))
        result = _invoke("crawl", "--db", tmp_path / "cli.duckdb", "--limit", "2",
                         env={"HF_HUB_OFFLINE": None, "HF_ENDPOINT": hub.endpoint})
    assert report.fingerprinted == 3
    assert [done for stage, done, total in calls if stage == "crawl" and total == 3][:1] == [0]
    assert sorted({done for _, done, _ in calls}) == [0, 1, 2, 3]  # each repo, then each page again
    assert progress_lines(result.stderr, "crawl")[-1] == (2, 2)
    assert "2 listed at" in result.stdout
