"""The atlas page in a real browser: Debian's chromium driven by Playwright against `hubindex serve` over a copy of
the tiny zoo's catalog. Screenshots go to $HUBINDEX_SCREENSHOTS (else pytest's temporary directory)."""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import httpx
import jsonschema
import pytest

from hubindex.schemas import schema_for
from tests.server import copy_catalog, start_server
from tests.synthetic_catalog import write_catalog

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def atlas_server(tiny_catalog, tmp_path_factory):
    server = start_server(copy_catalog(tiny_catalog, tmp_path_factory.mktemp("atlas-served")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: the tests run as root in a container, where chromium's sandbox cannot start.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("HUBINDEX_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def atlas_page(browser, url: str):
    """A fresh page on the atlas, loaded; fails the test on any console error or uncaught exception."""
    context = browser.new_context(viewport={"width": 1500, "height": 950})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    yield page
    page.wait_for_timeout(200)  # let late answers arrive before checking the console
    context.close()
    assert problems == []


@pytest.fixture
def page(browser, atlas_server):
    with atlas_page(browser, atlas_server.url) as page:
        yield page


def api(server, path: str, **params):
    response = httpx.get(server.url + path, params=params, timeout=30)
    return response.status_code, response.json()


def family_buttons(page) -> list[str]:
    return page.eval_on_selector_all("#families button", "bs => bs.map(b => b.dataset.family)")


def drawn_edges(page) -> set[tuple[str, str, str]]:
    return {tuple(e) for e in page.eval_on_selector_all(
        "path.edge[data-parent]", "es => es.map(e => [e.dataset.parent, e.dataset.child, e.dataset.relation])")}


def test_forest_draws_every_edge_of_the_zoo(page, atlas_server, tiny_zoo, shots):
    truth = json.loads((tiny_zoo / "truth.json").read_text())
    status, forest = api(atlas_server, "/atlas/forest")
    assert status == 200
    jsonschema.validate(forest, schema_for("atlas_forest"))
    expected = {(p, n["model"], n["relation"]) for n in forest["nodes"] for p in n["parents"]}
    drawn: set[tuple[str, str, str]] = set()
    families = family_buttons(page)
    assert sorted(families) == sorted(m for m, t in truth.items() if not t["parents"])
    for index, family in enumerate(families):
        page.click(f"#families button[data-family='{family}']")
        page.click("#expand-all")
        assert page.get_attribute(f"g.node[data-model='{family}']", "aria-level") == "1"
        drawn |= drawn_edges(page)
        page.screenshot(path=str(shots / f"forest-{index}.png"))
    assert drawn == expected  # the page draws exactly the API's lineage, merges with all their parents
    known = {(p, m) for m, t in truth.items() for p in t["parents"]}
    found = {(p, c) for p, c, _ in drawn}
    assert len(known & found) / len(known) >= 0.9, sorted(known - found)
    merges = [m for m, t in truth.items() if t["relation"] == "merge"]
    whole = [m for m in merges if {(p, m) for p in truth[m]["parents"]} <= found]
    assert len(whole) >= len(merges) - 1 and all(len(truth[m]["parents"]) >= 2 for m in whole)
    # Confidence is on the page: in each node's label and as edge width.
    label = page.get_attribute("g.node[data-model]:not([data-model$='-base'])", "aria-label")
    assert "confidence 0." in label or "confidence 1" in label


def test_clicking_a_model_opens_its_panel_with_parents(page, tiny_zoo, shots):
    truth = json.loads((tiny_zoo / "truth.json").read_text())
    model = next(m for m, t in sorted(truth.items()) if t["relation"] == "merge" and len(t["parents"]) >= 2)
    family = truth[model]["family"]
    root = next(m for m, t in truth.items() if not t["parents"] and t["family"] == family)
    page.click(f"#families button[data-family='{root}']")
    page.click(f"g.node[data-model='{model}']")
    panel = page.locator("#panel")
    panel.locator("ol.neighbours li").first.wait_for()
    assert panel.locator("h2").inner_text() == model
    chosen = set(panel.locator("ol.parents > li[data-parent]").evaluate_all("ls => ls.map(l => l.dataset.parent)"))
    assert chosen & set(truth[model]["parents"]), (chosen, truth[model]["parents"])
    assert "merge" in panel.inner_text()
    assert panel.locator("ol.neighbours li").count() == 8
    merge_partners = panel.locator("ol.merge li")
    assert merge_partners.count() >= 1 and "score" not in merge_partners.first.inner_text().split()[0]
    page.screenshot(path=str(shots / "panel.png"))
    # A neighbour opens in the same panel.
    neighbour = panel.locator("ol.neighbours li button").first
    name = neighbour.inner_text()
    neighbour.click()
    page.wait_for_function("name => document.querySelector('#panel h2').textContent === name", arg=name)


def test_search_finds_a_model_by_text_and_by_id(page, tiny_zoo, shots):
    truth = json.loads((tiny_zoo / "truth.json").read_text())
    model = sorted(m for m, t in truth.items() if t["relation"] == "finetune")[0]
    fragment = model.split("/")[1]
    page.fill("#search", fragment)
    page.wait_for_function("n => document.querySelector('#models-count').textContent === `(${n})`",
                           arg=sum(fragment in m for m in truth))
    listed = page.eval_on_selector_all("#models .vrow", "rs => rs.map(r => r.dataset.model)")
    assert model in listed and all(fragment in m for m in listed)
    page.fill("#search", model.upper())  # an exact id, whatever the case, opens its panel
    page.press("#search", "Enter")
    page.wait_for_function("m => document.querySelector('#panel h2')?.textContent === m", arg=model)
    # A tag: the domain tag lists that domain's models.
    domain = truth[model]["domain"]
    page.fill("#search", domain)
    page.wait_for_timeout(300)
    listed = page.eval_on_selector_all("#models .vrow", "rs => rs.map(r => r.dataset.model)")
    assert model in listed
    page.screenshot(path=str(shots / "search.png"))
    # Hostile text is only ever text: no markup is created, no script runs, the server search answers 0 hits.
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.fill("#search", '<img src=x onerror="alert(1)"> %2F../../etc')
    page.press("#search", "Enter")
    page.wait_for_function("() => document.querySelector('#search-status').textContent.startsWith('0 in')")
    assert dialogs == [] and page.locator("img").count() == 0


def test_keyboard_reaches_tree_list_and_map(page, atlas_server, shots):
    # Tab from the search box into the families, the list and the tree: the tree's one tab stop is its root.
    page.focus("#search")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('role')") == "treeitem":
            break
    else:
        pytest.fail("Tab never reached the lineage tree")
    root = page.evaluate("document.activeElement.dataset.model")
    assert root == family_buttons(page)[0]
    outline = page.evaluate("getComputedStyle(document.activeElement.querySelector('rect.hit')).stroke")
    assert outline == "rgb(255, 140, 0)"  # visible focus
    page.keyboard.press("ArrowRight")
    child = page.evaluate("document.activeElement.dataset.model")
    _, forest = api(atlas_server, "/atlas/forest")
    assert root in next(n for n in forest["nodes"] if n["model"] == child)["parents"]
    page.keyboard.press("ArrowDown")
    below = page.evaluate("document.activeElement.dataset.model")
    assert below and below != child
    page.keyboard.press("Enter")
    page.wait_for_function("m => document.querySelector('#panel h2')?.textContent === m", arg=below)
    parents = {n["model"]: n["parents"] for n in forest["nodes"]}
    for _ in range(5):  # Left climbs to the parent, up to the root
        page.keyboard.press("ArrowLeft")
        up = page.evaluate("document.activeElement.dataset.model")
        assert up in parents[below]
        if up == root:
            break
        below = up
    assert page.evaluate("document.activeElement.dataset.model") == root
    page.screenshot(path=str(shots / "keyboard-tree.png"))
    # The models list: arrows move the active row, Enter opens it.
    page.focus("#models")
    page.keyboard.press("End")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    ids = sorted(n["model"] for n in forest["nodes"])
    page.wait_for_function("m => document.querySelector('#panel h2')?.textContent === m", arg=ids[-2])
    # The map: the tab list switches views with arrows; arrows walk the points, Enter opens one.
    page.focus("#tab-forest")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-map"
    page.wait_for_function("() => document.querySelector('#map-status').textContent.includes('clusters')")
    page.focus("#map")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    status, points = api(atlas_server, "/atlas/map", family=page.evaluate("state.family"))
    assert status == 200
    jsonschema.validate(points, schema_for("atlas_map"))
    page.wait_for_function("ms => ms.includes(document.querySelector('#panel h2')?.textContent)",
                           arg=[p["model"] for p in points["points"]])
    page.screenshot(path=str(shots / "map.png"))


def test_atlas_endpoints_refuse_bad_input(atlas_server):
    for family, code in [("../../etc/passwd", 404), ("nobody/none", 404), ("x'; DROP TABLE models; --", 404),
                         ("a" * 300, 422)]:
        status, body = api(atlas_server, "/atlas/map", family=family)
        assert status == code, (family, body)
    assert api(atlas_server, "/atlas/map", family="x/y", method="evil")[0] == 422
    for path in ("/static/../api/app.py", "/static/..%2Fapp.py", "/static/index.py", "/static/%2e%2e"):
        assert httpx.get(atlas_server.url + path, timeout=10).status_code == 404, path
    page = httpx.get(atlas_server.url + "/", timeout=10)
    assert page.status_code == 200 and "hubindex atlas" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert httpx.get(atlas_server.url + "/static/app.js", timeout=10).headers["content-type"].startswith(
        "text/javascript")


def test_a_large_catalog_is_drawn_by_level_of_detail(browser, tmp_path_factory, shots):
    server = start_server(write_catalog(tmp_path_factory.mktemp("atlas-large") / "large.duckdb", 3000))
    try:
        _, forest = api(server, "/atlas/forest")
        children: dict[str, list[str]] = {}
        for node in forest["nodes"]:
            if node["parents"]:
                children.setdefault(node["parents"][0], []).append(node["model"])
        with atlas_page(browser, server.url) as page:
            assert page.inner_text("#models-count") == "(3,000)"
            assert page.locator("#models .vrow").count() < 60  # only the rows in view exist
            drawn = page.locator("g.node[data-model]").count()
            largest = forest["families"][0]
            assert largest["size"] == 1800 and 20 < drawn <= 400
            fan = page.locator("g.stub[data-stub='fan']").first
            parent = fan.get_attribute("data-parent")
            assert len(children[parent]) > 20
            page.screenshot(path=str(shots / "large-folded.png"))
            drawn_ids = "ns => ns.map(n => n.dataset.model)"
            before = set(page.eval_on_selector_all("g.node[data-model]", drawn_ids)) & set(children[parent])
            fan.focus()
            page.keyboard.press("Enter")  # unfolds the fan by up to 200 more children
            after = set(page.eval_on_selector_all("g.node[data-model]", drawn_ids)) & set(children[parent])
            assert before < after and len(after) == min(len(children[parent]), len(before) + 200)
            # A model deep in a folded part is unfolded into view when it is opened. (Not through the panel here:
            # synthetic models have no weight signatures for /parents and /similar to read.)
            hidden = next(n["model"] for n in forest["nodes"] if n["family"] == largest["root"]
                          and n["model"] not in set(page.eval_on_selector_all("g.node[data-model]", drawn_ids)))
            page.evaluate("id => revealInTree(id)", hidden)
            assert page.locator(f"g.node[data-model='{hidden}']").count() == 1
            page.click("#tab-map")
            page.wait_for_function("() => document.querySelector('#map-status').textContent.includes('clusters')")
            page.screenshot(path=str(shots / "large-map.png"))
    finally:
        server.stop()
