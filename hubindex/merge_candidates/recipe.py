"""A merge-candidates answer as a mergekit recipe: TIES of the model and its top candidate against their base.

Model references are the folders the catalog indexed them from, when those still exist (so mergekit and
`hubindex train merge --config` run the file here), else their hub ids (resolved on the hub by both tools).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hubindex.errors import HubindexError
from hubindex.merge_candidates.answers import MergeCandidates
from hubindex.train.merge.recipe import MergeRecipe, parse_recipe

DENSITY = 0.5  # TIES keeps half of each task vector: the common setting in mergekit's examples


def catalog_locator(catalog) -> Callable[[str], str]:
    """id -> local folder when the catalog indexed it from one that still exists, else the id."""

    def locate(model_id: str) -> str:
        row = catalog.model(model_id) or {}
        path = row.get("path")
        return str(Path(path).resolve()) if path and Path(path).is_dir() else model_id

    return locate


def candidate_recipe(answer: MergeCandidates, locate: Callable[[str], str] = str) -> MergeRecipe:
    if not answer.candidates:
        raise HubindexError(f"{answer.model}: no merge candidate to write a recipe for")
    top = answer.candidates[0]
    models = [{"model": locate(m), "parameters": {"weight": 1.0, "density": DENSITY}}
              for m in (answer.model, top.model)]
    return parse_recipe({"merge_method": "ties", "base_model": locate(answer.base), "models": models})


def write_candidate_recipe(answer: MergeCandidates, out: Path, locate: Callable[[str], str] = str) -> MergeRecipe:
    recipe = candidate_recipe(answer, locate)
    Path(out).write_text(f"# {answer.model} + {answer.candidates[0].model} (top merge candidate, score "
                         f"{answer.candidates[0].score:.3f}) against their base {answer.base}\n" + recipe.to_yaml())
    return recipe
