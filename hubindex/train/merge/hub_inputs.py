"""Merge inputs given as hub ids: every gate runs on metadata before a weight byte is downloaded.

Per model: its info (file list, commit sha, card), config.json, the shard index, each shard's safetensors header
(two exact range reads: the 8-byte length, then the header), and tokenizer.json's content hash from a HEAD (the file
itself is read only when two hashes differ). Then the gates of gates.py and the base gate: for task-vector methods,
a model whose card declares a base must descend from the recipe's base (followed through declared bases, a few hops).
Only when everything passes are the repos downloaded with `snapshot_download` (safetensors, JSON and tokenizer files,
never pickles) into huggingface_hub's cache, where mergekit and transformers find them too.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import snapshot_download

from hubindex.checkpoint.safetensors_file import MAX_HEADER_BYTES, parse_header
from hubindex.errors import HubindexError, MergeError
from hubindex.hub.full_fetch import PATTERNS
from hubindex.hub.partial import read_json, read_small
from hubindex.hub.remote_safetensors import Traffic
from hubindex.hub.repo_files import repo_files, shard_names
from hubindex.hub.source import HubAccessError, HubSource
from hubindex.ids import validate_model_id
from hubindex.train.merge.gates import InputMeta, check_inputs, vocab_digest
from hubindex.train.merge.methods import get_method
from hubindex.train.merge.recipe import MergeRecipe

MAX_BASE_HOPS = 4  # declared-base links followed from a model towards the recipe's base
TOKENIZER = "tokenizer.json"


@dataclass
class HubInputs:
    """What the pre-flight read: per model its metadata and the bytes its files cost (API answers not counted)."""

    metas: dict[str, InputMeta] = field(default_factory=dict)
    shas: dict[str, str] = field(default_factory=dict)
    traffic: dict[str, Traffic] = field(default_factory=dict)

    def bytes_report(self) -> str:
        return ", ".join(f"{ref} {t.bytes:,} bytes" for ref, t in self.traffic.items())


def is_hub_id(ref: str) -> bool:
    """An `org/name` that is not an existing local path: resolved on the hub."""
    if Path(ref).exists():
        return False
    try:
        validate_model_id(ref)
    except HubindexError:
        return False
    return "/" in ref


def _header(source: HubSource, ref: str, name: str, sha: str, traffic: Traffic) -> dict:
    file = source.resolve(ref, name, sha)
    head = source.read_range(file, 0, min(8, file.size))
    traffic.add(len(head))
    if len(head) < 8:
        raise MergeError(f"{ref}/{name}: truncated safetensors file ({file.size} bytes)")
    (length,) = struct.unpack("<Q", head)
    if length > MAX_HEADER_BYTES:
        raise MergeError(f"{ref}/{name}: header length {length} exceeds {MAX_HEADER_BYTES} bytes")
    body = source.read_range(file, 8, min(8 + length, file.size))
    traffic.add(len(body))
    return parse_header(head + body, file.size, f"{ref}/{name}")[2]


def _read_meta(source: HubSource, ref: str, inputs: HubInputs) -> tuple[InputMeta, list[str]]:
    traffic = inputs.traffic.setdefault(ref, Traffic())
    info = source.model_info(ref)  # the Hub's JSON for the repo
    if not isinstance(info.get("sha"), str):
        raise MergeError(f"{ref}: the hub gave no commit sha")
    inputs.shas[ref] = sha = info["sha"]
    siblings = [s["rfilename"] for s in info.get("siblings") or [] if isinstance(s, dict) and "rfilename" in s]
    files = repo_files(ref, siblings)
    config = read_json(source, ref, files.config, sha, traffic)
    layout: dict[str, tuple[str, tuple[int, ...]]] = {}
    if files.kind == "model":
        weights = files.weights
        if files.index:
            weights = shard_names(ref, read_json(source, ref, files.index, sha, traffic), siblings)
        for name in weights:
            for tensor, info_ in _header(source, ref, name, sha, traffic).items():
                layout[tensor] = (info_.dtype, tuple(info_.shape))
    tokenizer_id = None
    vocab: Callable[[], str | None] = lambda: None  # noqa: E731
    if TOKENIZER in siblings:
        file = source.resolve(ref, TOKENIZER, sha)
        tokenizer_id = file.etag or f"size:{file.size}"

        def vocab() -> str | None:
            return vocab_digest(read_small(source, ref, TOKENIZER, sha, traffic))

    declared = _card(info).get("base_model")
    bases = [declared] if isinstance(declared, str) else [b for b in declared or [] if isinstance(b, str)]
    return InputMeta(ref, files.kind, config, layout, tokenizer_id, vocab), bases


def _card(info: dict) -> dict:
    card = info.get("cardData")
    return card if isinstance(card, dict) else {}


def _descends(source: HubSource, start: list[str], base: str) -> list[str] | None:
    """A declared-base path from `start` up to `base`, or None when the declared chain ends elsewhere."""
    frontier = [[b] for b in start]
    for _ in range(MAX_BASE_HOPS):
        next_frontier = []
        for path in frontier:
            if path[-1] == base:
                return path
            try:
                card = _card(source.model_info(path[-1]))
            except HubAccessError:
                return path  # a declared parent the hub does not show: cannot tell, so not a failure
            declared = card.get("base_model")
            parents = [declared] if isinstance(declared, str) else [p for p in declared or [] if isinstance(p, str)]
            next_frontier += [[*path, p] for p in parents if p not in path]
        frontier = next_frontier
    return None if not frontier else frontier[0]  # too deep to tell: not a failure


def preflight(recipe: MergeRecipe, refs: list[str], source: HubSource, local: dict[str, InputMeta]) -> HubInputs:
    """Read the metadata of the hub inputs `refs` and run every gate; raise MergeError with the bytes read."""
    inputs = HubInputs()
    try:
        declared = {}
        for ref in refs:
            inputs.metas[ref], declared[ref] = _read_meta(source, ref, inputs)
        metas = {**local, **inputs.metas}
        ordered = [metas[r] for r in recipe.inputs()]
        reference = metas[recipe.base_model] if recipe.base_model else ordered[0]
        check_inputs(reference, ordered)
        method = get_method(recipe.merge_method)
        if method.needs_base and recipe.base_model:
            for ref in refs:
                if ref == recipe.base_model or not declared[ref]:
                    continue
                if _descends(source, declared[ref], recipe.base_model) is None:
                    raise MergeError(f"{ref}: its card declares base {', '.join(declared[ref])}, which does not lead "
                                     f"to the recipe's base_model {recipe.base_model} (task vectors against another "
                                     "model's weights are meaningless)")
    except (MergeError, HubindexError) as exc:
        raise MergeError(f"{exc} [checked before downloading weights; read {inputs.bytes_report() or 'nothing'}]") \
            from None
    return inputs


def download(source: HubSource, inputs: HubInputs, cache_dir: Path | None = None) -> dict[str, Path]:
    """Snapshot every checked repo at the commit the gates saw."""
    paths = {}
    for ref, sha in inputs.shas.items():
        try:
            paths[ref] = Path(snapshot_download(ref, revision=sha, allow_patterns=PATTERNS, endpoint=source.endpoint,
                                                token=source.token, cache_dir=cache_dir, max_workers=2))
        except Exception as exc:
            raise MergeError(f"{ref}: download failed ({type(exc).__name__}: {exc})") from None
    return paths
