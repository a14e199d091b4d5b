// hubindex atlas: a single page over the public API (atlas/forest, atlas/map, models/..., search).
// No framework and no build step: the package ships these files as they are.
"use strict";

const RELATION_COLOURS = {
  root: "#1d1f21", finetune: "#2e9d4a", adapter: "#0f9bb0", merge: "#b8329a", quantized: "#3465d9", copy: "#c79a00",
};
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
  "#7f7f7f", "#393b79", "#ad494a"];
const FAN = 20;            // children shown per node before "+N more"
const TREE_BUDGET = 400;   // nodes drawn per family before deeper levels collapse into "+N descendants"
const EXPAND_ALL_CAP = 2000;
const FAN_STEP = 200;      // children one click on "+N more" adds (the budget grows by as much)
const ROW_H = 26;          // models list row height (px)
const TREE_ROW = 24, TREE_COL = 300;

const state = {
  nodes: new Map(),        // id -> forest node (+ children: primary children, size: subtree size)
  families: [],
  family: null,
  view: "forest",
  fanOpen: new Map(), opened: new Set(), budget: TREE_BUDGET,  // fanOpen: node -> children it shows
  treeOrder: [], activeTree: null,
  listItems: [], listActive: 0,
  maps: new Map(), map: null, mapActive: -1, colourBy: "cluster", method: "hubindex",
  selected: null, paths: new Set(),
};

const $ = (sel) => document.querySelector(sel);
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

class ApiError extends Error {
  constructor(status, detail) { super(`${status}: ${detail}`); this.status = status; }
}

async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  if (!response.ok) {
    let detail = await response.text();
    try { detail = JSON.parse(detail).detail ?? detail; } catch (_) { /* plain text */ }
    throw new ApiError(response.status, typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return response.json();
}

// Model ids are `org/name`: each part is escaped, the slash kept (the API routes ids as paths).
const modelUrl = (id, suffix = "") => `models/${id.split("/").map(encodeURIComponent).join("/")}${suffix}`;
const hasPath = (path) => state.paths.has(path);
const fmt = (x, digits = 3) => (typeof x === "number" ? (Number.isInteger(x) ? String(x) : x.toFixed(digits)) : String(x));
const shortId = (id) => (id.length > 34 ? id.slice(0, 16) + "…" + id.slice(-16) : id);

// ---------------------------------------------------------------- loading
async function init() {
  const t0 = performance.now();
  const [openapi, forest] = await Promise.all([getJSON("openapi.json"), getJSON("atlas/forest")]);
  for (const path of Object.keys(openapi.paths || {})) state.paths.add(path.replace(/\{[^}]*\}/g, "{}"));
  buildForest(forest);
  performance.mark("atlas-data");
  renderFamilies();
  renderMethods();
  const wanted = new URLSearchParams(location.hash.slice(1));
  const model = wanted.get("model");
  const family = (model && state.nodes.get(model)?.family) || wanted.get("family") || state.families[0]?.root || null;
  setList(sortedIds());
  selectFamily(family);
  $("#stats").textContent = `${state.nodes.size.toLocaleString()} models · ${state.families.length} families`;
  if (model && state.nodes.has(model)) openModel(model, { focus: false });
  document.body.dataset.ready = "1";
  performance.mark("atlas-ready");
  document.body.dataset.loadMs = String(Math.round(performance.now() - t0));
}

function buildForest(forest) {
  state.families = forest.families;
  for (const node of forest.nodes) state.nodes.set(node.model, { ...node, children: [], primary: null, size: 1 });
  for (const node of state.nodes.values()) {
    // The tree hangs each model under its first parent in the same family; other parents (merges) get extra edges.
    const primary = node.parents.find((p) => state.nodes.get(p)?.family === node.family && p !== node.model);
    if (primary) { node.primary = primary; state.nodes.get(primary).children.push(node.model); }
  }
  for (const node of state.nodes.values()) node.children.sort();
  // Subtree sizes, children before parents (iterative: chains can be thousands deep).
  const order = [];
  const stack = [...state.nodes.values()].filter((n) => !n.primary).map((n) => n.model);
  const seen = new Set();
  while (stack.length) {
    const id = stack.pop();
    if (seen.has(id)) continue;
    seen.add(id); order.push(id);
    stack.push(...state.nodes.get(id).children);
  }
  for (let i = order.length - 1; i >= 0; i--) {
    const node = state.nodes.get(order[i]);
    if (node.primary) state.nodes.get(node.primary).size += node.size;
  }
}

function sortedIds() { return [...state.nodes.keys()].sort(); }

// ---------------------------------------------------------------- families
function renderFamilies() {
  const list = $("#families");
  list.replaceChildren(...state.families.map((f) => el("li", {},
    el("button", { type: "button", "data-family": f.root, title: f.root, onclick: () => selectFamily(f.root) },
      `${shortId(f.root)} `, el("span", { class: "muted", text: `(${f.size})` })))));
  const orphans = [...state.nodes.values()].filter((n) => !n.family).length;
  if (orphans) list.append(el("li", { class: "muted", text: `${orphans} without a family (not indexed)` }));
}

function selectFamily(root) {
  state.family = root;
  state.fanOpen.clear(); state.opened.clear(); state.budget = TREE_BUDGET;
  for (const b of document.querySelectorAll("#families button")) b.setAttribute("aria-current", String(b.dataset.family === root));
  $("#family-label").textContent = root ? `family ${root}` : "";
  renderForest();
  if (state.view === "map") loadMap();
}

// ---------------------------------------------------------------- lineage forest
function familySize(root) { return state.families.find((f) => f.root === root)?.size ?? 0; }

function familyRoots(root) {
  const roots = [...state.nodes.values()].filter((n) => n.family === root && !n.primary).map((n) => n.model);
  return roots.sort((a, b) => (a === root ? -1 : b === root ? 1 : a.localeCompare(b)));
}

// Level of detail: breadth first from the roots while the budget lasts, FAN children per node; the rest is folded
// into stubs ("+N more" for a wide fan, "+N descendants" below the budget) that expand on Enter or click.
function visibleTree(root) {
  const items = new Map();
  const queue = familyRoots(root).map((id) => ({ id, depth: 0 }));
  let count = queue.length;
  const small = familySize(root) <= state.budget;  // fans fold only where the family is too big to draw whole
  for (let qi = 0; qi < queue.length; qi++) {
    const { id, depth } = queue[qi];
    const node = state.nodes.get(id);
    const item = { id, depth, kids: [] };
    items.set(id, item);
    if (!node.children.length) continue;
    if (count >= state.budget && !state.opened.has(id)) {
      item.kids.push({ stub: "descendants", parent: id, count: node.size - 1, depth: depth + 1 });
      continue;
    }
    // A fan shows FAN children, or as many as it was opened to, and never more than the budget has room for
    // (at least FAN), so neither "Expand all" nor a fan of thousands can freeze the tab.
    const room = Math.max(FAN, state.budget - count);
    const shown = small ? node.children : node.children.slice(0, Math.min(state.fanOpen.get(id) ?? FAN, room));
    for (const child of shown) { queue.push({ id: child, depth: depth + 1 }); item.kids.push(child); }
    count += shown.length;
    if (shown.length < node.children.length) {
      item.kids.push({ stub: "fan", parent: id, count: node.children.length - shown.length, depth: depth + 1 });
    }
  }
  return { items, roots: familyRoots(root) };
}

function layoutTree(tree) {
  const placed = [];
  let row = 0;
  // Depth-first placement without recursion: leaves take consecutive rows, a parent sits between its first and
  // last child.
  for (const rootId of tree.roots) {
    const stack = [{ id: rootId, visit: 0 }];
    while (stack.length) {
      const top = stack[stack.length - 1];
      const item = tree.items.get(top.id);
      if (top.visit < item.kids.length) {
        const kid = item.kids[top.visit++];
        if (typeof kid === "string") stack.push({ id: kid, visit: 0 });
        else { kid.y = row++; placed.push(kid); }
        continue;
      }
      stack.pop();
      const ys = item.kids.map((k) => (typeof k === "string" ? tree.items.get(k).y : k.y));
      item.y = ys.length ? (ys[0] + ys[ys.length - 1]) / 2 : row++;
      placed.push(item);
    }
  }
  return { placed, rows: row };
}

function renderForest() {
  const host = $("#forest");
  state.treeOrder = [];
  if (!state.family) { host.replaceChildren(el("p", { class: "muted", text: "No families in the catalog yet." })); return; }
  const t0 = performance.now();
  const tree = visibleTree(state.family);
  const { placed, rows } = layoutTree(tree);
  const maxDepth = Math.max(0, ...placed.map((p) => p.depth));
  const width = (maxDepth + 1) * TREE_COL + 40, height = rows * TREE_ROW + 20;
  const pos = (p) => [20 + p.depth * TREE_COL, 14 + p.y * TREE_ROW];
  const svg = el("svg:svg", { width, height, viewBox: `0 0 ${width} ${height}`, "aria-hidden": "false" });
  const edges = el("svg:g", { class: "edges" }), nodes = el("svg:g", { class: "nodes" });
  const at = new Map();
  for (const p of placed) if (!p.stub) at.set(p.id, pos(p));
  // An edge leaves its parent after the label (about 6.6 px per character at 12 px) so it crosses no text.
  const labelEnd = (id) => Math.min(TREE_COL - 24, 22 + 6.6 * shortId(id).length + 28);
  const curve = ([x1, y1], [x2, y2], from) => {
    const sx = x1 + (from ? labelEnd(from) : 6), mx = (sx + x2) / 2;
    return `M${sx},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 6},${y2}`;
  };
  let drawnEdges = 0;
  for (const p of placed) {
    if (p.stub) {
      edges.append(el("svg:path", { class: "edge stub-edge", d: curve(at.get(p.parent), pos(p), p.parent), stroke: "#9aa0a6",
        "stroke-dasharray": "2 3" }));
      continue;
    }
    const node = state.nodes.get(p.id);
    for (const parent of node.parents) {
      if (!at.has(parent)) continue;
      const conf = node.confidence ?? 0;
      const path = el("svg:path", {
        class: "edge", d: curve(at.get(parent), at.get(p.id), parent), stroke: RELATION_COLOURS[node.relation] || "#999",
        "stroke-width": (1 + 2.5 * conf).toFixed(2), "stroke-opacity": (0.35 + 0.65 * conf).toFixed(2),
        "stroke-dasharray": conf < 0.7 ? "5 3" : null,
        "data-parent": parent, "data-child": p.id, "data-relation": node.relation,
      }, el("svg:title", { text: `${parent} → ${p.id}: ${node.relation}, confidence ${fmt(conf, 2)}` }));
      edges.append(path);
      drawnEdges++;
    }
  }
  for (const p of placed) {
    const [x, y] = pos(p);
    if (p.stub) {
      const label = p.stub === "fan" ? `+${p.count} more` : `+${p.count} descendants`;
      const g = el("svg:g", { class: "node stub", tabindex: "-1", role: "treeitem", "aria-level": p.depth + 1,
        "aria-label": `${label} under ${p.parent}; Enter shows them`, "data-stub": p.stub, "data-parent": p.parent,
        transform: `translate(${x},${y})` },
      el("svg:rect", { class: "hit", x: -8, y: -10, width: TREE_COL - 20, height: 20 }),
      el("svg:circle", { r: 4, fill: "#fff", stroke: "#9aa0a6" }),
      el("svg:text", { x: 10, y: 4, text: label }));
      g.addEventListener("click", () => expandStub(p));
      nodes.append(g);
      state.treeOrder.push({ el: g, y: p.y, stub: p });
      continue;
    }
    const node = state.nodes.get(p.id);
    const conf = node.confidence == null ? "" : ` ${fmt(node.confidence, 2)}`;
    const g = el("svg:g", {
      class: "node" + (p.id === state.selected ? " selected" : ""), tabindex: "-1", role: "treeitem",
      "aria-level": p.depth + 1, "aria-expanded": node.children.length ? String(p.kids.length > 0) : null,
      "aria-label": `${p.id}, ${node.relation ?? node.status}${conf ? ", confidence" + conf : ""}` +
        (node.parents.length > 1 ? `, parents ${node.parents.join(", ")}` : ""),
      "data-model": p.id, transform: `translate(${x},${y})`,
    },
    el("svg:title", { text: `${p.id}\n${node.relation ?? node.status}${conf}` +
      (node.parents.length ? `\nparents: ${node.parents.join(", ")}` : "") }),
    el("svg:rect", { class: "hit", x: -8, y: -10, width: TREE_COL - 20, height: 20 }),
    el("svg:circle", { r: p.id === state.family ? 6 : 4.5, fill: RELATION_COLOURS[node.relation] || "#bbb" }),
    el("svg:text", { x: 10, y: 4 }, shortId(p.id), el("svg:tspan", { class: "conf", dx: 5, text: conf.trim() })));
    g.addEventListener("click", () => openModel(p.id, { from: "tree" }));
    nodes.append(g);
    state.treeOrder.push({ el: g, y: p.y, id: p.id });
  }
  state.treeOrder.sort((a, b) => a.y - b.y || (a.id ? 0 : 1) - (b.id ? 0 : 1));
  svg.append(edges, nodes);
  const treeRoot = el("div", { role: "tree", "aria-label": `Lineage of family ${state.family}` }, svg);
  treeRoot.addEventListener("keydown", onTreeKey);
  treeRoot.addEventListener("focusin", (event) => {  // a clicked or focused node becomes the tab stop
    const hit = state.treeOrder.find((t) => t.el === event.target);
    if (hit && hit !== state.activeTree) setTreeActive(hit, false);
  });
  host.replaceChildren(treeRoot);
  // The tree's one tab stop: the selected model, else the family root.
  const active = state.treeOrder.find((t) => t.id === state.selected) ||
    state.treeOrder.find((t) => t.id === state.family) || state.treeOrder[0];
  if (active) setTreeActive(active, false);
  const total = [...state.nodes.values()].filter((n) => n.family === state.family).length;
  const shown = state.treeOrder.filter((t) => t.id).length;
  $("#forest-status").textContent = `${shown} of ${total} models drawn, ${drawnEdges} edges` +
    (shown < total ? " (expand the +N nodes for more)" : "") + ` · ${Math.round(performance.now() - t0)} ms`;
  renderLegend();
}

function renderLegend() {
  $("#forest-legend").replaceChildren(...Object.entries(RELATION_COLOURS).map(([rel, colour]) =>
    el("span", {}, el("i", { class: "dot", style: `background:${colour}` }), rel)),
  el("span", { class: "muted", text: "edge width and opacity: confidence; dashed: below 0.7" }));
}

function expandStub(stub) {
  if (stub.stub === "fan") {
    state.fanOpen.set(stub.parent, (state.fanOpen.get(stub.parent) ?? FAN) + FAN_STEP);
    state.budget += FAN_STEP;
  } else {
    state.opened.add(stub.parent);
  }
  renderForest();
  const again = state.treeOrder.find((t) => t.id === state.nodes.get(stub.parent).children.find(
    (c) => state.treeOrder.some((u) => u.id === c)));
  const parentItem = state.treeOrder.find((t) => t.id === stub.parent);
  setTreeActive(again || parentItem, true);
}

function setTreeActive(item, focus) {
  if (state.activeTree) state.activeTree.el.setAttribute("tabindex", "-1");
  state.activeTree = item;
  item.el.setAttribute("tabindex", "0");
  if (focus) { item.el.focus({ preventScroll: true }); scrollIntoTree(item.el); }
}

function scrollIntoTree(node) {
  const host = $("#forest"), box = node.getBoundingClientRect(), view = host.getBoundingClientRect();
  if (box.top < view.top + 10 || box.bottom > view.bottom - 10) host.scrollTop += box.top - view.top - view.height / 2;
  if (box.left < view.left || box.right > view.right) host.scrollLeft += box.left - view.left - 40;
}

function onTreeKey(event) {
  const order = state.treeOrder, item = event.target.closest?.("[role=treeitem]");
  const current = order.find((t) => t.el === item) || state.activeTree;
  if (!current) return;
  const index = order.indexOf(current);
  const byId = (id) => order.find((t) => t.id === id);
  let next = null;
  switch (event.key) {
    case "ArrowDown": next = order[Math.min(order.length - 1, index + 1)]; break;
    case "ArrowUp": next = order[Math.max(0, index - 1)]; break;
    case "Home": next = order[0]; break;
    case "End": next = order[order.length - 1]; break;
    case "ArrowLeft": {
      const parent = current.id ? state.nodes.get(current.id).primary : current.stub.parent;
      next = parent ? byId(parent) : null; break;
    }
    case "ArrowRight": {
      if (current.stub) { expandStub(current.stub); event.preventDefault(); return; }
      const child = state.nodes.get(current.id).children.find((c) => byId(c));
      next = child ? byId(child) : order.find((t) => t.stub && t.stub.parent === current.id); break;
    }
    case "Enter": case " ":
      event.preventDefault();
      if (current.stub) expandStub(current.stub); else openModel(current.id, { from: "tree" });
      return;
    default: return;
  }
  event.preventDefault();
  if (next) setTreeActive(next, true);
}

// Make a model visible in its family's tree: open the folds on its path from the root.
function revealInTree(id) {
  const node = state.nodes.get(id);
  if (!node?.family) return;
  if (node.family !== state.family) selectFamily(node.family);
  for (let p = node.primary, child = id; p; child = p, p = state.nodes.get(p).primary) {
    state.opened.add(p);
    const at = state.nodes.get(p).children.indexOf(child);
    if (at >= (state.fanOpen.get(p) ?? FAN)) { state.fanOpen.set(p, at + 1); state.budget += at + 1; }
  }
  renderForest();
}

// ---------------------------------------------------------------- models list (virtualised)
function setList(ids) {
  state.listItems = ids;
  state.listActive = 0;
  const list = $("#models");
  list.firstElementChild.style.height = `${ids.length * ROW_H}px`;
  list.scrollTop = 0;
  $("#models-count").textContent = `(${ids.length.toLocaleString()})`;
  renderListRows();
}

function renderListRows() {
  const list = $("#models"), spacer = list.firstElementChild;
  const first = Math.max(0, Math.floor(list.scrollTop / ROW_H) - 5);
  const last = Math.min(state.listItems.length, Math.ceil((list.scrollTop + list.clientHeight) / ROW_H) + 5);
  const rows = [];
  for (let i = first; i < last; i++) {
    const id = state.listItems[i], node = state.nodes.get(id);
    rows.push(el("div", {
      class: "vrow" + (i === state.listActive ? " active" : ""), role: "option", id: `opt-${i}`, "data-model": id,
      "aria-selected": String(id === state.selected), "aria-setsize": state.listItems.length, "aria-posinset": i + 1,
      style: `top:${i * ROW_H}px`, title: id, onclick: () => { state.listActive = i; openModel(id, { from: "list" }); },
    }, el("i", { class: "dot", style: `background:${RELATION_COLOURS[node?.relation] || "#ccc"}` }), id));
  }
  spacer.replaceChildren(...rows);
  list.setAttribute("aria-activedescendant", state.listItems.length ? `opt-${state.listActive}` : "");
}

function onListKey(event) {
  const n = state.listItems.length;
  if (!n) return;
  const page = Math.max(1, Math.floor($("#models").clientHeight / ROW_H) - 1);
  const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page, Home: -n, End: n };
  if (event.key === "Enter") { event.preventDefault(); openModel(state.listItems[state.listActive], { from: "list" }); return; }
  if (!(event.key in moves)) return;
  event.preventDefault();
  state.listActive = Math.max(0, Math.min(n - 1, state.listActive + moves[event.key]));
  const list = $("#models"), top = state.listActive * ROW_H;
  if (top < list.scrollTop) list.scrollTop = top;
  else if (top + ROW_H > list.scrollTop + list.clientHeight) list.scrollTop = top + ROW_H - list.clientHeight;
  renderListRows();
}

// ---------------------------------------------------------------- search
function localMatches(q) {
  const terms = q.toLowerCase().split(/\s+/).filter(Boolean);
  if (!terms.length) return sortedIds();
  return sortedIds().filter((id) => {
    const node = state.nodes.get(id), hay = (id + " " + node.tags.join(" ")).toLowerCase();
    return terms.every((t) => hay.includes(t));
  });
}

let searchTimer = null;
function onSearchInput() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    const q = $("#search").value.trim(), found = localMatches(q);
    setList(found);
    $("#search-status").textContent = q ? `${found.length} in ids and tags` : "";
  }, 120);
}

async function onSearchSubmit(event) {
  event.preventDefault();
  const q = $("#search").value.trim();
  if (!q) return;
  const exact = [...state.nodes.keys()].find((id) => id.toLowerCase() === q.toLowerCase());
  if (exact) { setList([exact]); openModel(exact, { from: "search" }); $("#search-status").textContent = "exact id"; return; }
  let found = localMatches(q), where = "ids and tags";
  if (hasPath("/search")) {
    try {
      const answer = await getJSON(`search?q=${encodeURIComponent(q.slice(0, 200))}&limit=100`);
      const hits = Array.isArray(answer) ? answer : (answer.items || answer.hits || []);
      const ids = hits.map((h) => (typeof h.model === "string" ? h.model : h.model?.id || h.id)).filter((id) => id);
      if (ids.length) { found = [...new Set([...ids, ...found])]; where = "ids, tags and card text"; }
    } catch (err) { $("#search-status").textContent = `search: ${err.message}`; }
  }
  setList(found);
  $("#search-status").textContent = `${found.length} in ${where}`;
  if (found.length) openModel(found[0], { from: "search" });
}

// ---------------------------------------------------------------- embedding map
function renderMethods() {
  const methods = new Set(state.families.flatMap((f) => Object.keys(f.embedded || {})));
  $("#map-method").replaceChildren(...[...methods].map((m) => el("option", { value: m, text: m })));
  $("#map-method").value = methods.has("hubindex") ? "hubindex" : [...methods][0] || "";
  state.method = $("#map-method").value;
}

async function loadMap() {
  const fam = state.families.find((f) => f.root === state.family);
  const status = $("#map-status");
  state.map = null; state.mapActive = -1;
  if (!fam || !(fam.embedded?.[state.method] > 0)) {
    status.textContent = "This family has no Delta Activations to map with this method.";
    drawMap(); return;
  }
  const key = `${state.family}\u0000${state.method}`;
  status.textContent = "loading…";
  try {
    if (!state.maps.has(key)) {
      state.maps.set(key, await getJSON(`atlas/map?family=${encodeURIComponent(state.family)}&method=${encodeURIComponent(state.method)}`));
    }
  } catch (err) { status.textContent = `map: ${err.message}`; return; }
  if (key !== `${state.family}\u0000${state.method}`) return;  // the user moved on meanwhile
  const map = state.maps.get(key);
  state.map = map;
  const tags = [...new Set(map.points.map((p) => p.tag).filter((t) => t))].sort();
  map.tagIndex = new Map(tags.map((t, i) => [t, i]));
  map.byModel = new Map(map.points.map((p, i) => [p.model, i]));
  state.mapActive = map.byModel.get(state.selected) ?? -1;
  status.textContent = `${map.points.length} models · ${map.clusters} clusters · PCA explains ` +
    `${Math.round(100 * (map.explained_variance[0] + map.explained_variance[1]))} %`;
  drawMap();
  performance.mark("map-ready");
}

function pointColour(p) {
  if (state.colourBy === "tag") return p.tag ? PALETTE[state.map.tagIndex.get(p.tag) % PALETTE.length] : "#c4c7ca";
  return PALETTE[p.cluster % PALETTE.length];
}

function mapGeometry() {
  const canvas = $("#map"), map = state.map;
  const w = canvas.clientWidth, h = canvas.clientHeight, pad = 24;
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const p of map.points) { x0 = Math.min(x0, p.x); x1 = Math.max(x1, p.x); y0 = Math.min(y0, p.y); y1 = Math.max(y1, p.y); }
  const s = Math.min((w - 2 * pad) / (x1 - x0 || 1), (h - 2 * pad) / (y1 - y0 || 1));
  const ox = (w - s * (x1 - x0)) / 2, oy = (h - s * (y1 - y0)) / 2;
  return (p) => [ox + (p.x - x0) * s, h - (oy + (p.y - y0) * s)];
}

function drawMap() {
  const canvas = $("#map"), ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (!w || !h) return;
  canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const map = state.map;
  if (!map) { $("#map-legend").replaceChildren(); return; }
  const place = mapGeometry(), radius = map.points.length > 2000 ? 2.2 : 4.5;
  ctx.globalAlpha = map.points.length > 2000 ? 0.7 : 0.9;
  for (const p of map.points) {  // one path per colour would be faster still; 10k arcs draw in a few ms
    const [x, y] = place(p);
    ctx.fillStyle = pointColour(p);
    ctx.beginPath(); ctx.arc(x, y, radius, 0, 2 * Math.PI); ctx.fill();
  }
  ctx.globalAlpha = 1;
  for (const [index, colour] of [[map.byModel.get(state.selected), "#1d1f21"], [state.mapActive, "#ff8c00"]]) {
    if (index === undefined || index < 0) continue;
    const p = map.points[index], [x, y] = place(p);
    ctx.strokeStyle = colour; ctx.lineWidth = 2.5;
    ctx.beginPath(); ctx.arc(x, y, radius + 4, 0, 2 * Math.PI); ctx.stroke();
    ctx.fillStyle = "#1d1f21"; ctx.font = "12px system-ui, sans-serif"; ctx.fillText(p.model, x + radius + 7, y - 6);
  }
  const groups = state.colourBy === "tag"
    ? [...map.tagIndex.keys()].map((t) => [t, PALETTE[map.tagIndex.get(t) % PALETTE.length]])
    : [...Array(map.clusters).keys()].map((c) => [`cluster ${c + 1}`, PALETTE[c % PALETTE.length]]);
  $("#map-legend").replaceChildren(...groups.map(([label, colour]) =>
    el("li", {}, el("i", { class: "dot", style: `background:${colour}` }), label)));
}

function nearestPoint(mx, my, within = 10) {
  if (!state.map) return -1;
  const place = mapGeometry();
  let best = -1, bestD = within * within;
  state.map.points.forEach((p, i) => {
    const [x, y] = place(p), d = (x - mx) ** 2 + (y - my) ** 2;
    if (d < bestD) { bestD = d; best = i; }
  });
  return best;
}

function onMapMove(event) {
  const canvas = $("#map"), tip = $("#map-tip"), box = canvas.getBoundingClientRect();
  const i = nearestPoint(event.clientX - box.left, event.clientY - box.top);
  if (i < 0) { tip.hidden = true; canvas.style.cursor = ""; return; }
  const p = state.map.points[i];
  tip.textContent = `${p.model} · cluster ${p.cluster + 1}${p.tag ? " · " + p.tag : ""}`;
  tip.style.left = `${event.clientX - box.left + 12}px`; tip.style.top = `${event.clientY - box.top + 12}px`;
  tip.hidden = false; canvas.style.cursor = "pointer";
}

function onMapClick(event) {
  const box = $("#map").getBoundingClientRect();
  const i = nearestPoint(event.clientX - box.left, event.clientY - box.top);
  if (i >= 0) { state.mapActive = i; openModel(state.map.points[i].model, { from: "map" }); }
}

// Arrow keys move to the nearest point lying in that direction (within 60 degrees of it).
function onMapKey(event) {
  const map = state.map;
  if (!map || !map.points.length) return;
  if (event.key === "Enter" && state.mapActive >= 0) {
    event.preventDefault(); openModel(map.points[state.mapActive].model, { from: "map" }); return;
  }
  const dirs = { ArrowRight: [1, 0], ArrowLeft: [-1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
  if (!(event.key in dirs)) return;
  event.preventDefault();
  if (state.mapActive < 0) { state.mapActive = 0; } else {
    const place = mapGeometry(), [cx, cy] = place(map.points[state.mapActive]), [dx, dy] = dirs[event.key];
    let best = -1, bestScore = Infinity;
    map.points.forEach((p, i) => {
      const [x, y] = place(p), vx = x - cx, vy = y - cy, dist = Math.hypot(vx, vy);
      if (i === state.mapActive || dist === 0) return;
      const along = (vx * dx + vy * dy) / dist;
      if (along < 0.5) return;
      const score = dist * (2 - along);
      if (score < bestScore) { bestScore = score; best = i; }
    });
    if (best >= 0) state.mapActive = best;
  }
  const p = map.points[state.mapActive];
  $("#map-status").textContent = `${p.model} · cluster ${p.cluster + 1}${p.tag ? " · " + p.tag : ""} (Enter opens)`;
  drawMap();
}

// ---------------------------------------------------------------- tabs
function showView(view) {
  state.view = view;
  for (const [name, tab, panel] of [["forest", "#tab-forest", "#forest-view"], ["map", "#tab-map", "#map-view"]]) {
    $(tab).setAttribute("aria-selected", String(name === view));
    $(tab).setAttribute("tabindex", name === view ? "0" : "-1");
    $(panel).hidden = name !== view;
  }
  if (view === "map") loadMap();
}

function onTabKey(event) {
  if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
  const next = state.view === "forest" ? "map" : "forest";
  showView(next);
  $(`#tab-${next}`).focus();
}

// ---------------------------------------------------------------- model panel
function modelButton(id) {
  return el("button", { type: "button", class: "link", onclick: () => openModel(id, { from: "panel" }), text: id });
}

function evidenceText(evidence) {
  return Object.entries(evidence || {}).filter(([k]) => k !== "chosen").map(([k, v]) => {
    const value = Array.isArray(v) ? v.map((x) => fmt(x)).join(", ")
      : v !== null && typeof v === "object" ? JSON.stringify(v).slice(0, 160) : fmt(v);
    return `${k}: ${value}`;
  }).join(" · ");
}

function section(title, ...content) { return [el("h3", { text: title }), ...content]; }

async function openModel(id, { from = "", focus = true } = {}) {
  if (!id) return;
  state.selected = id;
  const node = state.nodes.get(id);
  history.replaceState(null, "", `#model=${encodeURIComponent(id)}`);
  if (from !== "tree" && node?.family) revealInTree(id);
  else for (const t of state.treeOrder) if (t.id) t.el.classList.toggle("selected", t.id === id);
  if (state.map) { state.mapActive = state.map.byModel.get(id) ?? -1; drawMap(); }
  renderListRows();
  const panel = $("#panel");
  panel.replaceChildren(el("h2", { text: id }), el("p", { class: "muted", text: "loading…" }));
  panel.dataset.model = id;
  const ok = node && (node.status === "indexed" || node.status === "weights_only");
  const similarBy = node?.delta_methods?.includes("hubindex") ? "delta" : "weights";
  const requests = {
    view: getJSON(modelUrl(id)),
    parents: node?.relation ? getJSON(modelUrl(id, "/parents?k=5")) : null,
    similar: ok && hasPath("/models/{}/similar") ? getJSON(modelUrl(id, `/similar?k=8&by=${similarBy}`)) : null,
    merge: ok && node?.kind === "model" && node?.relation !== "root" && hasPath("/models/{}/merge-candidates")
      ? getJSON(modelUrl(id, "/merge-candidates?k=5")) : null,
  };
  const settled = {};
  await Promise.all(Object.entries(requests).map(async ([k, p]) => {
    try { settled[k] = p ? { value: await p } : null; } catch (err) { settled[k] = { error: err.message }; }
  }));
  if (state.selected !== id) return;  // a later click won
  renderPanel(id, node, settled, similarBy);
  if (focus && from !== "tree" && from !== "list" && from !== "map" && from !== "search") panel.focus();
}

function renderPanel(id, node, got, similarBy) {
  const panel = $("#panel");
  const parts = [el("h2", { text: id })];
  if (node?.relation) {
    parts.push(el("p", {}, el("span", { class: "rel", style: `background:${RELATION_COLOURS[node.relation]}`, text: node.relation }),
      node.confidence == null ? "" : ` confidence ${fmt(node.confidence, 2)}`));
  }
  if (got.view?.error) parts.push(el("p", { class: "error", text: got.view.error }));
  const v = got.view?.value;
  if (v) {
    const rows = [["status", v.status], ["error", v.error], ["kind", v.kind], ["architecture", v.architecture],
      ["params", v.params?.toLocaleString()], ["dtype", v.dtype], ["family", v.family], ["base", v.base],
      ["created", v.created_at], ["tags", v.tags?.join(", ")],
      ["declared base", v.declared?.base_model?.join(", ") || v.declared?.adapter_base],
      ["declared relation", v.declared?.relation], ["revision", v.revision?.slice(0, 12)],
      ["embeddings", v.embeddings?.map((e) => `${e.method} (dim ${e.dim})`).join(", ")]];
    parts.push(el("table", { class: "meta" }, ...rows.filter(([, x]) => x !== null && x !== undefined && x !== "")
      .map(([k, x]) => el("tr", {}, el("th", { text: k }), el("td", { text: String(x) })))));
  }
  if (got.parents) {
    const body = got.parents.error ? el("p", { class: "error", text: got.parents.error }) : (() => {
      const chosen = got.parents.value.filter((c) => c.evidence?.chosen), others = got.parents.value.filter((c) => !c.evidence?.chosen);
      const item = (c) => el("li", { "data-parent": c.model }, modelButton(c.model), ` score ${fmt(c.score, 2)}` +
        (c.distance == null ? "" : ` · distance ${fmt(c.distance, 3)}`) + (c.allowed ? "" : " · not allowed"),
      el("div", { class: "evidence", text: evidenceText(c.evidence) }));
      const list = el("ol", { class: "parents" }, ...chosen.map(item));
      if (!chosen.length) list.append(el("li", { class: "muted", text: "none: a family root" }));
      return others.length
        ? el("div", {}, list, el("details", {}, el("summary", { text: `${others.length} other candidates` }),
          el("ol", {}, ...others.map(item))))
        : list;
    })();
    parts.push(...section("Parents", body));
  }
  if (got.similar) {
    parts.push(...section(`Nearest neighbours (by ${similarBy})`, got.similar.error
      ? el("p", { class: "error", text: got.similar.error })
      : el("ol", { class: "neighbours" }, ...got.similar.value.map((h) =>
        el("li", {}, modelButton(h.model), ` ${fmt(h.score, 3)}`)))));
  }
  if (got.merge) {
    const value = got.merge.value, list = Array.isArray(value) ? value : (value?.candidates || value?.items || []);
    parts.push(...section("Merge candidates", got.merge.error
      ? el("p", { class: "error", text: got.merge.error })
      : list.length ? el("ol", { class: "merge" }, ...list.map((c) => {
        const other = typeof c.model === "string" ? c.model : c.candidate || c.model?.id;
        const reasons = Array.isArray(c.reasons) ? c.reasons.join("; ") : evidenceText(c.reasons || c.evidence);
        return el("li", {}, modelButton(other), c.score == null ? "" : ` ${fmt(c.score, 3)}`,
          el("div", { class: "evidence", text: reasons }));
      })) : el("p", { class: "muted", text: "no candidates" })));
  } else if (!hasPath("/models/{}/merge-candidates")) {
    parts.push(...section("Merge candidates", el("p", { class: "muted", text: "this server has no merge-candidates endpoint" })));
  }
  panel.replaceChildren(...parts);
}

// ---------------------------------------------------------------- wiring
function wire() {
  $("#search").addEventListener("input", onSearchInput);
  $("#search-form").addEventListener("submit", onSearchSubmit);
  const list = $("#models");
  list.addEventListener("scroll", () => requestAnimationFrame(renderListRows));
  list.addEventListener("keydown", onListKey);
  $("#tab-forest").addEventListener("click", () => showView("forest"));
  $("#tab-map").addEventListener("click", () => showView("map"));
  for (const tab of ["#tab-forest", "#tab-map"]) $(tab).addEventListener("keydown", onTabKey);
  $("#expand-all").addEventListener("click", () => {
    const size = [...state.nodes.values()].filter((n) => n.family === state.family).length;
    state.budget = Math.min(size, EXPAND_ALL_CAP);
    for (const n of state.nodes.values()) {
      if (n.family === state.family && n.children.length > FAN) state.fanOpen.set(n.model, EXPAND_ALL_CAP);
    }
    renderForest();
  });
  $("#collapse").addEventListener("click", () => selectFamily(state.family));
  $("#colour-by").addEventListener("change", (e) => { state.colourBy = e.target.value; drawMap(); });
  $("#map-method").addEventListener("change", (e) => { state.method = e.target.value; loadMap(); });
  const canvas = $("#map");
  canvas.addEventListener("mousemove", onMapMove);
  canvas.addEventListener("mouseleave", () => { $("#map-tip").hidden = true; });
  canvas.addEventListener("click", onMapClick);
  canvas.addEventListener("keydown", onMapKey);
  new ResizeObserver(() => { if (state.view === "map") drawMap(); renderListRows(); }).observe(document.body);
}

wire();
init().catch((err) => {
  document.body.dataset.ready = "error";
  $("#panel").replaceChildren(el("p", { class: "error", text: `Could not load the atlas: ${err.message}` }));
});
