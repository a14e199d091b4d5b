"""truth.json: the zoo's known family tree, `{id: {parents, relation, domain, family, ...}}`."""

from __future__ import annotations

import json
from pathlib import Path

from hubindex.errors import HubindexError
from hubindex.zoo.spec import ModelSpec

TRUTH_FILE = "truth.json"
RELATIONS = ("root", "finetune", "adapter", "merge", "copy", "quantized")


def training_of(spec: ModelSpec) -> dict | None:
    """How a trained model was trained (optimizer, schedule, clipping, steps, lr): None for roots and re-saves."""
    from dataclasses import asdict

    from hubindex.train.loop import Recipe

    p = spec.params
    if "lr" not in p:
        return None
    extra = {k: p[k] for k in ("rank", "targets", "added_tokens", "pad_to", "save_dtype", "corpus") if k in p}
    return {**asdict(Recipe.from_params(p)), "lr": p["lr"], "steps": p["steps"], **extra}


def truth_from_plan(plan: list[ModelSpec]) -> dict[str, dict]:
    truth: dict[str, dict] = {}
    for spec in plan:
        entry: dict = {"parents": list(spec.parents), "relation": spec.relation, "domain": spec.domain,
                       "family": spec.family, "arch": spec.arch, "method": spec.method,
                       "created_at": spec.created_at, "kind": spec.kind, "training": training_of(spec)}
        if spec.relation == "merge":
            entry["merge"] = {"method": spec.method, "base": spec.params["base"],
                              "weights": spec.params.get("weights"), "domains": spec.params["domains"]}
        truth[spec.id] = entry
    return truth


def load_truth(path: Path) -> dict[str, dict]:
    path = Path(path)
    if path.is_dir():
        path = path / TRUTH_FILE
    try:
        truth = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise HubindexError(f"{path}: cannot read truth ({exc})") from None
    if not isinstance(truth, dict):
        raise HubindexError(f"{path}: truth must be a JSON object keyed by model id")
    return truth
