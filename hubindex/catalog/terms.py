"""Words of a text as search terms, the same way for a card when it is stored and for a query when it is asked."""

from __future__ import annotations

import re

TERM = re.compile(r"[\w./-]+")  # ids and versions stay whole: `org/name`, `v1.5`, `gpt-2`
WORD = re.compile(r"\w+")
MAX_TERMS = 5000  # distinct terms kept per card (cards are capped at 20,000 characters anyway)


def text_terms(text: str | None) -> set[str]:
    """Lower-case terms of a card: every whole token, the token without trailing punctuation, and its words, so
    `fine-tuned.` is found by `fine-tuned`, `fine` and `tuned`."""
    if not text:
        return set()
    lower = text.lower()
    found = set(WORD.findall(lower))
    for token in TERM.findall(lower):
        found.add(token)
        found.add(token.rstrip("./-"))
    found.discard("")
    return set(sorted(found)[:MAX_TERMS]) if len(found) > MAX_TERMS else found
