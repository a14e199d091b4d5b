"""`hubindex index` on a Hugging Face cache laid out by huggingface_hub itself (snapshot_download / hf_hub_download
against the local test hub): ids, revisions, symlinks into blobs/, and links that leave the cache refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from hubindex.cli.main import cli

from hubindex.catalog import Catalog
from hubindex.hub.source import go_online
from hubindex.indexer.discover import discover
from tests.hub_server import HubServer

ALLOW = ["*.safetensors", "*.json", "*.txt", "*.model", "README.md"]


@pytest.fixture(scope="module")
def trio(tiny_zoo) -> dict[str, str]:
    """A Llama base, one of its full finetunes and one of its adapters, by role."""
    truth = json.loads((tiny_zoo / "truth.json").read_text())
    base = next(m for m, e in truth.items() if not e["parents"] and e["arch"] == "llama")
    finetune = next(m for m, e in truth.items() if e["parents"] == [base] and e["relation"] == "finetune")
    adapter = next(m for m, e in truth.items() if e["parents"] == [base] and e["relation"] == "adapter")
    config_only = next(m for m, e in truth.items() if not e["parents"] and m != base)
    return {"base": base, "finetune": finetune, "adapter": adapter, "config_only": config_only}


@pytest.fixture(scope="module")
def hf_cache(tiny_zoo, trio, tmp_path_factory) -> Path:
    """A cache filled by huggingface_hub: three whole snapshots and one model of which only config.json came down."""
    from huggingface_hub import constants, hf_hub_download, snapshot_download

    cache = tmp_path_factory.mktemp("hf-cache")
    offline = os.environ.get("HF_HUB_OFFLINE")
    go_online()
    try:
        with HubServer(tiny_zoo) as hub:
            for role in ("base", "finetune", "adapter"):
                snapshot_download(trio[role], cache_dir=cache, endpoint=hub.endpoint, allow_patterns=ALLOW)
            hf_hub_download(trio["config_only"], "config.json", cache_dir=cache, endpoint=hub.endpoint)
    finally:
        os.environ["HF_HUB_OFFLINE"] = offline or "1"
        constants.HF_HUB_OFFLINE = True
    return cache


def _index(cache: Path, db: Path, *args: str) -> dict:
    env = {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    result = CliRunner().invoke(cli, ["index", *args, "--db", str(db), "--json"], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_index_with_no_path_reads_the_hf_cache(hf_cache, trio, tmp_path):
    db = tmp_path / "cache.duckdb"
    report = _index(hf_cache, db)  # no PATH: $HF_HUB_CACHE
    assert report["indexed"] == 3 and not report["failed"], report
    assert any(trio["config_only"] in s and "no weight files" in s for s in report["skipped"]), report
    with Catalog(db, read_only=True) as catalog:
        for role in ("base", "finetune", "adapter"):
            model_id = trio[role]
            repo = hf_cache / f"models--{model_id.replace('/', '--')}"
            sha = (repo / "refs" / "main").read_text().strip()
            row = catalog.model(model_id)
            # The cache's own layout: files in the snapshot are symlinks into the repo's blobs/.
            files = [p for p in (repo / "snapshots" / sha).iterdir()]
            assert files and all(p.is_symlink() for p in files), files
            assert row["revision"] == sha and row["path"] == str(repo / "snapshots" / sha), row
            assert row["status"] == "indexed", row
        assert catalog.model(trio["config_only"]) is None
        assert catalog.model(trio["finetune"])["base"] == trio["base"]
        assert catalog.model(trio["adapter"])["base"] == trio["base"]
    # Nothing changed in the cache: a second run reads nothing again.
    again = _index(hf_cache, db, str(hf_cache))
    assert again["unchanged"] == 3 and again["indexed"] == 0, again


def test_snapshot_or_repo_folder_gives_the_hub_id(hf_cache, trio):
    model_id = trio["finetune"]
    repo = hf_cache / f"models--{model_id.replace('/', '--')}"
    sha = (repo / "refs" / "main").read_text().strip()
    for path in (repo, repo / "snapshots" / sha):
        (found,) = discover(path)
        assert (found.model_id, found.revision, found.problem) == (model_id, sha, None)


def test_a_symlink_leaving_the_cache_is_refused(hf_cache, trio, tmp_path):
    """A copy of a cached repo whose weights link outside the cache, and one linking into another repo's blobs."""
    import shutil

    cache = tmp_path / "cache"
    shutil.copytree(hf_cache, cache, symlinks=True)
    outside = tmp_path / "outside.safetensors"
    source = cache / f"models--{trio['base'].replace('/', '--')}"
    sha = (source / "refs" / "main").read_text().strip()
    weights = sorted((source / "snapshots" / sha).glob("*.safetensors"))[0]  # a symlink into the base's blobs/
    shutil.copyfile(weights.resolve(), outside)
    for name, target in (("evil--outside", outside), ("evil--neighbour", weights.resolve())):
        shutil.copytree(source, cache / f"models--{name}", symlinks=True)  # its own blobs/, refs/ and snapshot
        snapshot = cache / f"models--{name}" / "snapshots" / sha
        (snapshot / weights.name).unlink()
        (snapshot / weights.name).symlink_to(target)
    report = _index(cache, tmp_path / "evil.duckdb", str(cache), "--no-embed")
    refused = [s for s in report["skipped"] if "symlink leaves the cache" in s]
    assert len(refused) == 2 and all(weights.name in s for s in refused), report
    with Catalog(tmp_path / "evil.duckdb", read_only=True) as catalog:
        assert catalog.model("evil/outside") is None and catalog.model("evil/neighbour") is None
        assert catalog.model(trio["base"])["status"] == "indexed"
