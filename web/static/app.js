// assemblyd dashboard: live job table over the WebSocket, cancel, downloads, submit form.
// An ES module, no build step (shared.js holds what a job's page uses too). The
// server sends whole job views; this file only displays them, so it keeps no state
// that could disagree with Redis.
import {
  $, API, ERROR_TITLE, cancelJob, clock, label, loadStates as fetchStates, newer, openLive, since,
  states, took,
} from "./shared.js";

// The job states come from the server (GET /states), never from a copy kept here.
let STATES = [];
let TERMINAL = new Set();
const jobs = new Map(); // id -> {view, row, err}
const filter = { state: "", text: "" };

// ---------------------------------------------------------------- formatting
let roots = []; // watch roots, to show projects by their path below one
function parts(path) {
  let p = path || "";
  for (const r of roots) if (p.startsWith(r + "/")) { p = p.slice(r.length + 1); break; }
  const bits = p.split("/").filter(Boolean);
  return { name: bits.pop() || p || "?", parent: bits.join("/") };
}
function shorten(text) { // paths in messages, as below their root
  for (const r of roots) text = text.split(r + "/").join("");
  return text;
}

// ---------------------------------------------------------------- the table
const rows = $("#rows");
const template = $("#row-template");

function makeEntry(view) {
  const row = template.content.firstElementChild.cloneNode(true);
  row.dataset.id = view.id;
  const err = document.createElement("tr");
  err.className = "job-error";
  err.innerHTML = '<td></td><td colspan="5"><div class="err"><b class="err-title"></b><span class="err-msg"></span></div></td>';
  err.hidden = true;
  return { view, row, err, painted: null };
}

function paint(entry) {
  const v = entry.view, row = entry.row;
  const state = v.state || "queued";
  row.dataset.state = state;
  const badge = $(".badge", row);
  badge.textContent = label(state);
  const p = parts(v.project);
  $(".p-name", row).textContent = p.name;
  $(".p-name", row).title = v.project || "";
  $(".p-link", row).href = `/jobs/${encodeURIComponent(v.id)}`;
  const request = (v.request || "").split("/").pop();
  $(".p-sub", row).textContent = [p.parent, request].filter(Boolean).join("  ·  ");
  const pct = Math.max(0, Math.min(100, Number(v.progress) || 0));
  const bar = $(".bar", row);
  bar.setAttribute("aria-valuenow", String(pct));
  bar.setAttribute("aria-label", `${p.name} ${pct.toFixed(0)}%`);
  $(".fill", row).style.width = pct + "%";
  $(".stage", row).textContent = state === "queued" ? "waiting for a worker" : (v.stage || "");
  $(".pct", row).textContent = pct.toFixed(pct < 100 && pct > 0 ? 1 : 0) + "%";
  paintTimes(entry);
  if (entry.painted !== state + (v.export || "")) { // actions only change with the state
    entry.painted = state + (v.export || "");
    paintActions(entry);
    paintPoster(entry);
  }
  const error = v.error;
  entry.err.hidden = !error || state === "finished";
  entry.err.dataset.state = state;
  if (error) {
    $(".err-title", entry.err).textContent = (ERROR_TITLE[error.code] || error.code || "Error") + ":";
    $(".err-msg", entry.err).textContent = " " + shorten(error.message || "");
  }
  applyFilter(entry);
}

function paintTimes(entry) {
  const v = entry.view, row = entry.row;
  const d = $(".duration", row);
  if (v.state === "queued") {
    d.textContent = clock((Date.now() - Date.parse(v.queued_at)) / 1000);
    d.title = "waiting";
    d.classList.add("dim");
  } else {
    d.textContent = took(v, TERMINAL);
    d.title = v.started_at ? "since the render started" : "";
    d.classList.remove("dim");
  }
  const q = $(".queued", row);
  q.textContent = since(v.queued_at);
  q.title = v.queued_at ? new Date(v.queued_at).toLocaleString() : "";
}

function paintActions(entry) {
  const v = entry.view, cell = $(".actions", entry.row);
  cell.replaceChildren();
  if (!TERMINAL.has(v.state)) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "act cancel";
    b.textContent = "Cancel";
    b.addEventListener("click", () => cancelJob(v.id, b));
    cell.append(b);
  } else if (v.state === "finished" && v.export) {
    const name = v.export.split("/").pop();
    const open = document.createElement("a");
    open.className = "act";
    open.href = `${API}/exports/${encodeURIComponent(v.id)}`;
    open.target = "_blank";
    open.rel = "noopener";
    open.textContent = "Open";
    open.title = `Open ${name}`;
    const dl = document.createElement("a");
    dl.className = "act download";
    dl.href = open.href + "?download=1";
    dl.textContent = "Download";
    dl.title = `Download ${name}`;
    dl.setAttribute("download", name);
    cell.append(open, dl);
  }
}

function paintPoster(entry) { // a finished job's poster frame; the empty frame otherwise
  const v = entry.view, img = $(".poster", entry.row);
  const src = v.state === "finished" && v.export ? `${API}/jobs/${encodeURIComponent(v.id)}/poster` : "";
  if (!src) { img.hidden = true; img.removeAttribute("src"); return; }
  img.onload = () => { img.hidden = false; };
  img.onerror = () => { img.hidden = true; }; // no pictures (an older job, or they failed)
  if (img.getAttribute("src") !== src) img.src = src;
}

function place(entry) { // newest first, by queued_at
  const key = entry.view.queued_at || "";
  let before = null;
  for (const other of rows.children) {
    if (!other.classList.contains("job")) continue;
    const o = jobs.get(other.dataset.id);
    if (o && o !== entry && (o.view.queued_at || "") < key) { before = other; break; }
  }
  rows.insertBefore(entry.row, before);
  rows.insertBefore(entry.err, before);
}

function upsert(view) {
  let entry = jobs.get(view.id);
  if (entry) {
    if (!newer(view, entry.view)) return;
    const moved = view.queued_at !== entry.view.queued_at;
    entry.view = view;
    if (moved) place(entry);
  } else {
    entry = makeEntry(view);
    jobs.set(view.id, entry);
    place(entry);
  }
  paint(entry);
}

// The live snapshot is the newest page of jobs; older ones come a page at a time
// from the list API, following its cursor ("next"), when asked for.
let older = null;
const olderButton = $("#older");
function showOlder(next) {
  older = next || null;
  olderButton.hidden = !older;
}
olderButton.addEventListener("click", async () => {
  olderButton.disabled = true;
  try {
    const r = await fetch(`${API}/jobs?cursor=${encodeURIComponent(older)}`);
    if (!r.ok) return;
    const page = await r.json();
    const frag = document.createDocumentFragment();
    for (const view of page.jobs) { // older than every row shown: they go last
      if (jobs.has(view.id)) continue;
      const entry = makeEntry(view);
      jobs.set(view.id, entry);
      frag.append(entry.row, entry.err);
      paint(entry);
    }
    rows.append(frag);
    showOlder(page.next);
    refreshCounts();
  } finally {
    olderButton.disabled = false;
  }
});

function snapshot(list, next) {
  showOlder(next);
  jobs.clear();
  rows.replaceChildren();
  const frag = document.createDocumentFragment();
  const sorted = [...list].sort((a, b) => (b.queued_at || "").localeCompare(a.queued_at || ""));
  for (const view of sorted) {
    const entry = makeEntry(view);
    jobs.set(view.id, entry);
    frag.append(entry.row, entry.err);
    paint(entry);
  }
  rows.append(frag);
}

// ---------------------------------------------------------------- filters and counts
function applyFilter(entry) {
  const v = entry.view;
  const show = (!filter.state || v.state === filter.state) &&
    (!filter.text || (v.project || "").toLowerCase().includes(filter.text));
  entry.row.hidden = !show;
  if (!show) entry.err.hidden = true;
  else entry.err.hidden = !v.error || v.state === "finished";
}

function refreshCounts() {
  const n = { "": 0 };
  for (const s of STATES) n[s] = 0;
  for (const { view } of jobs.values()) { n[""]++; n[view.state] = (n[view.state] || 0) + 1; }
  for (const b of document.querySelectorAll("#filters button")) $("b", b).textContent = n[b.dataset.state] || "";
  $("#counters").innerHTML =
    `<span class="count running"><b>${n.running}</b> running</span>` +
    `<span class="count queued"><b>${n.queued}</b> queued</span>` +
    (n.failed ? `<span class="count failed"><b>${n.failed}</b> failed</span>` : "");
  let visible = 0;
  for (const e of jobs.values()) if (!e.row.hidden) visible++;
  $("#empty").hidden = jobs.size > 0;
  $("#nomatch").hidden = jobs.size === 0 || visible > 0;
}

$("#filters").addEventListener("click", (ev) => {
  const b = ev.target.closest("button");
  if (!b) return;
  filter.state = b.dataset.state;
  for (const x of document.querySelectorAll("#filters button")) x.setAttribute("aria-pressed", String(x === b));
  for (const e of jobs.values()) applyFilter(e);
  refreshCounts();
});
$("#search").addEventListener("input", (ev) => {
  filter.text = ev.target.value.trim().toLowerCase();
  for (const e of jobs.values()) applyFilter(e);
  refreshCounts();
});

// ---------------------------------------------------------------- live updates
function connect() {
  openLive({
    onMessage(msg) {
      if (msg.type === "snapshot") snapshot(msg.jobs, msg.next);
      else if (msg.type === "update") msg.jobs.forEach(upsert);
      else if (msg.type === "status") setPill("#redis", msg.redis);
      refreshCounts();
    },
  });
}

// ---------------------------------------------------------------- health
function setPill(sel, ok, text) {
  const pill = $(sel);
  pill.dataset.ok = String(Boolean(ok));
  if (text !== undefined) pill.textContent = text;
}
async function health() {
  try {
    const r = await fetch("/healthz", { cache: "no-store" });
    const h = await r.json();
    setPill("#redis", h.redis, "Redis");
    setPill("#workers", h.workers > 0, `${h.workers} worker${h.workers === 1 ? "" : "s"}`);
    setPill("#watcher", h.watcher_alive, h.watcher_alive ? "watcher" : "no watcher");
  } catch {
    setPill("#redis", false);
  }
}

// ---------------------------------------------------------------- submit form
const form = $("#submit-form");
let mode = "form";

function shotsFromText(text) {
  return text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")).map((line) => {
    const m = line.match(/^(.*?)(?:\s+(-?[\d.]+))?(?:\s+(-?[\d.]+))?$/);
    const path = m[1], tin = m[2], tout = m[3];
    if (tin === undefined) return path;
    const shot = { path, in: Number(tin) };
    if (tout !== undefined) shot.out = Number(tout);
    return shot;
  });
}
function documentFromForm() {
  const doc = {};
  const name = $("#f-name").value.trim();
  if (name) doc.name = name;
  doc.shots = shotsFromText($("#f-shots").value);
  doc.output = {
    output_format: $("#f-format").value, resolution: $("#f-resolution").value,
    fps: Number($("#f-fps").value), quality_preset: $("#f-quality").value,
    bitrate: $("#f-bitrate").value.trim(),
  };
  return doc;
}
function setMode(next) {
  if (next === mode) return;
  if (next === "json") $("#f-json").value = JSON.stringify(documentFromForm(), null, 2);
  mode = next;
  for (const t of document.querySelectorAll(".mode button")) t.setAttribute("aria-selected", String(t.dataset.mode === mode));
  $("#mode-form").hidden = mode !== "form";
  $("#mode-json").hidden = mode !== "json";
}
$(".mode").addEventListener("click", (ev) => { const b = ev.target.closest("button"); if (b) setMode(b.dataset.mode); });

function showProblems(body) {
  const box = $("#problems");
  box.replaceChildren();
  const head = document.createElement("p");
  head.className = "problems-title";
  const list = body.problems || [];
  head.textContent = list.length ? `${list.length} problem${list.length === 1 ? "" : "s"} — nothing was queued` : (body.message || "The request was refused");
  box.append(head);
  const ul = document.createElement("ul");
  for (const p of list) {
    const li = document.createElement("li");
    const where = p.shot_index !== undefined ? `Shot ${p.shot_index + 1}${p.path ? " (" + p.path + ")" : ""}` : (p.field || p.path || "Request");
    li.innerHTML = "<b></b> <span></span>";
    li.firstChild.textContent = where + ":";
    li.lastChild.textContent = p.reason;
    ul.append(li);
  }
  if (list.length) box.append(ul);
  box.hidden = false;
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("#problems").hidden = true;
  $("#submit-note").textContent = "";
  let doc;
  if (mode === "json") {
    try { doc = JSON.parse($("#f-json").value); } catch (e) {
      showProblems({ problems: [{ field: "JSON", reason: e.message }] });
      return;
    }
    const name = $("#f-name").value.trim();
    if (name && !doc.name) doc.name = name;
  } else {
    doc = documentFromForm();
  }
  doc.project = $("#f-project").value.trim();
  const root = $("#f-root");
  if (!root.hidden) doc.root = Number(root.value);
  const button = $("#f-submit");
  button.disabled = true;
  button.textContent = "Checking shots…";
  try {
    const r = await fetch(`${API}/process`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(doc),
    });
    const body = await r.json().catch(() => ({ message: `HTTP ${r.status}` }));
    if (r.ok) {
      upsert(body);
      refreshCounts();
      $("#submit-note").textContent = r.status === 202 ? `Queued ${body.id}` : `Already known as ${body.id}`;
      $("#submit-note").dataset.kind = "ok";
    } else {
      showProblems(body);
    }
  } catch (e) {
    showProblems({ message: `Could not reach the server: ${e.message}` });
  } finally {
    button.disabled = false;
    button.textContent = "Queue assembly";
  }
});

// A dropped assembly.json opens in the JSON editor.
for (const evName of ["dragover", "dragleave", "drop"]) {
  form.addEventListener(evName, async (ev) => {
    ev.preventDefault();
    form.classList.toggle("dragging", evName === "dragover");
    if (evName !== "drop" || !ev.dataTransfer.files.length) return;
    const text = await ev.dataTransfer.files[0].text();
    setMode("json");
    $("#f-json").value = text;
  });
}

async function loadProjects() {
  try {
    const r = await fetch(`${API}/projects`);
    if (!r.ok) return;
    const body = await r.json();
    roots = body.roots.map((x) => x.replace(/\/+$/, "")).sort((a, b) => b.length - a.length);
    for (const e of jobs.values()) paint(e);
    $("#projects").replaceChildren(...body.projects.map((p) => {
      const o = document.createElement("option");
      o.value = p.path;
      if (body.roots.length > 1) o.label = body.roots[p.root];
      return o;
    }));
    const root = $("#f-root");
    root.hidden = body.roots.length < 2;
    root.replaceChildren(...body.roots.map((r, i) => new Option(r, String(i))));
  } catch { /* the form works without suggestions */ }
}

$("#toggle-submit").addEventListener("click", () => {
  const open = document.body.classList.toggle("no-submit");
  $("#toggle-submit").setAttribute("aria-expanded", String(!open));
  localStorage.setItem("assemblyd.submit", open ? "closed" : "open");
});
if (localStorage.getItem("assemblyd.submit") === "closed") {
  document.body.classList.add("no-submit");
  $("#toggle-submit").setAttribute("aria-expanded", "false");
}

// ---------------------------------------------------------------- start
let ticks = 0;
setInterval(() => { // clocks of live jobs every second; "3 min ago" of the rest now and then
  ticks++;
  for (const e of jobs.values()) if (!TERMINAL.has(e.view.state) || ticks % 20 === 0) paintTimes(e);
}, 1000);
async function loadStates() {
  if (!(await fetchStates())) return false;
  STATES = states.list;
  TERMINAL = states.terminal;
  // Filter buttons, busiest first: what is moving, then what waits, then the rest.
  const order = [...STATES.filter((s) => !TERMINAL.has(s)).reverse(), ...STATES.filter((s) => TERMINAL.has(s))];
  $("#filters").append(...order.map((s) => {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.state = s;
    b.setAttribute("aria-pressed", "false");
    b.append(label(s) + " ", document.createElement("b"));
    return b;
  }));
  return true;
}

setInterval(health, 10000);
health();
loadProjects();
loadStates().then((ok) => { if (ok) { connect(); refreshCounts(); } });
