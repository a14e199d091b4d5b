"""Tests for the synthetic multi-domain corpus (hubindex.corpus)."""

from __future__ import annotations

import itertools
import re
from collections import Counter

import pytest

from hubindex.corpus import domain_names, generate, pretraining_mix
from hubindex.corpus.domains import GENERAL, GENERATORS, MAX_CHARS

ALL = [*domain_names(), GENERAL]
_WORD = re.compile(r"[a-z]+")


def _top_words(docs: list[str], k: int = 30) -> set[str]:
    counts = Counter(w for doc in docs for w in _WORD.findall(doc.lower()))
    return {w for w, _ in counts.most_common(k)}


def test_domain_names_fixed_and_general_excluded() -> None:
    names = domain_names()
    assert names == [
        "arithmetic",
        "code",
        "legal",
        "medical",
        "recipes",
        "weather",
        "sports",
        "finance",
        "geography",
        "poetry",
    ]
    assert GENERAL not in names
    assert list(GENERATORS) == [*names, GENERAL]
    assert domain_names() is not domain_names()  # callers may mutate their copy


@pytest.mark.parametrize("domain", ALL)
def test_generate_is_deterministic_and_seed_sensitive(domain: str) -> None:
    a = generate(domain, 50, seed=7)
    assert a == generate(domain, 50, seed=7)
    b = generate(domain, 50, seed=8)
    assert a != b
    # Different seeds should give mostly non-overlapping documents.
    assert len(set(a) & set(b)) <= 2
    # A shorter request is a prefix of a longer one for the same seed.
    assert generate(domain, 10, seed=7) == a[:10]


@pytest.mark.parametrize("domain", ALL)
def test_documents_nonempty_distinct_and_sized(domain: str) -> None:
    docs = generate(domain, 200, seed=1)
    assert len(docs) == 200
    assert all(isinstance(d, str) and d.strip() for d in docs)
    assert len(set(docs)) >= 195
    lengths = [len(d) for d in docs]
    assert max(lengths) <= MAX_CHARS
    assert sum(lengths) / len(lengths) >= 100


def test_domains_do_not_share_streams() -> None:
    # Same seed for every domain: per-domain streams must still differ, so even
    # the random choices inside structurally similar templates diverge.
    firsts = {d: generate(d, 1, 1)[0] for d in ALL}
    assert len(set(firsts.values())) == len(ALL)
    nums = {d: re.findall(r"\d+", " ".join(generate(d, 20, 1))) for d in ALL}
    assert nums["weather"][:10] != nums["finance"][:10]


def test_generate_zero_and_negative() -> None:
    assert generate("code", 0, 3) == []
    assert pretraining_mix(0, 3) == []
    with pytest.raises(ValueError):
        generate("code", -1, 3)
    with pytest.raises(ValueError):
        pretraining_mix(-1, 3)


def test_unknown_domain_raises_with_known_names() -> None:
    with pytest.raises(ValueError) as info:
        generate("astrology", 3, 0)
    message = str(info.value)
    assert "astrology" in message
    for name in domain_names():
        assert name in message


def test_domains_have_distinct_vocabulary() -> None:
    tops = {d: _top_words(generate(d, 200, seed=3)) for d in ALL}
    for a, b in itertools.combinations(ALL, 2):
        jaccard = len(tops[a] & tops[b]) / len(tops[a] | tops[b])
        assert jaccard < 0.5, (a, b, sorted(tops[a] & tops[b]))


def test_domain_markers() -> None:
    """Each domain carries its characteristic surface features."""
    sample = {d: "\n".join(generate(d, 100, seed=5)) for d in ALL}
    assert "A:" in sample["arithmetic"] and "=" in sample["arithmetic"]
    assert "def " in sample["code"] and "    return" in sample["code"]
    assert "Lessee" in sample["legal"] and "hereinafter" in sample["legal"]
    assert " mg " in sample["medical"] and "presents with" in sample["medical"]
    assert "Ingredients:" in sample["recipes"] and "°F" in sample["recipes"]
    assert "°C" in sample["weather"] and "km/h" in sample["weather"]
    assert re.search(r"\b\d+-\d+\b", sample["sports"])
    assert re.search(r"\b[A-Z]{3,4}\b", sample["finance"]) and "%" in sample["finance"]
    assert "River" in sample["geography"] and "population" in sample["geography"]
    assert all("\n" in doc for doc in generate("poetry", 50, seed=5))


_QA = re.compile(r"What is (\d+) (plus|minus|times|divided by) (\d+)\? A: (-?\d+)\.")
_EQ = re.compile(r"(?<![\w.])(\d+) ([-+*/]) (\d+) = (-?\d+)")
_OPS = {
    "plus": "+",
    "minus": "-",
    "times": "*",
    "divided by": "/",
}


def _apply(a: int, op: str, b: int) -> int:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    assert a % b == 0, f"{a} / {b} is not exact"
    return a // b


def test_arithmetic_answers_are_correct() -> None:
    checked = 0
    for doc in generate("arithmetic", 300, seed=11):
        found = 0
        for a, word, b, c in _QA.findall(doc):
            assert _apply(int(a), _OPS[word], int(b)) == int(c), doc
            found += 1
        for a, op, b, c in _EQ.findall(doc):
            assert _apply(int(a), op, int(b)) == int(c), doc
            found += 1
        assert found >= 2, doc  # every item carries a checkable answer
        checked += found
    assert checked > 600


def test_pretraining_mix_covers_every_domain() -> None:
    n = 440
    mix = pretraining_mix(n, seed=4)
    assert len(mix) == n
    assert mix == pretraining_mix(n, seed=4)
    assert mix != pretraining_mix(n, seed=5)
    # The mix uses its own streams, so attribute documents by surface markers
    # that are unique to each domain.
    markers = {
        "arithmetic": re.compile(r"\? A: |\d+ [-+*/] \d+ = "),
        "code": re.compile(r"^(def |class |\w+ = )", re.M),
        "legal": re.compile(r"Lessee|§"),
        "medical": re.compile(r"presents with"),
        "recipes": re.compile(r"Ingredients:"),
        "weather": re.compile(r"forecast for"),
        "sports": re.compile(r"^The .+ (beat|defeated) the "),
        "finance": re.compile(r"^Shares of "),
        "geography": re.compile(r" province in the "),
        "poetry": re.compile(r",\n"),
        GENERAL: re.compile(r" went to the .+ and bought "),
    }
    labels = []
    for doc in mix:
        hits = [name for name, rx in markers.items() if rx.search(doc)]
        assert len(hits) == 1, (hits, doc)
        labels.append(hits[0])
    counts = Counter(labels)
    assert set(counts) == set(ALL)
    assert max(counts.values()) - min(counts.values()) <= 1  # evenly drawn
    # Shuffled rather than grouped by domain: the first block is mixed.
    assert len(set(labels[: n // len(ALL)])) > 3


def test_pretraining_mix_small_n_and_disjoint_from_generate() -> None:
    small = pretraining_mix(5, seed=0)
    assert len(small) == 5 and len(set(small)) == 5
    mix = set(pretraining_mix(110, seed=1))
    finetune = {doc for d in domain_names() for doc in generate(d, 50, seed=1)}
    assert not mix & finetune
