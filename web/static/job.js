// A job's own page: its progress live (the dashboard's feed, for this job only), and
// from GET /jobs/{id}/details its shots with thumbnails, warnings and outputs with
// their downloads. Everything shown comes from the server; nothing is kept here
// that the next message would not replace.
import {
  $, API, ERROR_TITLE, cancelJob, label, loadStates, newer, openLive, signIn, since, states, toast,
  took,
} from "./shared.js";

const jobId = decodeURIComponent(location.pathname.replace(/\/+$/, "").split("/").pop());
const page = $("#job");
let view = null;       // the job as last seen (details or the live feed)
let detailsFor = "";   // the state and stage the shown details were read at
let name = { name: "", parent: "" };

// ---------------------------------------------------------------- formatting
function bytes(n) {
  if (!(n >= 0)) return "";
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(n < 10 ? 1 : 0) : String(n)) + " " + units[i];
}
function seconds(s) {
  if (s === null || s === undefined) return "";
  if (s < 60) return s.toFixed(s < 10 ? 2 : 1).replace(/\.?0+$/, "") + " s";
  const m = Math.floor(s / 60), rest = s - m * 60;
  return `${m}:${rest.toFixed(1).padStart(4, "0")}`;
}
function fps(text) { // "24000/1001" -> "23.976"
  if (!text) return "";
  const [a, b] = text.split("/").map(Number);
  return (b ? (a / b).toFixed(3).replace(/\.?0+$/, "") : String(a)) + " fps";
}
const words = (text) => (text || "").replaceAll("_", " ");
const upper = (text) => (text || "").toUpperCase();
function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}
function facts(dl, pairs) {
  dl.replaceChildren();
  for (const [term, value] of pairs) {
    if (!value) continue;
    const box = el("div");
    box.append(el("dt", "", term), el("dd", "", value));
    dl.append(box);
  }
}
function link(cls, href, text, title) {
  const a = el("a", "act " + cls, text);
  a.href = href;
  if (title) a.title = title;
  return a;
}

// ---------------------------------------------------------------- the job itself
function show(v) {
  view = v;
  const state = v.state || "queued";
  page.dataset.state = state;
  $("#j-state").textContent = label(state);
  const pct = Math.max(0, Math.min(100, Number(v.progress) || 0));
  $("#j-bar").setAttribute("aria-valuenow", String(pct));
  $(".fill", page).style.width = pct + "%";
  $("#j-stage").textContent = state === "queued" ? "waiting for a worker" : (v.stage || "");
  $("#j-pct").textContent = pct.toFixed(pct < 100 && pct > 0 ? 1 : 0) + "%";
  tick();
  const actions = $("#j-actions");
  const live = !states.terminal.has(state);
  if (live && !$("button.cancel", actions)) {
    const b = el("button", "act cancel", "Cancel");
    b.type = "button";
    b.addEventListener("click", () => cancelJob(v.id, b));
    actions.replaceChildren(b);
  } else if (!live) {
    actions.replaceChildren();
  }
  const box = $("#j-error");
  box.hidden = !v.error || state === "finished";
  box.dataset.state = state;
  if (v.error) {
    $(".err-title", box).textContent = (ERROR_TITLE[v.error.code] || v.error.code || "Error") + ":";
    $(".err-msg", box).textContent = " " + (v.error.message || "");
  }
}

function tick() { // the clocks: every second while the job lives
  if (!view) return;
  facts($("#j-facts"), [
    [view.state === "queued" ? "Waiting" : "Took", took(view, states.terminal)],
    ["Queued", since(view.queued_at)],
    ["Worker", view.worker],
  ]);
}

// ---------------------------------------------------------------- details
function showDetails(d) {
  const path = d.project_path || d.job.project || "";
  const bits = path.split("/").filter(Boolean);
  name = { name: bits.pop() || path || jobId, parent: bits.join("/") };
  $("#j-name").textContent = name.name;
  $("#j-name").title = d.job.project || "";
  const request = (d.job.request || "").split("/").pop();
  $("#j-sub").textContent = [name.parent, request, d.job.id].filter(Boolean).join("  ·  ");
  document.title = `${name.name} · assemblyd`;
  showWarnings(d.warnings);
  showOutputs(d);
  showShots(d);
  page.removeAttribute("aria-busy");
}

function showWarnings(list) {
  $("#warnings-section").hidden = !list.length;
  $("#warnings").replaceChildren(...list.map((w) => {
    const li = el("li");
    const where = w.shot_index >= 0 ? `Shot ${w.shot_index + 1}: ` : "";
    li.append(el("b", "", words(w.code)), document.createTextNode(` ${where}${w.message}`));
    return li;
  }));
}

function loudness(out) {
  const m = out.loudness, t = out.loudness_target;
  if (!m && !t) return "";
  const parts = [];
  if (m && m.integrated !== null) parts.push(`${m.integrated.toFixed(1)} LUFS`);
  if (m && m.true_peak !== null) parts.push(`peak ${m.true_peak.toFixed(1)} dBTP`);
  if (m && m.range !== null) parts.push(`range ${m.range.toFixed(1)} LU`);
  if (t && t.integrated !== null) parts.push(`target ${t.integrated.toFixed(0)}`);
  return parts.join(" · ");
}
function burnins(out) {
  return out.burnins.map((b) => (b.field === "text" ? `“${b.text || ""}”` : words(b.field)) +
    (b.position ? ` (${words(b.position)})` : "")).join(", ");
}
function made(counts) {
  return Object.entries(counts).map(([how, n]) => `${n} ${how}`).join(", ");
}

function showOutputs(d) {
  const template = $("#output-template");
  const list = d.outputs.map((out) => {
    const card = template.content.firstElementChild.cloneNode(true);
    card.dataset.index = String(out.index);
    const file = (out.file || "").split("/").pop();
    $(".output-name", card).textContent = out.name || file || `Output ${out.index + 1}`;
    $(".output-file", card).textContent = file;
    const poster = $(".output-poster", card);
    const img = $("img", poster);
    if (out.poster_url) {
      img.src = out.poster_url;
      img.alt = `Poster frame of ${file}`;
      poster.href = out.sheet_url || out.poster_url;
      poster.title = out.sheet_url ? "Contact sheet" : "Poster frame";
    } else {
      poster.replaceWith(el("div", "output-poster empty", "no picture"));
    }
    facts($(".facts", card), [
      ["Format", [upper(out.format), upper(out.video_codec), upper(out.audio_codec)].filter(Boolean).join(" · ")],
      ["Picture", [out.resolution, fps(out.fps)].filter(Boolean).join(" · ")],
      ["Length", [seconds(out.duration), out.frames ? `${out.frames} frames` : ""].filter(Boolean).join(" · ")],
      ["Size", bytes(out.size_bytes)],
      ["Starts at", out.timecode],
      ["Loudness", loudness(out)],
      ["Burn-ins", burnins(out)],
      ["Made", [out.strategy, made(out.segments)].filter(Boolean).join(": ")],
    ]);
    const actions = $(".output-actions", card);
    if (out.download_url) {
      const dl = link("download", out.download_url, "Download", `Download ${file}`);
      dl.setAttribute("download", file);
      const open = link("", out.url, "Play", `Play ${file}`);
      open.target = "_blank";
      open.rel = "noopener";
      actions.append(dl, open);
    }
    if (out.sheet_url) {
      const sheet = link("", out.sheet_url, "Contact sheet");
      sheet.target = "_blank";
      sheet.rel = "noopener";
      actions.append(sheet);
    }
    if (out.timeline_url) actions.append(link("", out.timeline_url, "Timeline", "The cut as OpenTimelineIO"));
    if (!out.available && d.job.state === "finished") {
      actions.append(el("span", "note", `${file} is no longer in exports/`));
    }
    return card;
  });
  $("#outputs").replaceChildren(...list);
  const state = d.job.state;
  $("#outputs-note").textContent = list.length ? "" :
    state === "finished" ? "This job's record lists no outputs." :
    states.terminal.has(state) ? "Nothing was published." : "The outputs appear here when the job finishes.";
  $("#outputs-note").hidden = list.length > 0;
}

const KIND = { gap: "Gap", slate: "Slate" };
function showShots(d) {
  const template = $("#shot-template");
  const items = d.shots.map((shot) => {
    const li = template.content.firstElementChild.cloneNode(true);
    li.dataset.kind = shot.kind || "";
    $(".shot-n", li).textContent = String(shot.index + 1);
    const img = $(".shot-thumb img", li);
    if (shot.thumbnail_url) {
      img.onload = () => { img.hidden = false; };
      img.onerror = () => { img.hidden = true; };
      img.src = shot.thumbnail_url;
      img.alt = `Shot ${shot.index + 1}`;
    }
    $(".shot-path", li).textContent = KIND[shot.kind] || shot.path || "?";
    $(".shot-path", li).title = shot.path || "";
    const src = shot.source || {};
    const extra = [src.resolution, fps(src.fps), upper(src.codec)];
    if (shot.speed !== null && shot.speed !== 1) extra.push(`speed ${shot.speed}×`);
    if (shot.dissolve_frames) extra.push(`dissolve ${shot.dissolve_frames} fr`);
    $(".shot-source", li).textContent = extra.filter(Boolean).join(" · ");
    const how = $(".made", li);
    how.textContent = shot.made || (d.job.state === "finished" ? "" : "planned");
    how.dataset.made = shot.made || "";
    const trim = $(".shot-trim", li);
    trim.textContent = shot.in !== null && shot.out !== null ? `${seconds(shot.in)} – ${seconds(shot.out)}` : "";
    trim.dataset.label = "Source";
    const dur = $(".shot-duration", li);
    dur.textContent = seconds(shot.duration);
    dur.dataset.label = "Duration";
    const at = $(".shot-at", li);
    at.textContent = shot.record_in !== null && shot.duration !== null && shot.frames
      ? seconds((shot.record_in * shot.duration) / shot.frames) : "";
    at.dataset.label = "At";
    return li;
  });
  $("#shots").replaceChildren(...items);
  const counts = {};
  for (const s of d.shots) if (s.made) counts[s.made] = (counts[s.made] || 0) + 1;
  const length = d.duration ? seconds(d.duration) : "";
  $("#shots-note").textContent = [d.shots.length ? `${d.shots.length}` : "", length, d.strategy, made(counts)]
    .filter(Boolean).join(" · ");
  const empty = $("#shots-empty");
  empty.hidden = d.shots.length > 0;
  empty.textContent = d.record_problem ? `The project's record cannot be read: ${d.record_problem}` :
    d.recorded ? "No shots recorded." : "The shots appear here once a worker has planned the cut.";
}

async function loadDetails() {
  let r;
  try {
    r = await fetch(`${API}/jobs/${encodeURIComponent(jobId)}/details`, { cache: "no-store" });
  } catch {
    toast("Could not reach the server", "bad");
    return false;
  }
  if (r.status === 401) { signIn(); return false; }
  if (r.status === 404) {
    page.hidden = true;
    $("#missing").hidden = false;
    $("#missing-text").textContent = `There is no job ${jobId} on this server (jobs are kept for a week after they finish).`;
    return false;
  }
  if (!r.ok) {
    const body = await r.json().catch(() => ({}));
    toast(body.message || `HTTP ${r.status}`, "bad");
    return false;
  }
  const d = await r.json();
  detailsFor = d.job.state + d.job.stage;
  if (!view || newer(d.job, view)) show(d.job);
  showDetails(d);
  return true;
}

// ---------------------------------------------------------------- live
let reading = null;
function refreshDetails() { // at most one read at a time; the last change wins
  if (reading) { reading.again = true; return; }
  reading = { again: false };
  loadDetails().finally(() => {
    const again = reading.again;
    reading = null;
    if (again) refreshDetails();
  });
}
function onMessage(msg) {
  if (msg.type !== "snapshot" && msg.type !== "update") return;
  for (const v of msg.jobs) {
    if (v.id !== jobId || (view && !newer(v, view))) continue;
    show(v);
    // A new stage or state brings new details: the planned shots, then the outputs.
    if (v.state + v.stage !== detailsFor) refreshDetails();
  }
}

setInterval(() => { if (view && !states.terminal.has(view.state)) tick(); }, 1000);
if (await loadStates() && await loadDetails()) openLive({ job: jobId, onMessage });
