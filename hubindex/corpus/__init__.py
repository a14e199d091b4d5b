"""Synthetic multi-domain text corpus for pretraining and finetuning tiny models.

Tiny language models are pretrained on :func:`pretraining_mix` (all domains plus
a plain-narrative "general" background domain) and then finetuned on a single
domain from :func:`generate`. The domains are intentionally far apart in
vocabulary, layout and punctuation so the finetuning domain can later be
recovered from a model's activations.

Everything is deterministic: each (purpose, domain, seed) triple gets its own
``random.Random`` stream, so ``generate("code", n, 1)`` and
``generate("legal", n, 1)`` are independent, and the pretraining mix never
replays the exact documents that ``generate`` returns for the same seed.
"""

from __future__ import annotations

import random
import zlib

from hubindex.corpus.domains import GENERAL, GENERATORS

__all__ = ["domain_names", "generate", "pretraining_mix"]

_SEED_MASK = (1 << 64) - 1


def domain_names() -> list[str]:
    """The finetuning domains in registry order ("general" is excluded)."""
    return [name for name in GENERATORS if name != GENERAL]


def _rng(purpose: str, domain: str, seed: int) -> random.Random:
    # crc32 rather than hash(): str hashing is salted per process. The crc sits
    # above the 64-bit seed so distinct (purpose, domain, seed) never collide
    # for seeds in range, and negative seeds stay distinct from positive ones.
    key = zlib.crc32(f"{purpose}/{domain}".encode())
    return random.Random((key << 64) | (seed & _SEED_MASK))


def _check(domain: str) -> None:
    if domain not in GENERATORS:
        known = ", ".join(GENERATORS)
        raise ValueError(f"unknown corpus domain {domain!r}; known domains: {known}")


def generate(domain: str, n: int, seed: int) -> list[str]:
    """Return ``n`` documents of ``domain``, deterministic for (domain, n, seed).

    ``"general"`` is accepted too (useful as a control), although it is not
    listed by :func:`domain_names`. A shorter ``n`` yields a prefix of a
    longer one for the same seed.
    """
    _check(domain)
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    make = GENERATORS[domain]
    rng = _rng("generate", domain, seed)
    return [make(rng) for _ in range(n)]


def pretraining_mix(n: int, seed: int) -> list[str]:
    """Return ``n`` shuffled documents drawn evenly from every domain and "general".

    Counts per domain differ by at most one, so every domain is present once
    ``n`` reaches the number of generators. Documents come from streams separate
    from :func:`generate`, so finetuning data is not memorised in pretraining.
    """
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    names = list(GENERATORS)
    rng = _rng("mix", "*", seed)
    base, extra = divmod(n, len(names))
    lucky = set(rng.sample(range(len(names)), extra))
    docs: list[str] = []
    for i, name in enumerate(names):
        make = GENERATORS[name]
        sub = _rng("mix", name, seed)
        docs.extend(make(sub) for _ in range(base + (i in lucky)))
    rng.shuffle(docs)
    return docs
