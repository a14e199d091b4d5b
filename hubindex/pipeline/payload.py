"""Compact arrays as JSON, for results that travel between processes (base64 float32, never pickle)."""

from __future__ import annotations

import base64

import numpy as np
from pydantic import BaseModel

from hubindex.fingerprint import WeightSignature
from hubindex.fingerprint.stats import TensorStats


class Packed(BaseModel):
    """A numpy array as JSON: dtype, shape and the raw little-endian bytes in base64 (no pickle)."""

    dtype: str
    shape: list[int]
    data: str

    @classmethod
    def of(cls, array: np.ndarray) -> Packed:
        array = np.ascontiguousarray(array)
        little = array.astype(array.dtype.newbyteorder("<"), copy=False)
        return cls(dtype=little.dtype.str, shape=list(array.shape), data=base64.b64encode(little.tobytes()).decode())

    def array(self) -> np.ndarray:
        return np.frombuffer(base64.b64decode(self.data), dtype=np.dtype(self.dtype)).reshape(self.shape).copy()


class SignaturePayload(BaseModel):
    """A WeightSignature as JSON (its samples and sketch packed)."""

    kind: str
    revision: str
    layout: str
    params: int
    dtypes: dict[str, int]
    tensors: list[dict]
    samples: dict[str, Packed]
    sketch: Packed
    files: list[dict]
    meta: dict
    content_hash: str | None = None
    sha: str | None = None

    @classmethod
    def of(cls, sig: WeightSignature) -> SignaturePayload:
        return cls(kind=sig.kind, revision=sig.revision, layout=sig.layout, params=sig.params, dtypes=sig.dtypes,
                   tensors=[vars(t) for t in sig.tensors], samples={k: Packed.of(v) for k, v in sig.samples.items()},
                   sketch=Packed.of(sig.sketch), files=sig.files, meta=sig.meta, content_hash=sig.content_hash,
                   sha=sig.sha)

    def signature(self) -> WeightSignature:
        return WeightSignature(self.kind, self.revision, self.layout, self.params, dict(self.dtypes),
                               [TensorStats(**t) for t in self.tensors],
                               {k: v.array() for k, v in self.samples.items()}, self.sketch.array(),
                               list(self.files), dict(self.meta), self.content_hash, self.sha)
