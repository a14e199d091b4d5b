"""truth.json: the zoo's known family tree, `{id: {parents, relation, domain, family, ...}}`."""

from __future__ import annotations

import json
from pathlib import Path

from hubindex.errors import HubindexError
from hubindex.zoo.spec import ModelSpec

TRUTH_FILE = "truth.json"
RELATIONS = ("root", "finetune", "adapter", "merge", "copy", "quantized")


def truth_from_plan(plan: list[ModelSpec]) -> dict[str, dict]:
    truth: dict[str, dict] = {}
    for spec in plan:
        entry: dict = {"parents": list(spec.parents), "relation": spec.relation, "domain": spec.domain,
                       "family": spec.family, "arch": spec.arch, "method": spec.method,
                       "created_at": spec.created_at, "kind": spec.kind}
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
