"""Plant declared lineage cards into a built zoo, a seeded fraction of them wrong but plausible.

Measures how far lying cards move the lineage answer: every model with parents gets `base_model` (and
`base_model_relation`, and for adapters `base_model_name_or_path`), and `cards.json` records what was planted and
which declarations are wrong.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

from pydantic import BaseModel

from hubindex.card import card_text, lineage_meta, read_card
from hubindex.checkpoint.folder import ADAPTER_CONFIG
from hubindex.errors import HubindexError
from hubindex.ids import model_path
from hubindex.zoo.build import ZOO_FILE
from hubindex.zoo.truth import TRUTH_FILE, load_truth

CARDS_FILE = "cards.json"
# truth relation -> Hub base_model_relation. The Hub knows only adapter/merge/quantized/finetune; a dtype re-save
# ("copy") declares base_model alone, as the zoo's unstripped build and the Hub's docs do for pure conversions.
CARD_RELATION: dict[str, str | None] = {"finetune": "finetune", "adapter": "adapter", "merge": "merge",
                                        "quantized": "quantized", "copy": None}


class WrongCard(BaseModel):
    declared: list[str]
    truth: list[str]


class PlantedCards(BaseModel):
    """cards.json, and the `hubindex zoo plant-cards --json` answer."""

    wrong_fraction: float
    seed: int
    planted: dict[str, list[str]]  # model -> declared base_model, in card order
    wrong: dict[str, WrongCard]


def _descendants(truth: dict[str, dict], model: str) -> set[str]:
    children: dict[str, list[str]] = {}
    for child, entry in truth.items():
        for parent in entry["parents"]:
            children.setdefault(parent, []).append(child)
    found: set[str] = set()
    todo = [model]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def wrong_candidates(truth: dict[str, dict], model: str) -> list[str]:
    """Full models a card could plausibly, but wrongly, name as this model's parent.

    Same family and architecture, not a true parent, not the model or its descendants (that would be a cycle), never
    an adapter (nothing is built on one). Only models uploaded before this one, since a card naming a later upload
    is easy to dismiss; later ones only when nothing earlier qualifies (e.g. the first finetune of a root).
    """
    entry = truth[model]
    excluded = {model, *entry["parents"], *_descendants(truth, model)}
    pool = sorted(m for m, e in truth.items() if m not in excluded and e["relation"] != "adapter"
                  and e["family"] == entry["family"] and e.get("arch") == entry.get("arch"))
    earlier = [m for m in pool if truth[m]["created_at"] < entry["created_at"]]
    return earlier or pool


def _wrong_count(fraction: float, total: int) -> int:
    if fraction <= 0 or total == 0:
        return 0
    return min(total, max(1, math.floor(fraction * total + 0.5)))  # half up, not Python's round-half-even


def _safe_file(folder: Path, name: str) -> Path:
    path = folder / name
    if path.is_symlink():
        raise HubindexError(f"{path} is a symbolic link; plant-cards never writes through links")
    return path


def _model_folder(root: Path, model: str) -> Path:
    folder = model_path(root, model)
    part = root
    for name in folder.relative_to(root).parts:  # the org folder and the model folder
        part = part / name
        if part.is_symlink():
            raise HubindexError(f"{part} is a symbolic link; plant-cards only edits real folders of the zoo")
    if not folder.is_dir():
        raise HubindexError(f"{folder}: model {model!r} of truth.json is missing; is the zoo build finished?")
    return folder


def _write_if_changed(path: Path, text: str) -> None:
    # An unchanged file keeps its mtime, so a rerun leaves the indexer nothing to re-read.
    if not path.exists() or path.read_text(errors="replace") != text:
        path.write_text(text)


def _plant(folder: Path, declared: list[str], relation: str | None) -> None:
    readme = _safe_file(folder, "README.md")
    meta, body = read_card(folder)
    meta = {k: v for k, v in meta.items() if k not in ("base_model", "base_model_relation")}
    _write_if_changed(readme, card_text({**meta, **lineage_meta(declared, relation)}, body))
    if relation == "adapter":
        config_path = _safe_file(folder, ADAPTER_CONFIG)
        if not config_path.is_file():
            raise HubindexError(f"{folder}: an adapter in truth.json but no {ADAPTER_CONFIG}")
        config = json.loads(config_path.read_text())
        config["base_model_name_or_path"] = declared[0]
        _write_if_changed(config_path, json.dumps(config, indent=2, sort_keys=True) + "\n")


def plant_cards(root: Path, wrong_fraction: float, seed: int) -> dict:
    """Write declared lineage into every model of the zoo with parents; returns what cards.json holds."""
    root = Path(root)
    if not (root / ZOO_FILE).is_file() or not (root / TRUTH_FILE).is_file():
        raise HubindexError(f"{root} is not a zoo (it needs {ZOO_FILE} and {TRUTH_FILE}); build one with `hubindex zoo "
                            "build`")
    try:
        complete = json.loads((root / ZOO_FILE).read_text()).get("complete")
    except (OSError, json.JSONDecodeError, AttributeError) as exc:
        raise HubindexError(f"{root / ZOO_FILE}: cannot read the zoo description ({exc})") from None
    if complete is False:
        raise HubindexError(f"{root}: zoo build did not finish; run `hubindex zoo build` again to resume")
    if not 0 <= wrong_fraction <= 1:
        raise HubindexError(f"wrong fraction must be between 0 and 1, not {wrong_fraction}")
    truth = load_truth(root)
    cards_path = _safe_file(root, CARDS_FILE)
    folders = {m: _model_folder(root, m) for m in truth}  # check every folder before writing anything
    children = sorted(m for m, e in truth.items() if e["parents"])
    for model in children:
        if truth[model]["relation"] not in CARD_RELATION:
            raise HubindexError(f"{root / TRUTH_FILE}: {model} has unknown relation {truth[model]['relation']!r}")

    count = _wrong_count(wrong_fraction, len(children))
    candidates = {m: wrong_candidates(truth, m) for m in children}
    eligible = [m for m in children if candidates[m]]
    if count > len(eligible):
        raise HubindexError(f"{root}: only {len(eligible)} of {len(children)} models have a plausible wrong parent; "
                            f"cannot make {count} cards wrong")
    rng = random.Random(seed)
    liars = set(rng.sample(eligible, count))

    planted: dict[str, list[str]] = {}
    wrong: dict[str, WrongCard] = {}
    for model in (m for m in truth if truth[m]["parents"]):  # truth order, so cards.json reads like truth.json
        entry = truth[model]
        declared = list(entry["parents"])
        if model in liars:
            # A merge keeps its number of sources, each one wrong; fewer when the family is too small.
            pool = candidates[model]
            declared = rng.sample(pool, min(len(declared), len(pool)))
            wrong[model] = WrongCard(declared=declared, truth=list(entry["parents"]))
        planted[model] = declared
        _plant(folders[model], declared, CARD_RELATION[entry["relation"]])

    answer = PlantedCards(wrong_fraction=wrong_fraction, seed=seed, planted=planted, wrong=wrong)
    result = answer.model_dump(mode="json")
    _write_if_changed(cards_path, json.dumps(result, indent=1) + "\n")
    return result
