// The browser side of `archc serve`: an editor, and what the server says about its text.
//
// Nothing from a spec or the server is ever parsed as HTML: text goes in with textContent,
// and the diagram (Graphviz SVG) is parsed as XML and stripped of anything active before it
// joins the page. The server's Content-Security-Policy forbids inline scripts besides.
import { EditorState } from "@codemirror/state";
import {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { HighlightStyle, syntaxHighlighting, bracketMatching, indentUnit } from "@codemirror/language";
import { lintGutter, setDiagnostics } from "@codemirror/lint";
import { tags as t } from "@lezer/highlight";
import { archcLanguage } from "./language.js";
import "./style.css";

const DEBOUNCE_MS = 250;
const $ = (id) => document.getElementById(id);

const highlight = HighlightStyle.define([
  { tag: t.comment, color: "#7a8691", fontStyle: "italic" },
  { tag: t.keyword, color: "#8e44ad", fontWeight: "bold" },
  { tag: t.string, color: "#1e8449" },
  { tag: t.number, color: "#b9770e" },
  { tag: t.atom, color: "#b9770e" },
  { tag: t.definition(t.variableName), color: "#1d4ed8", fontWeight: "bold" },
  { tag: t.standard(t.variableName), color: "#0e7490" },
  { tag: t.function(t.variableName), color: "#0e7490" },
  { tag: t.labelName, color: "#9a3412" },
  { tag: t.operator, color: "#5b6770" },
]);

// ------------------------------------------------------------------ state

const state = {
  files: [],
  path: null, // the spec in the editor
  buffers: new Map(), // path -> {text, saved, version, overrides, folds, network, compare}
  seq: 0, // compile requests sent
  shown: 0, // the newest request whose answer is shown
  lastGood: null, // the last answer without errors (its diagram stays, dimmed, during errors)
  info: {}, // hover data of the diagram shown
  params: [],
  timer: null,
  view: null,
  zoom: 1, // a factor of Graphviz's size, or "fit" (the pane's width)
};

function buffer() {
  return state.buffers.get(state.path);
}

// ------------------------------------------------------------------ small DOM helpers

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

const num = (n) => (typeof n === "number" ? n.toLocaleString("en-US") : String(n));
function human(n) {
  for (const [d, s] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "K"]]) {
    if (Math.abs(n) >= d) return (n / d).toFixed(2) + s;
  }
  return String(n);
}

function notice(text, kind = "error", actions = []) {
  const box = $("notice");
  box.replaceChildren();
  if (!text) {
    box.hidden = true;
    return;
  }
  box.className = kind === "info" ? "info" : "";
  box.append(el("span", { text }));
  for (const [label, fn] of actions) box.append(el("button", { type: "button", text: label, onclick: fn }));
  box.hidden = false;
}

function status(text, kind = "") {
  const s = $("status");
  s.textContent = text;
  s.className = "status " + kind;
}

async function api(method, url, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(url, init);
  return r;
}

// ------------------------------------------------------------------ files

async function loadFiles() {
  const r = await api("GET", "/api/files");
  const data = await r.json();
  state.files = data.files;
  state.ops = data.ops || [];
  $("folder").textContent = data.folder + "/";
  renderFileList();
  fillCompareOptions();
  return data.open;
}

function renderFileList() {
  const list = $("file-list");
  list.replaceChildren();
  $("files").hidden = state.files.length < 2;
  for (const f of state.files) {
    const b = state.buffers.get(f);
    const li = el("li", { text: f, title: f, "data-path": f, onclick: () => openFile(f) });
    if (f === state.path) li.classList.add("current");
    if (b && b.text !== b.saved) li.classList.add("dirty");
    list.append(li);
  }
}

function fillCompareOptions() {
  const sel = $("compare");
  const current = sel.value;
  sel.replaceChildren(
    el("option", { value: "", text: "nothing" }),
    el("option", { value: "saved", text: "the saved version" }),
    el("option", { value: "defaults", text: "the defaults (no parameter changes)" }),
  );
  for (const f of state.files) {
    if (f !== state.path) sel.append(el("option", { value: "file:" + f, text: f }));
  }
  sel.value = [...sel.options].some((o) => o.value === current) ? current : "";
}

async function openFile(path) {
  if (path === state.path) return;
  if (!state.buffers.has(path)) {
    const r = await api("GET", "/api/file?path=" + encodeURIComponent(path));
    const data = await r.json();
    if (!r.ok) {
      notice(data.error || "cannot open " + path);
      return;
    }
    state.buffers.set(path, {
      text: data.text, saved: data.text, version: data.version,
      overrides: {}, folds: {}, network: null, compare: "",
    });
  }
  state.path = path;
  const b = buffer();
  state.lastGood = null;
  state.params = [];
  $("filename").textContent = path;
  $("compare").value = b.compare;
  fillCompareOptions();
  $("compare").value = b.compare;
  state.view.setState(makeState(b.text));
  notice("");
  renderFileList();
  markDirty();
  compileNow();
}

// ------------------------------------------------------------------ editor

function makeState(text) {
  return EditorState.create({
    doc: text,
    extensions: [
      lineNumbers(),
      highlightActiveLineGutter(),
      history(),
      drawSelection(),
      bracketMatching(),
      highlightActiveLine(),
      indentUnit.of("    "),
      EditorState.tabSize.of(4),
      EditorView.lineWrapping,
      archcLanguage(state.ops),
      syntaxHighlighting(highlight),
      lintGutter(),
      keymap.of([
        { key: "Mod-s", preventDefault: true, run: () => { save(false); return true; } },
        indentWithTab,
        ...defaultKeymap,
        ...historyKeymap,
      ]),
      EditorView.updateListener.of((u) => {
        if (u.docChanged) {
          buffer().text = u.state.doc.toString();
          markDirty();
          schedule();
        }
      }),
    ],
  });
}

function markDirty() {
  const b = buffer();
  $("filename").classList.toggle("dirty", b.text !== b.saved);
  for (const li of $("file-list").children) {
    const other = state.buffers.get(li.dataset.path);
    li.classList.toggle("dirty", !!other && other.text !== other.saved);
    li.classList.toggle("current", li.dataset.path === state.path);
  }
}

function schedule() {
  clearTimeout(state.timer);
  state.timer = setTimeout(compileNow, DEBOUNCE_MS);
}

// ------------------------------------------------------------------ compile

function request(extra = {}) {
  const b = buffer();
  let compare = null;
  if (b.compare === "saved" || b.compare === "defaults") compare = { kind: b.compare };
  else if (b.compare.startsWith("file:")) compare = { kind: "file", path: b.compare.slice(5) };
  return {
    path: state.path, text: b.text, sets: b.overrides, folds: b.folds, network: b.network, compare, ...extra,
  };
}

async function compileNow() {
  clearTimeout(state.timer);
  const seq = ++state.seq;
  const path = state.path;
  const text = buffer().text;
  status("compiling…");
  let r;
  try {
    r = await api("POST", "/api/compile", request());
  } catch (e) {
    if (seq === state.seq) status("the server does not answer", "bad");
    return;
  }
  const data = await r.json().catch(() => ({ error: "bad answer from the server" }));
  if (seq < state.shown || seq !== state.seq || path !== state.path) return; // a newer answer is coming
  state.shown = seq;
  if (!r.ok) {
    status(data.error || "error " + r.status, "bad");
    return;
  }
  show(data, text);
}

function show(data, text) {
  const doc = state.view.state.doc;
  if (data.params) renderParams(data.params);
  renderNetworks(data.networks || [], data.network);
  const diags = data.diagnostics || [];
  const here = [];
  const elsewhere = [];
  for (const d of diags) (d.file === state.path && d.line > 0 ? here : elsewhere).push(d);
  if (doc.toString() === text) {
    state.view.dispatch(setDiagnostics(state.view.state, here.map((d) => toCm(doc, d))));
  }
  renderMessages(elsewhere, data.warnings || []);
  markInvalidParams(diags);
  if (data.ok) {
    state.lastGood = data;
    status(`ok · ${num(data.elapsed_ms ?? 0)} ms`, "good");
    renderTotals(data, false);
    renderDiagram(data.svg, data.info || {});
    renderStages(data.stages, data.totals);
    renderCompare(data.compare);
    $("diagram").classList.remove("stale");
  } else {
    const n = diags.length;
    status(`${n} error${n === 1 ? "" : "s"}`, "bad");
    renderTotals(state.lastGood, true);
    $("diagram").classList.add("stale");
  }
}

function toCm(doc, d) {
  const lineNo = Math.min(Math.max(d.line, 1), doc.lines);
  const line = doc.line(lineNo);
  const from = Math.min(line.from + Math.max(d.col, 1) - 1, line.to);
  let to = from;
  if (d.end_line >= d.line && d.end_line > 0) {
    const end = doc.line(Math.min(d.end_line, doc.lines));
    to = Math.min(end.from + Math.max(d.end_col, 1) - 1, end.to);
  }
  if (to <= from) to = Math.min(from + 1, line.to);
  return {
    from, to, severity: "error", message: d.message + (d.hint ? "\nhint: " + d.hint : ""),
    renderMessage: () => {
      const box = el("div", {}, el("div", { class: "message", text: d.message }));
      if (d.hint) box.append(el("div", { class: "hint", text: "hint: " + d.hint }));
      return box;
    },
  };
}

function renderMessages(diags, warnings) {
  const box = $("messages");
  box.replaceChildren();
  for (const d of diags) {
    const where = d.line > 0 ? `${d.file}:${d.line}:${d.col}: ` : d.file.startsWith("--set") ? `${d.file}: ` : "";
    const line = el("div", { class: "msg", text: where + d.message });
    if (d.hint) line.append(el("div", { class: "hint", text: "  hint: " + d.hint }));
    box.append(line);
  }
  for (const w of warnings) box.append(el("div", { class: "msg warn", text: "warning: " + w }));
}

function renderTotals(data, stale) {
  const box = $("totals");
  box.classList.toggle("stale", stale);
  if (!data) {
    box.textContent = "";
    return;
  }
  const tt = data.totals;
  box.textContent = `${data.network}: ${tt.input} → ${tt.output} · ${num(tt.params)} parameters · `
    + `${num(tt.macs)} MACs (${human(tt.macs)}) · ${num(tt.layers)} layers`;
}

function renderNetworks(names, current) {
  const wrap = $("network-wrap");
  const sel = $("network");
  wrap.hidden = names.length < 2;
  if (names.length < 2) return;
  const want = buffer().network || current || names[names.length - 1];
  if ([...sel.options].map((o) => o.value).join() !== names.join()) {
    sel.replaceChildren(...names.map((n) => el("option", { value: n, text: n })));
  }
  sel.value = want;
}

// ------------------------------------------------------------------ diagram

// Graphviz's SVG has no scripts, but it carries names from the spec: parse it as XML and keep
// only inert elements and attributes before it joins the page.
const SVG_ALLOWED = new Set(["svg", "g", "title", "path", "polygon", "polyline", "ellipse", "circle",
  "text", "tspan", "line", "rect", "a"]);

function sanitize(svgText) {
  const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
  const root = doc.documentElement;
  if (!root || root.nodeName !== "svg" || doc.getElementsByTagName("parsererror").length) return null;
  const walk = (node) => {
    for (const child of [...node.children]) {
      if (!SVG_ALLOWED.has(child.localName)) {
        child.remove();
        continue;
      }
      for (const attr of [...child.attributes]) {
        const name = attr.name.toLowerCase();
        if (name.startsWith("on") || name === "style" || name.endsWith("href")) child.removeAttribute(attr.name);
      }
      walk(child);
    }
  };
  for (const attr of [...root.attributes]) {
    if (attr.name.toLowerCase().startsWith("on")) root.removeAttribute(attr.name);
  }
  walk(root);
  // a node's <title> is its DOT name; the hover box replaces the browser's own tooltip
  for (const title of [...root.querySelectorAll("title")]) title.remove();
  return document.importNode(root, true);
}

function renderDiagram(svgText, info) {
  const box = $("diagram");
  state.info = info;
  $("hover").hidden = true; // what it described may be gone
  if (!svgText) {
    box.replaceChildren(el("p", { class: "muted", text: "no diagram (see the warnings above)" }));
    return;
  }
  const svg = sanitize(svgText);
  if (!svg) return;
  box.replaceChildren(svg);
  applyZoom();
  highlightChanges();
}

function applyZoom() {
  const svg = $("diagram").querySelector("svg");
  if (!svg) return;
  if (!svg.dataset.w) {
    svg.dataset.w = parseFloat(svg.getAttribute("width")) || 100;
    svg.dataset.h = parseFloat(svg.getAttribute("height")) || 100;
  }
  if (state.zoom === "fit") {
    svg.setAttribute("width", "100%");
    svg.removeAttribute("height");
  } else {
    svg.setAttribute("width", svg.dataset.w * state.zoom + "pt");
    svg.setAttribute("height", svg.dataset.h * state.zoom + "pt");
  }
}

function zoom(by) {
  const svg = $("diagram").querySelector("svg");
  if (state.zoom === "fit" && svg) state.zoom = svg.getBoundingClientRect().width / (svg.dataset.w * 4 / 3);
  state.zoom = by === "fit" ? "fit" : Math.min(4, Math.max(0.1, state.zoom * by));
  applyZoom();
}

// The diagram's SVG ids (archc.render.Drawing): "n:" a node drawing layers (one, or one with
// the norm and activation drawn in it, or a module that is only that), "m:" a folded module or
// a run of identical ones ("× N"), "c:" an open module (a cluster) and "t:" its title.
function nodeOf(target) {
  const g = target.closest && target.closest("g.node, g.cluster");
  return g && g.id && state.info[g.id] !== undefined ? g : null;
}

function onDiagramClick(ev) {
  const g = nodeOf(ev.target);
  if (!g) return;
  const b = buffer();
  const kind = g.id.slice(0, 2);
  if (kind === "m:") {
    for (const m of state.info[g.id].members) b.folds[m] = true; // expand: every module of a × N
  } else if (kind === "c:" || kind === "t:") {
    b.folds[g.id.slice(2)] = false; // collapse
  } else {
    return;
  }
  compileNow();
}

// the cluster whose title is hovered is outlined as if hovered itself
function markCluster(g) {
  const hot = g && g.id.startsWith("t:") ? document.getElementById("c:" + g.id.slice(2)) : null;
  for (const c of $("diagram").querySelectorAll("g.cluster.hot")) if (c !== hot) c.classList.remove("hot");
  if (hot) hot.classList.add("hot");
}

function onDiagramHover(ev) {
  const box = $("hover");
  const g = nodeOf(ev.target);
  markCluster(g);
  if (!g) {
    box.hidden = true;
    return;
  }
  const d = state.info[g.id];
  const lines = [
    el("div", {}, el("b", { text: d.name })),
    el("div", { text: d.what }),
    el("div", { text: `${d.in || "?"} → ${d.out}` }),
    el("div", { text: `${num(d.params)} parameters · ${num(d.macs)} MACs (${human(d.macs)})` }),
  ];
  if (d.layers > 1) lines.push(el("div", { text: `${num(d.layers)} layers` }));
  if (g.id.startsWith("m:")) lines.push(el("div", { class: "muted", text: "click to expand" }));
  if (/^[ct]:/.test(g.id)) lines.push(el("div", { class: "muted", text: "click to collapse" }));
  box.replaceChildren(...lines);
  box.style.left = Math.min(ev.clientX + 14, window.innerWidth - 370) + "px";
  box.style.top = ev.clientY + 14 + "px";
  box.hidden = false;
}

// ------------------------------------------------------------------ stages

function renderStages(stages, totals) {
  const table = $("stages");
  const head = el("thead", {}, el("tr", {}, ...["stage", "module", "output", "parameters", "share", "MACs"]
    .map((h) => el("th", { text: h }))));
  const body = el("tbody");
  for (const s of stages) {
    body.append(el("tr", {},
      el("td", { text: s.stage }), el("td", { text: s.what }), el("td", { text: s.shape }),
      el("td", { text: s.params ? num(s.params) : "" }),
      el("td", { text: s.params ? (100 * s.share).toFixed(1) + "%" : "" }),
      el("td", { text: s.macs ? num(s.macs) : "" })));
  }
  const foot = el("tfoot", {}, el("tr", {}, el("td", { text: "total" }), el("td"), el("td", { text: totals.output }),
    el("td", { text: num(totals.params) }), el("td", { text: "100.0%" }), el("td", { text: num(totals.macs) })));
  table.replaceChildren(head, body, foot);
}

// ------------------------------------------------------------------ parameters

function renderParams(params) {
  const same = params.map((p) => p.name + p.kind + p.default).join() === state.params.map((p) => p.name + p.kind + p.default).join();
  state.params = params;
  if (same) return; // keep the inputs (and the cursor in them) while typing
  const list = $("param-list");
  list.replaceChildren();
  const b = buffer();
  if (!params.length) list.append(el("span", { class: "muted", text: "this network has no parameters" }));
  for (const p of params) {
    const id = "param-" + p.name;
    const value = b.overrides[p.name] ?? p.default;
    let input;
    if (p.kind === "bool") {
      input = el("input", { type: "checkbox", id });
      input.checked = value === "true";
    } else if (p.kind === "block") {
      input = el("select", { id });
      const choices = p.choices.includes(p.default) ? p.choices : [p.default, ...p.choices];
      for (const c of choices) input.append(el("option", { value: c, text: c }));
      input.value = value;
    } else {
      input = el("input", {
        type: p.kind === "int" || p.kind === "float" ? "number" : "text", id,
        class: p.kind === "list" ? "list" : "", spellcheck: "false",
      });
      if (p.kind === "float") input.step = "any";
      input.value = value;
    }
    const row = el("div", { class: "param", "data-name": p.name },
      el("label", { for: id, text: p.name }), input);
    const reset = el("button", { type: "button", title: "back to the default", text: "↺", hidden: "" });
    row.append(reset);
    const apply = () => {
      const v = p.kind === "bool" ? String(input.checked) : input.value.trim();
      if (v === "" || v === p.default) delete b.overrides[p.name];
      else b.overrides[p.name] = v;
      const changed = p.name in b.overrides;
      row.classList.toggle("changed", changed);
      reset.hidden = !changed;
      schedule();
    };
    input.addEventListener(p.kind === "bool" || p.kind === "block" ? "change" : "input", apply);
    reset.addEventListener("click", () => {
      if (p.kind === "bool") input.checked = p.default === "true";
      else input.value = p.default;
      apply();
    });
    const changed = p.name in b.overrides;
    row.classList.toggle("changed", changed);
    reset.hidden = !changed;
    list.append(row);
  }
}

function markInvalidParams(diags) {
  const bad = new Set(diags.filter((d) => d.file.startsWith("--set ")).map((d) => d.file.slice(6)));
  for (const row of $("param-list").querySelectorAll(".param")) {
    row.classList.toggle("invalid", bad.has(row.dataset.name));
  }
}

// ------------------------------------------------------------------ compare

function renderCompare(cmp) {
  const box = $("compare-summary");
  box.replaceChildren();
  state.changes = null;
  if (!cmp) {
    highlightChanges();
    return;
  }
  if (cmp.error) {
    box.append(el("div", { class: "msg", text: cmp.error }));
    return;
  }
  state.changes = cmp.changed;
  const counts = { added: 0, changed: 0, reshaped: 0 };
  for (const k of Object.values(cmp.changed)) counts[k] += 1;
  box.append(el("div", { text: `A: ${cmp.a.network}` }), el("div", { text: `B: ${cmp.b.network} (the editor)` }));
  const rows = [...cmp.stages, { stage: "total", ...cmp.total }];
  const table = el("table", {}, el("tr", {}, ...["", "params A", "params B", "Δ", "MACs A", "MACs B", "Δ"]
    .map((h) => el("th", { text: h }))));
  const delta = (a, b) => {
    const d = b - a;
    return el("td", { class: d > 0 ? "plus" : d < 0 ? "minus" : "", text: d ? (d > 0 ? "+" : "") + num(d) : "" });
  };
  for (const r of rows) {
    const [pa, pb] = r.params;
    const [ma, mb] = r.macs;
    if (r.stage !== "total" && pa === pb && ma === mb) continue;
    table.append(el("tr", {}, el("td", { text: r.stage }), el("td", { text: num(pa) }), el("td", { text: num(pb) }),
      delta(pa, pb), el("td", { text: num(ma) }), el("td", { text: num(mb) }), delta(ma, mb)));
  }
  box.append(table);
  box.append(el("div", {
    class: "changes",
    text: `${counts.added} layers added (outlined green), ${counts.changed} changed (orange), `
      + `${counts.reshaped} with new shapes only (pale orange), ${cmp.removed.length} removed`,
  }));
  highlightChanges();
}

// A node or cluster is marked by the changes to the layers it draws: green when they are all
// added, pale orange when they only carry new shapes, orange otherwise.
function highlightChanges() {
  const changes = state.changes;
  const changed = changes ? Object.keys(changes) : [];
  for (const g of $("diagram").querySelectorAll("g.node, g.cluster")) {
    g.classList.remove("diff-added", "diff-changed", "diff-reshaped");
    const entry = g.id && state.info[g.id];
    if (!changes || !entry || g.id.startsWith("t:")) continue;
    const hits = changed.filter((k) => entry.members.some((m) => k === m || k.startsWith(m + ".")))
      .map((k) => changes[k]);
    if (!hits.length) continue;
    const all = (kind) => hits.every((k) => k === kind);
    g.classList.add("diff-" + (all("added") ? "added" : all("reshaped") ? "reshaped" : "changed"));
  }
}

// ------------------------------------------------------------------ save and downloads

async function save(overwrite) {
  const b = buffer();
  const path = state.path;
  const text = b.text;
  const r = await api("POST", "/api/save", { path, text, base: overwrite ? overwrite : b.version });
  const data = await r.json().catch(() => ({}));
  if (r.status === 409) {
    notice(data.error || "the file changed on disk", "error", [
      ["Reload from disk", () => reload(path)],
      ["Overwrite", () => save(data.current)],
    ]);
    return;
  }
  if (!r.ok) {
    notice(data.error || "could not save");
    return;
  }
  b.saved = text;
  b.version = data.version;
  notice(`saved ${path}`, "info");
  setTimeout(() => { if ($("notice").textContent.startsWith("saved")) notice(""); }, 2500);
  markDirty();
  if (b.compare === "saved") compileNow();
}

async function reload(path) {
  state.buffers.delete(path);
  state.path = null;
  await openFile(path);
}

async function download(format) {
  const r = await api("POST", "/api/export", request({ format }));
  if (!r.ok) {
    const data = await r.json().catch(() => ({}));
    notice(data.error || (data.diagnostics ? "the spec has errors: fix them first" : "download failed"));
    return;
  }
  const blob = await r.blob();
  const cd = r.headers.get("content-disposition") || "";
  const name = (cd.match(/filename="([^"]+)"/) || [null, "network." + format])[1];
  const a = el("a", { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// ------------------------------------------------------------------ start

async function main() {
  const first = await loadFiles();
  state.view = new EditorView({ parent: $("editor"), state: makeState("") });
  $("save").addEventListener("click", () => save(false));
  $("dl-py").addEventListener("click", () => download("py"));
  $("dl-svg").addEventListener("click", () => download("svg"));
  $("dl-png").addEventListener("click", () => download("png"));
  $("compare").addEventListener("change", (e) => {
    buffer().compare = e.target.value;
    compileNow();
  });
  $("network").addEventListener("change", (e) => {
    const b = buffer();
    b.network = e.target.value;
    b.overrides = {};
    state.params = [];
    compileNow();
  });
  $("zoom-in").addEventListener("click", () => zoom(1.25));
  $("zoom-out").addEventListener("click", () => zoom(0.8));
  $("zoom-fit").addEventListener("click", () => zoom("fit"));
  const diagram = $("diagram");
  diagram.addEventListener("click", onDiagramClick);
  diagram.addEventListener("mousemove", onDiagramHover);
  diagram.addEventListener("mouseleave", () => { $("hover").hidden = true; });
  if (first) await openFile(first);
  else status("no .arch files in this folder", "bad");
}

main();
