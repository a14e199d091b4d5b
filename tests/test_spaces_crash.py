"""FAISS spaces under a rebuild killed (SIGKILL, in a child process) at each of its steps: readers always get a
whole generation (the old spaces or the new ones), never index files that disagree with the manifest."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys

import pytest

from hubindex.catalog import Catalog
from hubindex.catalog.queries import similar
from hubindex.catalog.spaces import KILL_AT_ENV, MANIFEST, STEPS, Spaces, rebuild
from hubindex.errors import HubindexError
from tests.helpers import CONFIG, random_tensors, write_checkpoint

SHAPES = {"model.embed_tokens.weight": (16, 8), "model.layers.0.mlp.up_proj.weight": (8, 8)}
OLD = {"org/a", "org/b"}
NEW = OLD | {"org/c"}
INDEX_CHILD = ("import sys; from pathlib import Path; from hubindex.indexer.pipeline import index_paths; "
               "index_paths(Path(sys.argv[1]), [Path(sys.argv[2])], ['hubindex'], embed=False, quiet=True)")


@pytest.fixture(scope="module")
def two_then_three(tmp_path_factory):
    """A catalog and its spaces over two models, and the hub folder that adds a third."""
    from hubindex.indexer.pipeline import index_paths

    root = tmp_path_factory.mktemp("spaces")
    hub = root / "hub"
    for i, name in enumerate(sorted(OLD)):
        write_checkpoint(hub / name, random_tensors(i, SHAPES), CONFIG)
    db = root / "pristine" / "cat.duckdb"
    db.parent.mkdir()
    index_paths(db, [hub], ["hubindex"], embed=False, quiet=True)
    write_checkpoint(hub / "org/c", random_tensors(7, SHAPES), CONFIG)
    return db, hub


def _copy(db, into):
    into.mkdir()
    shutil.copy2(db, into / db.name)
    shutil.copytree(db.with_name(db.name + ".faiss"), into / (db.name + ".faiss"))
    return into / db.name


def _served_ids(db) -> set[str]:
    """Ids every space of the current manifest serves, after checking each index against the manifest and asking
    each model's nearest neighbours."""
    with Catalog(db, read_only=True) as cat:
        spaces = Spaces.open(cat.spaces_dir)
        served = set()
        for space, entry in spaces.manifest.items():
            assert spaces._index(space).ntotal == len(entry["ids"]), space
            served |= set(entry["ids"])
        for model in served:
            hits = similar(cat, model, k=5, by="weights")
            assert {h.model for h in hits} == served - {model}
        return served


@pytest.mark.parametrize("step", STEPS)
def test_rebuild_killed_at_each_step_serves_a_whole_generation(two_then_three, tmp_path, step):
    pristine, hub = two_then_three
    db = _copy(pristine, tmp_path / "cat")
    child = subprocess.run([sys.executable, "-c", INDEX_CHILD, str(db), str(hub)], capture_output=True, text=True,
                           env={**__import__("os").environ, KILL_AT_ENV: step, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    replaced = STEPS.index(step) >= STEPS.index("manifest-replaced")
    assert _served_ids(db) == (NEW if replaced else OLD)
    # The next rebuild serves the new generation and leaves no file of the killed one behind.
    with Catalog(db) as cat:
        rebuild(cat)
    assert _served_ids(db) == NEW
    folder = db.with_name(db.name + ".faiss")
    manifest = json.loads((folder / MANIFEST).read_text())
    assert {p.name for p in folder.iterdir()} == {MANIFEST} | {e["file"] for e in manifest.values()}


def test_a_space_that_disagrees_with_its_manifest_is_refused(two_then_three, tmp_path):
    db = _copy(two_then_three[0], tmp_path / "cat")
    folder = db.with_name(db.name + ".faiss")
    manifest = json.loads((folder / MANIFEST).read_text())
    space = next(iter(manifest))
    manifest[space]["ids"].append("org/ghost")  # a manifest naming one id more than its index holds
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with Catalog(db, read_only=True) as cat, pytest.raises(HubindexError, match="does not match its manifest"):
        similar(cat, "org/a", k=1, by="weights")
