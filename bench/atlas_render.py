"""Atlas page at scale: serve a synthetic catalog of N models and time the page in Debian's chromium.

Per size (default 1,000 then 10,000, the smaller one is the baseline of the same run) it prints: the API time of
/atlas/forest and /atlas/map, the page's time to first drawn tree (navigation start to `atlas-ready`), the tree
and map render times, scrolling the whole virtualised models list, "Expand all" on the largest family, and the
longest task that blocked the main thread (a frozen tab shows as a long task of seconds).

    .venv/bin/python bench/atlas_render.py [--sizes 1000,10000] [--screenshots DIR]

The synthetic catalog (tests/synthetic_catalog.py) has the shape of a hub: three families, root fans of thousands
of siblings, chains, adapters, quantized leaves, merges, embeddings in ten domain clusters.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.server import start_server
from tests.synthetic_catalog import write_catalog

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
