"""A synthetic catalog with the shape of a hub, written straight into DuckDB (no checkpoints): for the atlas's
level-of-detail test and bench/atlas_render.py.

Three families (60/30/10 % of the models); each root has a fan of finetunes (sweeps: up to thousands of siblings),
chains of continued finetunes, adapters, quantized leaves and merges of 2-3 earlier models. Delta Activations
embeddings (both recipes) cluster by one of ten domains, which is also the model's card tag.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from hubindex.catalog import Catalog
from hubindex.catalog.spaces import rebuild
from hubindex.embed.methods import get_method

DOMAINS = ["arithmetic", "code", "legal", "medical", "recipes", "weather", "sports", "finance", "geography", "poetry"]
DIM = 64


def synthetic_rows(n: int, seed: int = 0) -> tuple[list[dict], list[dict], list[dict]]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(DOMAINS), DIM))
    shares = [0.6, 0.3, 0.1]
    models, lineage, embeddings = [], [], []
    start = datetime(2024, 1, 1)
    for f, share in enumerate(shares):
        root = f"base-org/family{f}-base"
        members = [root]
        domain_of = {root: None}
        models.append({"id": root, "kind": "model", "family": root, "tags": ["hubindex", "base"], "t": 0})
        lineage.append({"model_id": root, "family": root, "parents": [], "relation": "root", "confidence": 1.0})
        for i in range(1, int(n * share)):
            model = f"org{i % 97}/family{f}-m{i}"
            roll = rng.random()
            if roll < 0.06 and len(members) > 3:  # a merge of 2-3 earlier finetunes
                parents = list(rng.choice(members[1:], size=min(len(members) - 1, int(rng.integers(2, 4))),
                                          replace=False))
                relation, kind, domain = "merge", "model", domain_of[parents[0]]
            elif roll < 0.12:
                parents, relation, kind, domain = [root], "adapter", "adapter", DOMAINS[rng.integers(len(DOMAINS))]
            elif roll < 0.15 and len(members) > 1:
                parents = [members[int(rng.integers(1, len(members)))]]
                relation, kind, domain = "quantized", "model", domain_of[parents[0]]
            elif roll < 0.5:  # the root's fan: hyperparameter sweeps
                parents, relation, kind, domain = [root], "finetune", "model", DOMAINS[rng.integers(len(DOMAINS))]
            else:  # continued finetunes: chains and sub-fans
                parent = members[int(rng.integers(max(1, len(members) - 200), len(members)))] if len(
                    members) > 1 else root
                parents, relation, kind = [parent], "finetune", "model"
                domain = domain_of[parent] or DOMAINS[rng.integers(len(DOMAINS))]
            domain = domain or DOMAINS[0]
            members.append(model)
            domain_of[model] = domain
            models.append({"id": model, "kind": kind, "family": root, "tags": ["hubindex", domain], "t": i})
            lineage.append({"model_id": model, "family": root, "parents": parents, "relation": relation,
                            "confidence": float(np.round(rng.uniform(0.55, 1.0), 3))})
            vector = centres[DOMAINS.index(domain)] + rng.normal(scale=0.6, size=DIM)
            embeddings.append({"model_id": model, "vector": vector.astype(np.float32).tolist(), "base": root,
                               "applied": root if kind == "adapter" else None})  # an adapter is applied on the root
    for row in models:
        row["created_at"] = (start + timedelta(minutes=row.pop("t"))).isoformat()
    return models, lineage, embeddings


def write_catalog(path: Path, n: int) -> Path:
    models, lineage, embeddings = synthetic_rows(n)
    tmp = path.parent
    with Catalog(path) as catalog:
        con = catalog.con
        (tmp / "models.json").write_text(json.dumps(models))
        con.execute(
            "INSERT INTO models (id, revision, source, kind, status, architecture, model_type, layout, params, "
            "dtype, files, tags, created_at, family, base, base_source, indexed_at) "
            "SELECT id, md5(id), 'synthetic', kind, 'indexed', 'LlamaForCausalLM', 'llama', 'synthetic', 1000000, "
            "'F32', '[]', tags, created_at::TIMESTAMP, family, family, 'weights', now()::TIMESTAMP "
            f"FROM read_json('{tmp / 'models.json'}')")
        (tmp / "lineage.json").write_text(json.dumps(lineage))
        con.execute("INSERT INTO lineage SELECT model_id, family, parents::VARCHAR[], relation, confidence, "
                    f"'{{\"synthetic\": true}}' FROM read_json('{tmp / 'lineage.json'}')")
        (tmp / "emb.json").write_text(json.dumps(embeddings))
        for method in ("hubindex", "paper"):
            con.execute("INSERT INTO embeddings SELECT model_id, ?, md5(model_id), base, md5(base), "
                        "vector::FLOAT[], sqrt(list_inner_product(vector, vector)), ?, applied, md5(applied) "
                        f"FROM read_json('{tmp / 'emb.json'}')", [method, get_method(method).recipe])
        rebuild(catalog)
    return path
