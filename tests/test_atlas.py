"""Atlas answers over the indexed tiny zoo: the forest matches the lineage table, maps follow the embeddings."""

import json

import jsonschema
import numpy as np
import pytest

from hubindex.atlas import family_map, forest
from hubindex.atlas.projection import kmeans_clusters, pca_2d, specific_tags
from hubindex.catalog import Catalog
from hubindex.catalog.spaces import delta_vectors
from hubindex.errors import HubindexError
from hubindex.schemas import schema_for


def test_forest_has_every_model_and_its_lineage(tiny_catalog, tiny_zoo):
    with Catalog(tiny_catalog, read_only=True) as catalog:
        answer = forest(catalog)
        lineage = {r.model_id: r for r in catalog.lineage()}
    jsonschema.validate(json.loads(answer.model_dump_json()), schema_for("atlas_forest"))
    truth = json.loads((tiny_zoo / "truth.json").read_text())
    nodes = {n.model: n for n in answer.nodes}
    assert set(nodes) == set(truth)
    for model, node in nodes.items():
        assert node.parents == lineage[model].parents and node.relation == lineage[model].relation
    roots = {m for m, t in truth.items() if not t["parents"]}
    assert {f.root for f in answer.families} == roots
    assert sum(f.size for f in answer.families) == len(truth)
    # Families come largest first, and each has deltas to map in both recipes.
    assert [f.size for f in answer.families] == sorted((f.size for f in answer.families), reverse=True)
    assert all(f.embedded["hubindex"] > 0 and f.embedded["paper"] > 0 for f in answer.families)
    assert all(nodes[r].delta_methods == [] for r in roots)  # a root has no delta against itself


def test_family_map_projects_the_family_deltas(tiny_catalog, tiny_zoo):
    truth = json.loads((tiny_zoo / "truth.json").read_text())
    with Catalog(tiny_catalog, read_only=True) as catalog:
        root = next(m for m, t in truth.items() if not t["parents"])
        answer = family_map(catalog, root, "hubindex")
        vectors = delta_vectors(catalog, "hubindex")[root]
        with pytest.raises(HubindexError, match="no Delta Activations"):
            family_map(catalog, "nobody/none", "hubindex")
        with pytest.raises(HubindexError, match="unknown embedding method"):
            family_map(catalog, root, "nope")
    jsonschema.validate(json.loads(answer.model_dump_json()), schema_for("atlas_map"))
    assert {p.model for p in answer.points} == set(vectors)
    assert 2 <= answer.clusters <= 8 and {p.cluster for p in answer.points} == set(range(answer.clusters))
    assert 0 < answer.explained_variance[1] <= answer.explained_variance[0] < 1
    # Distances on the map follow cosine distances: the two views rank pairs alike.
    ids = [p.model for p in answer.points]
    xy = np.array([[p.x, p.y] for p in answer.points])
    unit = np.stack([vectors[m] for m in ids])
    iu = np.triu_indices(len(ids), 1)
    map_d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)[iu]
    cos_d = (1 - unit @ unit.T)[iu]
    ranks = lambda a: np.argsort(np.argsort(a))  # noqa: E731
    assert np.corrcoef(ranks(map_d), ranks(cos_d))[0, 1] > 0.5
    # Same-domain single-domain finetunes share a cluster more often than chance.
    domain = {m: truth[m]["domain"] for m in ids if truth[m]["relation"] in ("finetune", "adapter")
              and truth[m]["domain"] and "," not in str(truth[m]["domain"])}
    cluster = {p.model: p.cluster for p in answer.points}
    same = [cluster[a] == cluster[b] for a in domain for b in domain if a < b and domain[a] == domain[b]]
    diff = [cluster[a] == cluster[b] for a in domain for b in domain if a < b and domain[a] != domain[b]]
    assert np.mean(same) > np.mean(diff) + 0.3
    tags = {p.model: p.tag for p in answer.points}
    assert np.mean([tags[m] == domain[m] for m in domain]) >= 0.8  # cards tag finetunes with their domain


def test_projection_helpers_on_small_and_degenerate_input():
    coords, share = pca_2d(np.ones((1, 8), dtype=np.float32))
    assert coords.shape == (1, 2) and share == [0.0, 0.0]
    coords, share = pca_2d(np.eye(2, 8, dtype=np.float32))
    assert coords.shape == (2, 2) and share[0] == pytest.approx(1.0)
    assert kmeans_clusters(np.eye(3, 8, dtype=np.float32)).tolist() == [0, 0, 0]
    rng = np.random.default_rng(0)
    centres = np.eye(3, 16) * 5
    blobs = np.concatenate([c + rng.normal(0, 0.1, (30, 16)) for c in centres]).astype(np.float32)
    labels = kmeans_clusters(blobs / np.linalg.norm(blobs, axis=1, keepdims=True))
    assert labels.max() == 2 and all(len(set(labels[i * 30:(i + 1) * 30])) == 1 for i in range(3))
    assert labels[0] == 0  # numbered by first appearance
    assert specific_tags({"a": ["hub", "legal"], "b": ["hub", "code"], "c": ["hub"]}) == {"a": "legal", "b": "code",
                                                                                         "c": None}


def test_parents_and_merge_candidates_of_a_model_without_signature_say_so(tmp_path):
    """Rows with lineage but no weight signature (the synthetic catalog has none): a clear not-found, not a crash."""
    from hubindex.catalog import Catalog
    from hubindex.errors import NotFoundError
    from hubindex.lineage.queries import parents
    from hubindex.merge_candidates.candidates import rank
    from tests.synthetic_catalog import write_catalog

    db = write_catalog(tmp_path / "synthetic.duckdb", 60)
    with Catalog(db, read_only=True) as catalog:
        child = next(e.model_id for e in catalog.lineage() if e.relation == "finetune")
        for query in (parents, rank):
            with pytest.raises(NotFoundError, match="no weight signature"):
                query(catalog, child)


def test_atlas_answers_are_cached_until_the_catalog_changes(tmp_path):
    import json

    from hubindex.atlas import forest
    from hubindex.catalog import Catalog
    from hubindex.catalog.cache import AnswerCache
    from tests.synthetic_catalog import write_catalog

    db = write_catalog(tmp_path / "synthetic.duckdb", 80)
    cache, computed = AnswerCache(), []

    def answer(catalog):
        computed.append(1)
        return forest(catalog).model_dump_json().encode()

    with Catalog(db) as catalog:
        first = cache.json(catalog, ("forest",), lambda: answer(catalog))
        assert cache.json(catalog, ("forest",), lambda: answer(catalog)) == first and len(computed) == 1
        model, other = (e.model_id for e in catalog.lineage()[-2:])
        for change in (lambda: catalog.set_status(model, "error", "gone"),
                       lambda: catalog.con.execute("UPDATE lineage SET confidence = 0.5 WHERE model_id = ?", [model]),
                       lambda: catalog.con.execute("DELETE FROM embeddings WHERE model_id = ?", [other])):
            change()
            body = cache.json(catalog, ("forest",), lambda: answer(catalog))
            assert json.loads(body) == forest(catalog).model_dump(mode="json") and body != first
            first = body
        assert len(computed) == 4
