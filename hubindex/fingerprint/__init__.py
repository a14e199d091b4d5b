"""Weight fingerprints: layout hash, sampled-coordinate sketch and per-tensor statistics from one streaming pass."""

from hubindex.fingerprint.signature import WeightSignature, compute_signature

__all__ = ["WeightSignature", "compute_signature"]
