"""Atlas page at scale: serve a synthetic catalog of N models and time the page in Debian's chromium.

Per size (default 1,000 then 10,000, the smaller one is the baseline of the same run) it prints: the API time of
/atlas/forest and /atlas/map, the page's time to first drawn tree (navigation start to `atlas-ready`), the tree
and map render times, scrolling the whole virtualised models list, "Expand all" on the largest family, and the
longest task that blocked the main thread (a frozen tab shows as a long task of seconds).

    .venv/bin/python bench/atlas_render.py [--sizes 1000,10000] [--screenshots DIR]

The synthetic catalog has the shape of a hub: three families (60/30/10 %), each root with a fan of finetunes
(sweeps of up to thousands of siblings), chains of continued finetunes, adapters, quantized leaves and merges of
2-3 earlier models; Delta Activations embeddings cluster by one of ten domains, which is also the card tag.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hubindex.catalog import Catalog
from hubindex.catalog.spaces import rebuild
from tests.server import start_server

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
            embeddings.append({"model_id": model, "vector": vector.astype(np.float32).tolist(), "base": root})
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
                        "vector::FLOAT[], sqrt(list_inner_product(vector, vector)) "
                        f"FROM read_json('{tmp / 'emb.json'}')", [method])
        rebuild(catalog)
    return path


LONG_TASKS = """
window.__longest = 0;
new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__longest = Math.max(window.__longest,
  e.duration); }).observe({ type: "longtask", buffered: true });
"""


def measure(browser, url: str, shots: Path | None, n: int) -> dict:
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    forest = httpx.get(f"{url}/atlas/forest", timeout=120).json()
    out["api_forest_ms"] = (time.perf_counter() - t0) * 1000
    largest = forest["families"][0]["root"]
    t0 = time.perf_counter()
    httpx.get(f"{url}/atlas/map", params={"family": largest}, timeout=120).raise_for_status()
    out["api_map_ms"] = (time.perf_counter() - t0) * 1000  # first call: PCA and k-means of the largest family
    context = browser.new_context(viewport={"width": 1500, "height": 950})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script(LONG_TASKS)
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready='1']", timeout=120_000)
    out["page_ready_ms"] = page.evaluate("performance.getEntriesByName('atlas-ready')[0].startTime")
    out["tree_nodes_drawn"] = page.locator("g.node").count()
    out["tree_render_ms"] = float(page.inner_text("#forest-status").rsplit("·", 1)[1].split("ms")[0])
    if shots:
        page.screenshot(path=str(shots / f"atlas-{n}-forest.png"))
    # Scroll the whole virtualised list, frame by frame.
    out["list_scroll_ms"] = page.evaluate("""async () => {
        const list = document.querySelector('#models'), t0 = performance.now();
        while (list.scrollTop + list.clientHeight < list.scrollHeight - 1) {
            list.scrollTop += list.clientHeight * 4;
            await new Promise(requestAnimationFrame);
        }
        return performance.now() - t0; }""")
    out["list_rows_in_dom"] = page.locator("#models .vrow").count()
    t0 = time.perf_counter()
    page.click("#tab-map")
    page.wait_for_function("() => performance.getEntriesByName('map-ready').length > 0", timeout=120_000)
    out["map_ready_ms"] = (time.perf_counter() - t0) * 1000
    out["map_redraw_ms"] = page.evaluate("() => { const t0 = performance.now(); drawMap(); "
                                         "return performance.now() - t0; }")
    if shots:
        page.screenshot(path=str(shots / f"atlas-{n}-map.png"))
    page.click("#tab-forest")
    t0 = time.perf_counter()
    page.click("#expand-all")
    page.wait_for_function("() => !document.querySelector('#forest-status').textContent.includes('expand the')"
                           " || document.querySelectorAll('g.node').length >= 2000", timeout=120_000)
    out["expand_all_ms"] = (time.perf_counter() - t0) * 1000
    out["expanded_nodes"] = page.locator("g.node").count()
    out["longest_task_ms"] = page.evaluate("window.__longest")
    context.close()
    if errors:
        raise SystemExit(f"console errors at n={n}: {errors[:5]}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--screenshots", type=Path)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    sizes = [int(s) for s in args.sizes.split(",")]
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    results = {}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        for n in sizes:
            folder = Path(tmp) / str(n)
            folder.mkdir()
            t0 = time.perf_counter()
            db = write_catalog(folder / "synthetic.duckdb", n)
            print(f"n={n}: synthetic catalog written in {time.perf_counter() - t0:.1f} s", flush=True)
            server = start_server(db)
            try:
                results[n] = measure(browser, server.url, args.screenshots, n)
            finally:
                server.stop()
            print(f"n={n}: " + ", ".join(f"{k} {v:.0f}" for k, v in results[n].items()), flush=True)
        browser.close()
    if len(sizes) > 1:
        small, big = sizes[0], sizes[-1]
        for key in ("api_forest_ms", "page_ready_ms", "tree_render_ms", "map_ready_ms", "longest_task_ms"):
            ratio = results[big][key] / max(results[small][key], 1e-9)
            print(f"{key}: {results[small][key]:.0f} -> {results[big][key]:.0f} ms "
                  f"({ratio:.1f}x for {big // small}x the models)")


if __name__ == "__main__":
    main()
