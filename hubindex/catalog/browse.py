"""Listing and text search over the catalog's models: `GET /models`, `hubindex search`.

Both run in SQL (one query per page), so they cost the same on 60 models and on 100k.
"""

from __future__ import annotations

from hubindex.catalog.answers import ModelPage, ModelSummary, SearchHit
from hubindex.catalog.records import ModelRecord
from hubindex.catalog.store import Catalog
from hubindex.catalog.terms import TERM, text_terms
from hubindex.errors import HubindexError

MAX_PAGE_SIZE = 500
MAX_QUERY_CHARS = 200
SNIPPET_CHARS = 160
SUMMARY_COLUMNS = ("id", "status", "kind", "architecture", "model_type", "params", "dtype", "family", "base", "tags",
                   "created_at")
FILTERS = ("family", "kind", "status", "architecture", "tag")


def _summary(row: ModelRecord) -> ModelSummary:
    return ModelSummary(**{c: getattr(row, c) for c in SUMMARY_COLUMNS if c != "tags"}, tags=row.tags or [])


def list_models(catalog: Catalog, page: int = 1, page_size: int = 50, **filters: str | None) -> ModelPage:
    """Models matching every given filter (exact values; `tag` must be one of the model's tags), by id."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise HubindexError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
    if page < 1:
        raise HubindexError(f"page must be 1 or more, got {page}")
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise HubindexError(f"unknown filters {sorted(unknown)}; use {', '.join(FILTERS)}")
    where, params = [], []
    for name, value in filters.items():
        if value is None:
            continue
        where.append("list_contains(tags, ?)" if name == "tag" else f"{name} = ?")
        params.append(value)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    total = catalog.con.execute(f"SELECT count(*) FROM models {clause}", params).fetchone()[0]
    rows = catalog._records(ModelRecord, f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM models {clause} ORDER BY id "
                            "LIMIT ? OFFSET ?", [*params, page_size, (page - 1) * page_size])
    return ModelPage(items=[_summary(r) for r in rows], total=total, page=page, page_size=page_size)


def terms(query: str) -> list[str]:
    """Distinct lower-case words of a query (letters, digits, '-', '_', '.', '/'); the query's length is bounded."""
    if len(query) > MAX_QUERY_CHARS:
        raise HubindexError(f"query is longer than {MAX_QUERY_CHARS} characters")
    return list(dict.fromkeys(TERM.findall(query.lower())))


def _snippet(text: str | None, words: list[str]) -> str | None:
    if not text:
        return None
    lower = text.lower()
    at = min((i for i in (lower.find(w) for w in words) if i >= 0), default=-1)
    if at < 0:
        return None
    start = max(0, at - SNIPPET_CHARS // 3)
    return " ".join(text[start:start + SNIPPET_CHARS].split())


def search(catalog: Catalog, query: str, limit: int = 20) -> list[SearchHit]:
    """Models in which every query term occurs in the id or a tag, or is a word of the card text; best first.

    Score per term: 3 if in the id, 2 if in a tag, 1 if in the card text (summed over fields); ties by id. Card
    words come from the catalog's term table (an equality lookup per term), not a scan of every card.
    """
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise HubindexError(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
    words = terms(query)
    if not words:  # nothing searchable (only punctuation): nothing matches
        return []
    parts, every, params = [], [], []
    for word in words:
        in_id = "contains(lower(id), ?)"
        in_tags = "contains(lower(array_to_string(coalesce(tags, []), ' ')), ?)"
        in_card = "(id IN (SELECT model_id FROM card_terms WHERE term = ?))"  # a word of the card (terms.py)
        parts.append(f"(3 * {in_id}::INT + 2 * {in_tags}::INT + {in_card}::INT)")
        every.append(f"({in_id} OR {in_tags} OR {in_card})")
        params.append([word] * 3)
    score_params = [p for group in params for p in group]
    sql = (f"SELECT {', '.join(SUMMARY_COLUMNS)}, card_text, {' + '.join(parts)} AS score FROM models "
           f"WHERE {' AND '.join(every)} ORDER BY score DESC, id LIMIT ?")
    rows = catalog._records(ModelRecord, sql, [*score_params, *score_params, limit])  # the score in `extra`
    hits = []
    for row in rows:
        card = text_terms(row.card_text)
        matched = [field for field, hit in (("id", any(w in row.id.lower() for w in words)),
                                            ("tags", any(w in " ".join(row.tags or []).lower() for w in words)),
                                            ("card", any(w in card for w in words))) if hit]
        hits.append(SearchHit(model=_summary(row), score=float(row.extra["score"]), matched=matched,
                              snippet=_snippet(row.card_text, words)))
    return hits
