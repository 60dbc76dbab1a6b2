// What the dashboard (app.js) and a job's page (job.js) share: the API's address,
// formatting, the job states from the server, the live feed and cancelling.
// An ES module: no build step, and no globals for the two pages to trip over.

export const API = "/api/v1/assembly";
export const $ = (sel, el = document) => el.querySelector(sel);
export const label = (state) => state.charAt(0).toUpperCase() + state.slice(1);
export const ERROR_TITLE = {
  invalid_request: "Invalid request", unreadable_media: "Unreadable media", render_failed: "Render failed",
  verify_failed: "Export did not verify", publish_failed: "Could not publish", canceled: "Canceled",
  worker_died: "Worker died", timeout: "Timed out", interrupted: "Interrupted by a shutdown",
  internal_error: "Internal error",
};

// Signed out (the cookie expired): the page itself shows the sign-in form, which
// brings the browser back here.
export const signIn = () => location.assign(location.pathname);

export function clock(seconds) {
  if (!(seconds >= 0)) return "";
  const s = Math.floor(seconds % 60), m = Math.floor(seconds / 60) % 60, h = Math.floor(seconds / 3600);
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
}
export function since(iso) {
  if (!iso) return "";
  const sec = (Date.now() - Date.parse(iso)) / 1000;
  if (sec < 45) return "just now";
  if (sec < 3600) return Math.round(sec / 60) + " min ago";
  if (sec < 86400) return Math.round(sec / 3600) + " h ago";
  return new Date(iso).toLocaleDateString(undefined, { month: "short", day: "numeric" });
}
export function elapsed(v) {
  const start = Date.parse(v.started_at || v.queued_at);
  const end = v.finished_at ? Date.parse(v.finished_at) : Date.now();
  return (end - start) / 1000;
}
// How long a job has taken, as a person reads it: a quick job's "0:00" says
// nothing, so ended jobs under a minute get tenths.
export function took(v, terminal) {
  const sec = elapsed(v);
  return terminal.has(v.state) && sec < 60 ? sec.toFixed(1) + " s" : clock(sec);
}

// The job states, from the server (GET /states), never from a copy kept here.
export const states = { list: [], terminal: new Set(), rank: {} }; // rank: queued 0, running 1, ended 2
export async function loadStates() {
  for (;;) {
    try {
      const r = await fetch(`${API}/states`);
      if (r.status === 401) { signIn(); return false; }
      if (r.ok) {
        const body = await r.json();
        states.list = body.states;
        states.terminal = new Set(body.terminal);
        for (const s of states.list) states.rank[s] = states.terminal.has(s) ? 2 : s === states.list[0] ? 0 : 1;
        return true;
      }
    } catch { /* the server is starting or away: try again */ }
    await new Promise((done) => setTimeout(done, 1000));
  }
}
export function newer(a, b) { // is view a a later state than view b? (mirrors web/live.py)
  const rank = states.rank;
  if (a.queued_at !== b.queued_at) return (a.queued_at || "") >= (b.queued_at || "");
  return (rank[a.state] || 0) > (rank[b.state] || 0) ||
    ((rank[a.state] || 0) === (rank[b.state] || 0) && (a.progress || 0) >= (b.progress || 0));
}

// The page's "live" pill (#live): the link's state, shown.
function setLive(state, text) {
  const pill = $("#live");
  pill.dataset.state = state;
  pill.textContent = text;
}

// The live feed over the WebSocket: every message goes to onMessage, the link's
// state to onLink(state, text) (by default the page's #live pill). Reconnects with a
// growing pause; a refused handshake looks like any drop, so after two it asks
// whether we are signed out.
export function openLive({ job = null, onMessage, onLink = setLive }) {
  let retry = 0;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = job ? `?job=${encodeURIComponent(job)}` : "";
  const connect = () => {
    const socket = new WebSocket(`${scheme}://${location.host}${API}/ws${query}`);
    socket.onopen = () => { retry = 0; onLink("live", "live"); };
    socket.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.type === "status") onLink(msg.redis ? "live" : "down", msg.redis ? "live" : "Redis unreachable");
      onMessage(msg);
    };
    socket.onclose = async () => {
      retry = Math.min(retry + 1, 6);
      onLink("connecting", "reconnecting…");
      if (retry > 1) {
        const r = await fetch(`${API}/states`).catch(() => null);
        if (r && r.status === 401) { signIn(); return; }
      }
      setTimeout(connect, 500 * retry);
    };
  };
  connect();
}

export function toast(text, kind = "") {
  const t = document.createElement("div");
  t.className = "toast " + kind;
  t.textContent = text;
  let box = $("#toasts");
  if (!box) {
    box = document.createElement("div");
    box.id = "toasts";
    box.className = "toasts";
    box.setAttribute("aria-live", "polite");
    document.body.append(box);
  }
  box.append(t);
  setTimeout(() => t.remove(), 6000);
}

export async function cancelJob(id, button) {
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
