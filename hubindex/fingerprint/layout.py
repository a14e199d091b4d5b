"""Tensor-layout fingerprints: models whose tensors have the same names and shapes can be compared coordinate-wise.

dtype is left out on purpose, so a bf16 re-save shares its original's layout.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable


def layout_hash(shapes: Iterable[tuple[str, tuple[int, ...]]]) -> str:
    canonical = json.dumps(sorted((name, list(shape)) for name, shape in shapes), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def param_count(shapes: Iterable[tuple[str, tuple[int, ...]]]) -> int:
    return sum(math.prod(shape) for _, shape in shapes)
