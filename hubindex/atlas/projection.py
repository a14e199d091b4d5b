"""2-D maps of a family's Delta Activations: PCA of the unit deltas, k-means clusters, declared tags.

Unit deltas are what the family's FAISS space compares (cosine), so near on the map means near in `similar`.
The number of clusters is the k in 2..MAX_CLUSTERS with the best silhouette, scored on a fixed subsample so a
10,000-model family costs little more than a 1,000-model one.
"""

from __future__ import annotations

from collections import Counter

import faiss
import numpy as np

from hubindex.atlas.answers import AtlasMap, MapPoint
from hubindex.atlas.silhouette import cosine_distances, silhouette_of_distances
from hubindex.catalog.spaces import delta_vectors
from hubindex.catalog.store import Catalog
from hubindex.embed.methods import get_method
from hubindex.errors import NotFoundError

MAX_CLUSTERS = 8
SILHOUETTE_SAMPLE = 1000
SEED = 0


def pca_2d(vectors: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Coordinates on the two leading principal axes and their share of the variance. Axis signs are fixed
    (largest loading positive) so the same catalog always draws the same map."""
    centred = vectors.astype(np.float64) - vectors.mean(axis=0)
    if len(vectors) < 2:
        return np.zeros((len(vectors), 2)), [0.0, 0.0]
    total = float((centred ** 2).sum())
    if min(centred.shape) > 3:  # only the two leading axes: ARPACK, not a full SVD of a 10,000 x 4096 matrix
        from scipy.sparse.linalg import svds  # scipy loads with the first map, not with the server

        _, singular, axes = svds(centred, k=2, random_state=SEED)
        order = np.argsort(-singular)
        singular, axes = singular[order], axes[order]
    else:
        _, singular, axes = np.linalg.svd(centred, full_matrices=False)
        axes = axes[:2]
    axes *= np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])[:, None]
    coords = centred @ axes.T
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    share = [float(s ** 2 / total) if total else 0.0 for s in singular[:2]]
    return coords, share + [0.0] * (2 - len(share))


def kmeans_clusters(vectors: np.ndarray) -> np.ndarray:
    """Cluster labels of unit vectors: spherical k-means, k chosen by silhouette (cosine) on a subsample."""
    n = len(vectors)
    if n < 4:
        return np.zeros(n, dtype=np.int64)
    data = np.ascontiguousarray(vectors, dtype=np.float32)
    rng = np.random.default_rng(SEED)
    sample = np.sort(rng.choice(n, size=min(n, SILHOUETTE_SAMPLE), replace=False))
    distance = cosine_distances(data[sample])
    best: tuple[float, np.ndarray] | None = None
    for k in range(2, min(MAX_CLUSTERS, n - 1) + 1):
        # faiss trains on at most 256 points per centroid (a seeded sample), then assigns every point.
        km = faiss.Kmeans(data.shape[1], k, niter=20, seed=SEED, spherical=True, min_points_per_centroid=1,
                          max_points_per_centroid=256)
        km.train(data)
        labels = km.index.search(data, 1)[1][:, 0]
        if len(set(labels[sample].tolist())) < 2:
            continue
        score = silhouette_of_distances(distance, labels[sample].tolist())
        if best is None or score > best[0]:
            best = (score, labels)
    if best is None:
        return np.zeros(n, dtype=np.int64)
    # Renumber by first appearance in id order, so colours do not shuffle between calls.
    order: dict[int, int] = {}
    return np.array([order.setdefault(int(c), len(order)) for c in best[1]], dtype=np.int64)


def specific_tags(tags_by_model: dict[str, list[str]]) -> dict[str, str | None]:
    """Each model's rarest tag among those carried by at most half the family (a domain, "merge"), if any."""
    counts = Counter(t for tags in tags_by_model.values() for t in set(tags))
    limit = max(1, len(tags_by_model) // 2)
    out: dict[str, str | None] = {}
    for model, tags in tags_by_model.items():
        telling = sorted((counts[t], t) for t in set(tags) if counts[t] <= limit)
        out[model] = telling[0][1] if telling else None
    return out


def family_map(catalog: Catalog, family: str, method: str = "hubindex") -> AtlasMap:
    get_method(method)
    members = delta_vectors(catalog, method, family).get(family)
    if not members:
        raise NotFoundError(f"family {family!r} has no Delta Activations ({method}) to map: not a family root, "
                            "or no member has a delta against it")
    ids = sorted(members)
    vectors = np.stack([members[m] for m in ids])
    coords, share = pca_2d(vectors)
    labels = kmeans_clusters(vectors)
    rows = {r.id: r for r in catalog.models_brief(family) if r.id in members}
    tags = specific_tags({m: rows[m].tags for m in ids})
    points = [MapPoint(model=m, x=float(coords[i, 0]), y=float(coords[i, 1]), cluster=int(labels[i]), tag=tags[m],
                       kind=rows[m].kind) for i, m in enumerate(ids)]
    return AtlasMap(family=family, method=method, clusters=int(labels.max()) + 1 if len(labels) else 0,
                    explained_variance=share, points=points)
