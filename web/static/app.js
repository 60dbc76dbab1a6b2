// assemblyd dashboard: live job table over the WebSocket, cancel, downloads, submit form.
// Plain script, no build step. The server sends whole job views; this file only
// displays them, so it keeps no state that could disagree with Redis.
"use strict";

const API = "/api/v1/assembly";
// The job states come from the server (GET /states), never from a copy kept here.
let STATES = [];
let TERMINAL = new Set();
const RANK = {}; // queued 0, running 1, ended 2: a later state never steps back
const label = (state) => state.charAt(0).toUpperCase() + state.slice(1);
const ERROR_TITLE = {
  invalid_request: "Invalid request", unreadable_media: "Unreadable media", render_failed: "Render failed",
  verify_failed: "Export did not verify", publish_failed: "Could not publish", canceled: "Canceled",
  worker_died: "Worker died", timeout: "Timed out", interrupted: "Interrupted by a shutdown",
  internal_error: "Internal error",
};

const $ = (sel, el = document) => el.querySelector(sel);
const jobs = new Map(); // id -> {view, row, err}
const filter = { state: "", text: "" };

// ---------------------------------------------------------------- formatting
function clock(seconds) {
  if (!(seconds >= 0)) return "";
  const s = Math.floor(seconds % 60), m = Math.floor(seconds / 60) % 60, h = Math.floor(seconds / 3600);
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
}
function since(iso) {
  if (!iso) return "";
  const sec = (Date.now() - Date.parse(iso)) / 1000;
  if (sec < 45) return "just now";
  if (sec < 3600) return Math.round(sec / 60) + " min ago";
  if (sec < 86400) return Math.round(sec / 3600) + " h ago";
  return new Date(iso).toLocaleDateString(undefined, { month: "short", day: "numeric" });
}
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
function elapsed(v) {
  const start = Date.parse(v.started_at || v.queued_at);
  const end = v.finished_at ? Date.parse(v.finished_at) : Date.now();
  return (end - start) / 1000;
}
function newer(a, b) { // is view a a later state than view b? (mirrors web/live.py)
  if (a.queued_at !== b.queued_at) return (a.queued_at || "") >= (b.queued_at || "");
  return (RANK[a.state] || 0) > (RANK[b.state] || 0) ||
    ((RANK[a.state] || 0) === (RANK[b.state] || 0) && (a.progress || 0) >= (b.progress || 0));
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
    const sec = elapsed(v);
    // A quick job's "0:00" says nothing: ended jobs under a minute get tenths.
    d.textContent = TERMINAL.has(v.state) && sec < 60 ? sec.toFixed(1) + " s" : clock(sec);
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
let socket = null, retry = 0;
function setLive(state, text) {
  const pill = $("#live");
  pill.dataset.state = state;
  pill.textContent = text;
}
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}${API}/ws`);
  socket.onopen = () => { retry = 0; setLive("live", "live"); };
  socket.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.type === "snapshot") snapshot(msg.jobs, msg.next);
    else if (msg.type === "update") msg.jobs.forEach(upsert);
    else if (msg.type === "status") {
      setLive(msg.redis ? "live" : "down", msg.redis ? "live" : "Redis unreachable");
      setPill("#redis", msg.redis);
    }
    refreshCounts();
  };
  socket.onclose = async () => {
    retry = Math.min(retry + 1, 6);
    setLive("connecting", "reconnecting…");
    if (retry > 1) { // a refused handshake looks like any drop: ask whether we are signed out
      const r = await fetch(`${API}/projects`).catch(() => null);
      if (r && r.status === 401) { location.assign("/"); return; } // the sign-in form
    }
    setTimeout(connect, 500 * retry);
  };
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

// ---------------------------------------------------------------- actions
function toast(text, kind = "") {
  const t = document.createElement("div");
  t.className = "toast " + kind;
  t.textContent = text;
  $("#toasts").append(t);
  setTimeout(() => t.remove(), 6000);
}

async function cancelJob(id, button) {
  if (!button.classList.contains("confirm")) { // two clicks: no modal dialog on a second screen
    button.classList.add("confirm");
    button.textContent = "Confirm";
    setTimeout(() => { button.classList.remove("confirm"); button.textContent = "Cancel"; }, 4000);
    return;
  }
  button.disabled = true;
  button.textContent = "Stopping…";
  const r = await fetch(`${API}/jobs/${encodeURIComponent(id)}`, { method: "DELETE" });
  if (!r.ok) {
    const body = await r.json().catch(() => ({}));
    toast(body.message || `cancel failed (${r.status})`, "bad");
    button.disabled = false;
    button.textContent = "Cancel";
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
  for (;;) {
    try {
      const r = await fetch(`${API}/states`);
      if (r.status === 401) { location.assign("/"); return false; }
      if (r.ok) {
        const body = await r.json();
        STATES = body.states;
        TERMINAL = new Set(body.terminal);
        for (const s of STATES) RANK[s] = TERMINAL.has(s) ? 2 : s === STATES[0] ? 0 : 1;
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
    } catch { /* the server is starting or away: try again */ }
    await new Promise((done) => setTimeout(done, 1000));
  }
}

setInterval(health, 10000);
health();
loadProjects();
loadStates().then((ok) => { if (ok) { connect(); refreshCounts(); } });
