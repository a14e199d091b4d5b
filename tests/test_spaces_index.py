"""The index a large space gets: exact scores, the exact answer, and its settings kept through a file."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from hubindex.catalog import spaces


@pytest.fixture
def one_thread():
    """FAISS's OpenMP threads spin while they wait for a core: on a loaded machine training is many times slower."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(threads)


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_a_large_space_answers_as_exact_search(monkeypatch, tmp_path, one_thread, metric):
    monkeypatch.setattr(spaces, "LARGE_FROM", 1_000)
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(2_000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = spaces.build_index(vectors, metric)
    assert isinstance(index, faiss.IndexRefineFlat) and index.k_factor == spaces.REFINE_FACTOR
    faiss.write_index(index, str(tmp_path / "space.faiss"))
    index = faiss.read_index(str(tmp_path / "space.faiss"))
    assert index.k_factor == spaces.REFINE_FACTOR
    # `similar` asks with a member's vector as its space holds it (Spaces.vector): the exact float32 stored.
    assert all(index.reconstruct(i).tobytes() == vectors[i].tobytes() for i in (0, 777, 1_999))
    exact = faiss.IndexFlatIP(16) if metric == "ip" else faiss.IndexFlatL2(16)
    exact.add(vectors)
    queries = vectors[:40] + rng.normal(scale=0.05, size=(40, 16)).astype(np.float32)
    for query in queries:
        got, want = index.search(query[None, :], 10), exact.search(query[None, :], 10)
        assert np.array_equal(got[1], want[1]) and np.array_equal(got[0], want[0])


def test_a_wide_large_space_keeps_hnsw(monkeypatch, one_thread):
    monkeypatch.setattr(spaces, "LARGE_FROM", 100)
    monkeypatch.setattr(spaces, "SCAN_DIM_MAX", 8)
    vectors = np.random.default_rng(0).normal(size=(200, 16)).astype(np.float32)
    index = spaces.build_index(vectors, "l2")
    assert isinstance(index, faiss.IndexHNSWFlat) and index.hnsw.efSearch == spaces.EF_SEARCH
    assert index.reconstruct(123).tobytes() == vectors[123].tobytes()
