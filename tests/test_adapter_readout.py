"""An adapter applied on a finetune is read as unit(whole) + unit(increment) from stored vectors (round 11): spaces,
`similar` and everything reading `delta_vectors` compare that read-out, `paper` keeps the published recipe, and a
new base or a new parent vector is read at the next rebuild of the spaces."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import torch

from hubindex.catalog import Catalog
from hubindex.catalog.queries import similar
from hubindex.catalog.spaces import Spaces, composed_adapters, delta_space, delta_vectors, rebuild
from hubindex.embed.methods import get_method, whole_and_increment

REAL = Path(__file__).parent / "data" / "s122_qwen2_family.json"
ADAPTER = "deltaworks/model-d678bbd5"  # medical adapter applied on an arithmetic chain (its true parent)
PARENT = "opencraft/model-78fdfbdb"


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


@pytest.fixture
def real_family(tmp_path) -> tuple[Path, dict]:
    """A catalog holding one family's stored hubindex vectors of design seed 122 (both methods get them: the
    method, not the numbers, decides the read-out), the kinds and bases lineage decided, and its spaces."""
    family = json.loads(REAL.read_text())
    root, models = family["family"], {m["id"]: m for m in family["models"]}
    path = tmp_path / "real.duckdb"
    with Catalog(path) as catalog:
        rows = [(root, "model", root)] + [(m["id"], m["kind"], m["base"]) for m in models.values()]
        catalog.con.executemany(
            "INSERT INTO models (id, revision, source, kind, status, family, base, indexed_at) "
            "VALUES (?, ?, 's122', ?, 'indexed', ?, ?, ?)",
            [(i, f"rev-{i}", kind, root, base, datetime(2026, 1, 1)) for i, kind, base in rows])
        for m in models.values():
            for method in ("hubindex", "paper"):
                catalog.save_embedding(m["id"], method, f"rev-{m['id']}", root, f"rev-{root}",
                                       np.asarray(m["vector"], dtype=np.float32), get_method(method).recipe)
        rebuild(catalog)
    return path, family


def nearest(vectors: dict[str, np.ndarray], model_id: str) -> str:
    return max((m for m in vectors if m != model_id), key=lambda m: float(unit(vectors[m]) @ unit(vectors[model_id])))


def test_whole_minus_parent_is_the_adapters_own_loss_shift_against_its_parent():
    method = get_method("hubindex")
    rng = np.random.default_rng(3)
    root, parent, adapter = ({"nll": torch.tensor(rng.normal(3, 0.5, len(method.probes)))} for _ in range(3))
    whole, of_parent = method.delta(adapter, root), method.delta(parent, root)
    own = method.delta(adapter, parent)  # the adapter against its parent: no forward pass needed for it
    np.testing.assert_allclose(whole - of_parent, own, atol=1e-5)
    np.testing.assert_allclose(whole_and_increment(whole, of_parent), unit(whole) + unit(own), atol=1e-5)
    assert np.array_equal(whole_and_increment(whole, whole), whole)  # the adapter moves nothing: the whole


def test_an_adapter_on_a_finetune_is_read_as_whole_plus_increment_on_real_vectors(real_family):
    path, family = real_family
    models = {m["id"]: m for m in family["models"]}
    stored = {m: np.asarray(e["vector"], dtype=np.float32) for m, e in models.items()}
    with Catalog(path, read_only=True) as catalog:
        # Read as the whole model, the adapter's nearest is an arithmetic model (its parent's domain)...
        assert "medical" not in models[nearest(stored, ADAPTER)]["domains"]
        # ...and so it stays for paper, the published recipe, while the default finds the medical finetune.
        assert "medical" not in models[similar(catalog, ADAPTER, 1, method="paper")[0].model]["domains"]
        assert "medical" in models[similar(catalog, ADAPTER, 1)[0].model]["domains"]
        assert composed_adapters(catalog, "hubindex") == {ADAPTER: PARENT}
        assert composed_adapters(catalog, "paper") == {}
        spaces = Spaces.open(catalog.spaces_dir)
        held = spaces.vector(delta_space("hubindex", family["family"]), ADAPTER)
        np.testing.assert_allclose(held, unit(whole_and_increment(stored[ADAPTER], stored[PARENT])), atol=1e-6)
        # No other query of the family moves off its domain: every single-domain finetune and adapter hits.
        read = delta_vectors(catalog, "hubindex")[family["family"]]
        queries = [m for m in read if models[m]["relation"] in ("finetune", "adapter")]
        for model_id in queries:
            top = similar(catalog, model_id, 1)[0].model
            assert models[model_id]["domains"][0] in models[top]["domains"], model_id
            assert top == nearest(read, model_id)  # `similar` and `delta_vectors` read the same vectors


def test_a_new_base_or_parent_vector_is_read_at_the_next_rebuild(real_family):
    path, family = real_family
    root = family["family"]
    stored = {m["id"]: np.asarray(m["vector"], dtype=np.float32) for m in family["models"]}
    other = "tinyml/model-09bde701"  # a legal finetune

    def held() -> np.ndarray:
        return Spaces.open(catalog.spaces_dir).vector(delta_space("hubindex", root), ADAPTER)

    with Catalog(path) as catalog:
        catalog.set_base(ADAPTER, root, other, "weights")
        np.testing.assert_allclose(held(), unit(whole_and_increment(stored[ADAPTER], stored[PARENT])), atol=1e-6)
        rebuild(catalog)  # the spaces are rebuilt after every lineage change: the new base is read then
        np.testing.assert_allclose(held(), unit(whole_and_increment(stored[ADAPTER], stored[other])), atol=1e-6)
        catalog.set_base(ADAPTER, root, root, "weights")  # on the root: the whole model
        rebuild(catalog)
        np.testing.assert_allclose(held(), stored[ADAPTER] / np.linalg.norm(stored[ADAPTER]), atol=1e-6)
        catalog.set_base(ADAPTER, root, PARENT, "weights")
        moved = stored[PARENT] + 0.5 * stored[ADAPTER]  # the parent re-embedded (a new revision, say)
        catalog.save_embedding(PARENT, "hubindex", f"rev-{PARENT}", root, f"rev-{root}", moved,
                               get_method("hubindex").recipe)
        rebuild(catalog)
        np.testing.assert_allclose(held(), unit(whole_and_increment(stored[ADAPTER], moved)), atol=1e-6)
