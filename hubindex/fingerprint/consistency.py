"""Checks that config.json and the stored tensors describe the same model.

A checkpoint whose embedding has a different vocabulary or width than its config, or whose layers don't match
num_hidden_layers, loads wrongly or not at all; it is recorded as bad input instead of fingerprinted as valid.
"""

from __future__ import annotations

import re

from hubindex.errors import CheckpointError

_EMBEDDINGS = ("embed_tokens.weight", "wte.weight", "word_embeddings.weight")
_LAYER = re.compile(r"\.(?:layers|h|blocks)\.(\d+)\.")


def _first(config: dict, *keys: str) -> int | None:
    for key in keys:
        value = config.get(key)
        if isinstance(value, int):
            return value
    return None


def check_config(config: dict, shapes: dict[str, tuple[int, ...]], source: str) -> None:
    vocab = _first(config, "vocab_size")
    hidden = _first(config, "hidden_size", "n_embd", "d_model")
    layers = _first(config, "num_hidden_layers", "n_layer", "num_layers")
    for name, shape in shapes.items():
        if name.endswith(_EMBEDDINGS) and len(shape) == 2:
            if vocab is not None and shape[0] != vocab:
                raise CheckpointError(f"{source}: {name} has {shape[0]} rows but config.json vocab_size is {vocab}")
            if hidden is not None and shape[1] != hidden:
                raise CheckpointError(f"{source}: {name} is {shape[1]} wide but config.json hidden size is {hidden}")
    indices = {int(m.group(1)) for name in shapes if (m := _LAYER.search(name))}
    if layers is not None and indices and max(indices) + 1 != layers:
        raise CheckpointError(
            f"{source}: weights hold {max(indices) + 1} layers but config.json says {layers}"
        )
