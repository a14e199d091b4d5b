"""A real `hubindex serve` over a small catalog holding a row of every status: listing and search answer 200 and
follow the schemas; a word that only the card holds finds its model."""

from __future__ import annotations

import json

import httpx
import jsonschema
import pytest

from hubindex.catalog import Catalog
from hubindex.schemas import schema_for
from hubindex.status import OK_STATUSES, ModelStatus
from tests.helpers import CONFIG, random_tensors, write_checkpoint
from tests.server import start_server

SHAPES = {"model.embed_tokens.weight": (16, 8), "model.layers.0.mlp.up_proj.weight": (8, 8)}
CARD_WORD = "quokkasaurus"  # appears in one model's card text only, never in an id or a tag


@pytest.fixture(scope="module")
def every_status_server(tmp_path_factory):
    from hubindex.indexer.pipeline import index_paths

    root = tmp_path_factory.mktemp("statuses")
    hub = root / "hub"
    for i, name in enumerate(("org/plain", "org/carded")):
        write_checkpoint(hub / name, random_tensors(i, SHAPES), CONFIG)
    (hub / "org/carded/README.md").write_text(f"---\ntags: [demo]\n---\n# Carded\nTuned on {CARD_WORD} notes.\n")
    db = root / "every.duckdb"
    index_paths(db, [hub], ["hubindex"], embed=False, quiet=True)
    with Catalog(db) as cat:
        for status in ModelStatus:
            if status not in OK_STATUSES:
                cat.record_failure(f"org/{status.value}", "https://hub.example", None, status, f"{status.value}!")
    server = start_server(db, env={"HUBINDEX_DEBUG": ""})
    yield server
    server.stop()


def test_listing_and_search_answer_every_status(every_status_server):
    url = every_status_server.url
    page = httpx.get(f"{url}/models", params={"page_size": 500}, timeout=30)
    assert page.status_code == 200, page.text
    jsonschema.validate(page.json(), schema_for("model_page"))
    statuses = {m["status"] for m in page.json()["items"]}
    assert statuses == {s.value for s in ModelStatus} - {"indexed"}  # no tokenizer here: weights_only
    for status in ModelStatus:
        one = httpx.get(f"{url}/models", params={"status": status.value}, timeout=30)
        assert one.status_code == 200, (status, one.text)
        jsonschema.validate(one.json(), schema_for("model_page"))
    hits = httpx.get(f"{url}/search", params={"q": "org"}, timeout=30)
    assert hits.status_code == 200, hits.text
    jsonschema.validate(hits.json(), schema_for("search"))
    assert len(hits.json()) == len(ModelStatus)  # two models and a row per failure status
    for model in ("org/gated", "org/missing", "org/invalid"):
        shown = httpx.get(f"{url}/models/{model}", timeout=30)
        assert shown.status_code == 200, shown.text
        jsonschema.validate(shown.json(), schema_for("model_view"))
    assert httpx.get(f"{url}/models", params={"status": "bogus"}, timeout=30).status_code == 422
    forest = httpx.get(f"{url}/atlas/forest", timeout=30)
    assert forest.status_code == 200, forest.text
    jsonschema.validate(forest.json(), schema_for("atlas_forest"))


def test_a_word_only_in_the_card_finds_its_model(every_status_server):
    hits = httpx.get(f"{every_status_server.url}/search", params={"q": CARD_WORD}, timeout=30)
    assert hits.status_code == 200, hits.text
    answer = hits.json()
    jsonschema.validate(answer, schema_for("search"))
    assert [h["model"]["id"] for h in answer] == ["org/carded"]
    assert answer[0]["matched"] == ["card"] and CARD_WORD in answer[0]["snippet"]
    assert json.dumps(answer).count(CARD_WORD) >= 1
