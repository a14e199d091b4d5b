"""Schemas in schemas/ match the answer models; pyproject lists every package in the tree."""

import json
import tomllib
from pathlib import Path

from hubindex.schemas import ANSWERS, SCHEMA_DIR, schema_for

ROOT = Path(__file__).resolve().parent.parent


def test_schema_files_are_up_to_date():
    for name in ANSWERS:
        path = SCHEMA_DIR / f"{name}.schema.json"
        assert path.exists(), f"run `python -m hubindex.schemas` to write {path.name}"
        assert json.loads(path.read_text()) == schema_for(name), f"{path.name} is stale: python -m hubindex.schemas"


def test_pyproject_lists_every_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = config["package-dir"]
    found = set()
    for installed, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join([installed, *relative]))
    # hubindex's own walk also finds the remapped folders' names under "hubindex.*" only via the mapping.
    assert set(config["packages"]) == found
