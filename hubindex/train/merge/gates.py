"""Pre-flight gates a merge must pass before any weight is read: the same checks for local folders and for hub
repos, whose `InputMeta` comes from configs, safetensors headers and tokenizer files only (see hub_inputs.py).

Gates: a full model (not an adapter, not quantized); same architecture; same vocabulary size; the same tensor names
and shapes; float tensors float in every input (or one non-float dtype everywhere); the same tokenizer vocabulary.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from hubindex.checkpoint.dtypes import FLOAT_CODES
from hubindex.errors import MergeError


@dataclass
class InputMeta:
    ref: str
    kind: str  # "model" or "adapter"
    config: dict
    layout: dict[str, tuple[str, tuple[int, ...]]]  # tensor name -> (safetensors dtype code, shape)
    tokenizer_id: str | None  # a content hash of tokenizer.json (equal ids: equal files, nothing more to read)
    tokenizer_vocab: Callable[[], str | None]  # digest of the vocabulary, read only when the ids differ


def vocab_digest(tokenizer_json: bytes) -> str | None:
    try:
        vocab = json.loads(tokenizer_json).get("model", {}).get("vocab")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        raise MergeError("tokenizer.json is not valid JSON") from None
    if vocab is None:
        return None
    return hashlib.sha256(json.dumps(vocab, sort_keys=True).encode()).hexdigest()


def check_inputs(reference: InputMeta, inputs: list[InputMeta]) -> None:
    """Raise MergeError naming the first input and gate that fails."""
    for meta in inputs:
        if meta.kind == "adapter":
            raise MergeError(f"merge input {meta.ref!r} is a LoRA adapter; merge it into its base first "
                             "(hubindex train finetune --merge-lora) or pass the merged model")
        quantization = meta.config.get("quantization_config")
        if quantization:
            method = quantization.get("quant_method", "?") if isinstance(quantization, dict) else "?"
            raise MergeError(f"{meta.ref}: quantized checkpoint ({method}); merge the unquantized model")
    ref_type, ref_vocab = reference.config.get("model_type"), reference.config.get("vocab_size")
    for meta in inputs:
        where = meta.ref
        if meta.config.get("model_type") != ref_type:
            raise MergeError(f"{where}: architecture {meta.config.get('model_type')!r} differs from {ref_type!r} "
                             f"({reference.ref})")
        if meta.config.get("vocab_size") != ref_vocab:
            raise MergeError(f"{where}: vocab_size {meta.config.get('vocab_size')} differs from {ref_vocab} "
                             f"({reference.ref}); merging different vocabularies produces garbage")
        missing = sorted(set(reference.layout) - set(meta.layout))
        extra = sorted(set(meta.layout) - set(reference.layout))
        if missing or extra:
            raise MergeError(f"{where}: tensor names differ from {reference.ref} (missing {missing[:3]}, "
                             f"extra {extra[:3]})")
        for name, (code, shape) in reference.layout.items():
            other_code, other_shape = meta.layout[name]
            if other_shape != shape:
                raise MergeError(f"{where}: tensor {name!r} has shape {list(other_shape)}, expected {list(shape)}")
            if (code in FLOAT_CODES) != (other_code in FLOAT_CODES) or (
                    code not in FLOAT_CODES and code != other_code):
                raise MergeError(f"{where}: tensor {name!r} is {other_code}, {reference.ref} has {code}: "
                                 "quantized or mismatched weights cannot be merged")
    for meta in inputs:
        if meta is reference or meta.tokenizer_id is None or reference.tokenizer_id is None:
            continue
        if meta.tokenizer_id != reference.tokenizer_id:
            mine, theirs = meta.tokenizer_vocab(), reference.tokenizer_vocab()
            if mine and theirs and mine != theirs:
                raise MergeError(f"{meta.ref}: tokenizer vocabulary differs from {reference.ref} (hubindex merges "
                                 "models that share one vocabulary; mergekit's tokenizer_source: union can align "
                                 "different ones)")
