"""Training text: JSONL files or generated domains, tokenized and packed into fixed-length blocks."""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

from hubindex import corpus
from hubindex.errors import TrainingError


def read_jsonl(path: Path) -> list[str]:
    """Each line: {"text": ...}, {"prompt": ..., "completion": ...} or {"input": ..., "output": ...}."""
    texts: list[str] = []
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TrainingError(f"{path}: cannot read training data ({exc})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TrainingError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        text = _row_text(row)
        if text is None:
            raise TrainingError(f"{path}:{number}: expected 'text', 'prompt'+'completion' or 'input'+'output'")
        texts.append(text)
    if not texts:
        raise TrainingError(f"{path}: no training examples")
    return texts


def _row_text(row: object) -> str | None:
    if not isinstance(row, dict):
        return None
    if isinstance(row.get("text"), str):
        return row["text"]
    for a, b in (("prompt", "completion"), ("input", "output")):
        if isinstance(row.get(a), str) and isinstance(row.get(b), str):
            return f"{row[a]} {row[b]}"
    return None


def domain_texts(domain: str, n: int, seed: int) -> list[str]:
    try:
        return corpus.generate(domain, n, seed)
    except ValueError as exc:
        raise TrainingError(str(exc)) from None


def weighted_mix(weights: dict[str, float], n: int, seed: int) -> list[str]:
    """`n` shuffled documents drawn from domains in proportion to `weights` (a pretraining mix of one's own)."""
    total = sum(weights.values())
    if total <= 0 or any(w < 0 for w in weights.values()):
        raise TrainingError(f"mix weights must be >= 0 with a positive sum; got {weights}")
    docs: list[str] = []
    for offset, (domain, weight) in enumerate(sorted(weights.items())):
        docs.extend(domain_texts(domain, round(n * weight / total), seed * 7919 + offset))
    random.Random(seed).shuffle(docs)
    return docs


def pack(texts: list[str], tokenizer: PreTrainedTokenizerBase, seq_len: int) -> torch.Tensor:
    """Concatenate documents separated by EOS and cut into [n_blocks, seq_len] token blocks."""
    eos = tokenizer.eos_token_id
    ids: list[int] = []
    for encoded in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        ids.extend(encoded)
        ids.append(eos)
    n_blocks = len(ids) // seq_len
    if n_blocks == 0:
        raise TrainingError(f"training data too short: {len(ids)} tokens, need at least {seq_len}")
    return torch.tensor(ids[: n_blocks * seq_len], dtype=torch.long).view(n_blocks, seq_len)
