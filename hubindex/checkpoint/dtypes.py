"""The safetensors dtype codes hubindex understands, and their torch equivalents."""

import torch

from hubindex.errors import CheckpointError

TORCH_DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
CODES: dict[torch.dtype, str] = {v: k for k, v in TORCH_DTYPES.items()}
ITEMSIZE: dict[str, int] = {code: dtype.itemsize for code, dtype in TORCH_DTYPES.items()}
# Codes read from checkpoints. FP8 stays writable (a merge may produce it) but is not indexed: torch has no CPU
# reductions for it, so a checkpoint holding it is recorded as unsupported.
SUPPORTED_CODES = frozenset(TORCH_DTYPES) - {"F8_E4M3", "F8_E5M2"}
FLOAT_CODES = frozenset({"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"})
# Names users type (config.json torch_dtype, --dtype) mapped to codes, and back.
NAMED: dict[str, str] = {"float32": "F32", "float16": "F16", "bfloat16": "BF16", "float64": "F64"}
CONFIG_NAMES: dict[str, str] = {code: name for name, code in NAMED.items()}


def itemsize(code: str) -> int:
    return torch_dtype(code).itemsize


def torch_dtype(code: str) -> torch.dtype:
    try:
        return TORCH_DTYPES[code]
    except KeyError:
        raise CheckpointError(f"unknown safetensors dtype {code!r}") from None


def code_for(name_or_code: str) -> str:
    """Accept 'bfloat16', 'bf16' or 'BF16' and return the safetensors code."""
    key = name_or_code.strip()
    if key.upper() in TORCH_DTYPES:
        return key.upper()
    if key.lower() in NAMED:
        return NAMED[key.lower()]
    if key.lower() in {"bf16", "fp16", "fp32"}:
        return {"bf16": "BF16", "fp16": "F16", "fp32": "F32"}[key.lower()]
    raise CheckpointError(f"unknown dtype {name_or_code!r}; use one of float32, float16, bfloat16")
