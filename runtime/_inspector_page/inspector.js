// The roost inspector's page (runtime/_inspector.py serves it and its JSON API).
//
// Plain JavaScript, no build step, no library. Every value from the server goes into the page
// through textContent (keys are arbitrary UTF-8 chosen by clients): nothing is parsed as HTML.
// The admin token comes once in ?token=, moves to sessionStorage (this tab only) and leaves
// the address bar; every API call sends it as "Authorization: Bearer".
"use strict";

const TOKEN_KEY = "roost-inspector-token";
const POINTS = 90; // seconds of history in the charts
const $ = (selector) => document.querySelector(selector);

// -- the token ---------------------------------------------------------------------------------

(function takeTokenFromAddress() {
  const params = new URLSearchParams(location.search);
  if (!params.has("token")) return;
  sessionStorage.setItem(TOKEN_KEY, params.get("token"));
  params.delete("token");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
})();

const token = () => sessionStorage.getItem(TOKEN_KEY) || "";

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(name, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""));
  const response = await fetch(`api/${name}?${query}`, {
    headers: { authorization: `Bearer ${token()}` },
    cache: "no-store",
    credentials: "omit",
  });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (response.status === 401 || response.status === 403) {
    showLogin(body && body.error);
    throw new ApiError(response.status, (body && body.error) || "not allowed");
  }
  if (response.status === 414) throw new ApiError(414, "too long for one request: keep a statement under 4000 characters");
  if (!response.ok) throw new ApiError(response.status, (body && body.error) || `HTTP ${response.status}`);
  return body;
}

function showLogin(message) {
  $("#app").hidden = true;
  $("#login").hidden = false;
  setStatus(message || "admin token required", "bad");
}

$("#login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
  $("#token").value = "";
  start();
});

// -- rendering without HTML ---------------------------------------------------------------------

/** An element with text (never HTML), attributes and children. */
function el(tag, { text, cls, attrs = {}, title } = {}, children = []) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  if (title) node.title = title;
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

function row(cells, attrs = {}) {
  return el("tr", { attrs }, cells.map((cell) => (cell instanceof Node ? el("td", {}, [cell]) : el("td", { text: show(cell) }))));
}

function fill(tbody, rows, empty) {
  tbody.replaceChildren(...(rows.length ? rows : [el("tr", { cls: "empty" }, [el("td", { text: empty, attrs: { colspan: "9" } })])]));
}

function show(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "object") {
    if ("blob" in value && "size" in value) return `blob, ${value.size} bytes: ${value.blob}${value.size * 2 > value.blob.length ? "…" : ""}`;
    return JSON.stringify(value);
  }
  return String(value);
}

const time = (unix) => (unix ? new Date(unix * 1000).toLocaleString() : "–");
const seconds = (s) => (s === null || s === undefined ? "–" : `${Number(s).toFixed(1)} s`);

function facts(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { text: show(value) })]));
}

function setStatus(text, kind) {
  const status = $("#status");
  status.textContent = text;
  status.className = `status ${kind || ""}`;
}

// -- the node and its actors ---------------------------------------------------------------------

const view = { source: "live", type: "", q: "", next: null, selected: null };

async function loadOverview() {
  const overview = await api("overview");
  facts($("#node"), [
    ["node", overview.node_id],
    ["worker", overview.worker],
    ["version", overview.version],
    ["store", overview.store],
  ]);
  const select = $("#type-filter");
  const known = new Set([...select.options].map((o) => o.value));
  for (const t of overview.types) if (!known.has(t.type)) select.append(el("option", { text: t.type, attrs: { value: t.type } }));
  fill(
    $("#types tbody"),
    overview.types.map((t) => {
      const link = el("a", { text: t.type, attrs: { href: "#" } });
      link.addEventListener("click", (event) => {
        event.preventDefault();
        select.value = t.type;
        view.type = t.type;
        loadActors();
      });
      return row([link, t.active, t.hibernated, t.connections], { "data-type": t.type });
    }),
    "no actor types",
  );
  $("#cluster").hidden = !overview.cluster;
  return overview;
}

async function loadActors(more = false) {
  const params = { type: view.type, q: view.q, limit: 100 };
  if (more && view.next) Object.assign(params, view.source === "files" ? { after: view.next } : { after_type: view.next[0], after_key: view.next[1] });
  const note = $("#actors-note");
  let answer;
  try {
    if (view.source === "live") answer = await api("live", params);
    else answer = await api("stored", { ...params, source: view.source });
    note.textContent = "";
  } catch (error) {
    if (error.status === 401 || error.status === 403) throw error;
    note.textContent = error.message;
    fill($("#actors tbody"), [], "–");
    return;
  }
  const rows = answer.actors.map((a) => {
    const link = el("a", { text: a.key, cls: "key", attrs: { href: "#" } });
    link.addEventListener("click", (event) => {
      event.preventDefault();
      select(a.type, a.key);
    });
    let details;
    if (view.source === "live") details = `${a.connections} conn., idle ${seconds(a.idle)}`;
    else if (view.source === "files") details = `${a.size} bytes, ${time(a.modified)}`;
    else details = `v${a.version}, fence ${a.fence}, ${time(a.updated_at)}`;
    const r = row([a.type, link, a.state || (view.source === "files" ? "file" : "stored"), details]);
    r.dataset.type = a.type;
    r.dataset.key = a.key; // a dataset value is text, never markup
    return r;
  });
  const tbody = $("#actors tbody");
  if (more) tbody.append(...rows);
  else fill(tbody, rows, view.q ? "no actor key contains this" : "no actors");
  view.next = answer.next || null;
  $("#more").hidden = !view.next;
  if (view.source === "live" && answer.total > answer.actors.length) note.textContent = `${answer.actors.length} of ${answer.total} shown`;
}

for (const tab of document.querySelectorAll(".tabs button")) {
  tab.addEventListener("click", () => {
    for (const other of document.querySelectorAll(".tabs button")) other.setAttribute("aria-selected", String(other === tab));
    view.source = tab.dataset.source;
    view.next = null;
    loadActors().catch(() => {});
  });
}
$("#type-filter").addEventListener("change", (event) => {
  view.type = event.target.value;
  loadActors().catch(() => {});
});
let searchTimer = 0;
$("#search").addEventListener("input", (event) => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    view.q = event.target.value;
    loadActors().catch(() => {});
  }, 250);
});
$("#more").addEventListener("click", () => loadActors(true).catch(() => {}));

// -- one actor -------------------------------------------------------------------------------------

function select(type, key) {
  view.selected = { type, key };
  history.replaceState(null, "", `${location.pathname}${location.search}#actor=${encodeURIComponent(type)}/${encodeURIComponent(key)}`);
  $("#sql-note").textContent = "";
  $("#sql-result thead").replaceChildren();
  $("#sql-result tbody").replaceChildren();
  loadActor().catch(() => {});
}

async function loadActor() {
  const selected = view.selected;
  if (!selected) return;
  const actor = await api("actor", selected);
  if (view.selected !== selected) return;
  $("#pick").hidden = true;
  $("#actor").hidden = false;
  $("#actor-type").textContent = actor.type;
  $("#actor-key").textContent = actor.key;
  facts($("#actor-facts"), [
    ["state", actor.state],
    ["idle", actor.idle === null ? null : seconds(actor.idle)],
    ["file", actor.file ? `${actor.file.size} bytes, written ${time(actor.file.modified)}` : "none"],
    ...(actor.fence !== null ? [["lease fence here", actor.fence]] : []),
    ...(actor.owner ? [["owner", `${actor.owner.node_id} at ${actor.owner.address} (fence ${actor.owner.fence}, ${seconds(actor.owner.expires_in)} left)`]] : []),
    ...(actor.store_error ? [["store", actor.store_error]] : []),
  ]);
  fill(
    $("#connections tbody"),
    actor.connections.map((c) => row([c.id, c.client, c.identity, c.subprotocol || "raw", c.tags.join(", "), c.queued_bytes], { "data-id": c.id })),
    "no connections",
  );
  fill(
    $("#alarms tbody"),
    actor.alarms.map((a) => row([a.name, time(a.due_at), a.quarantined ? `${a.attempt} (quarantined)` : a.attempt, a.payload])),
    "no alarms",
  );
  if (actor.synced) {
    facts($("#synced-facts"), [
      ["version", actor.synced.version],
      ["fence", actor.synced.fence],
      ["synced at", time(actor.synced.updated_at)],
    ]);
    $("#synced").textContent = actor.synced.state;
  } else {
    facts($("#synced-facts"), [["synced", "not in the shared store (yet)"]]);
    $("#synced").textContent = "";
  }
}

$("#sql-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!view.selected) return;
  const note = $("#sql-note");
  note.textContent = "running…";
  note.className = "note";
  try {
    const result = await api("sql", { ...view.selected, sql: $("#sql").value });
    $("#sql-result thead").replaceChildren(el("tr", {}, result.columns.map((c) => el("th", { text: c }))));
    fill($("#sql-result tbody"), result.rows.map((r) => row(r)), "no rows");
    note.textContent = `${result.rows.length} row${result.rows.length === 1 ? "" : "s"}${result.truncated ? " (more not shown)" : ""} in ${(result.seconds * 1000).toFixed(1)} ms`;
  } catch (error) {
    note.textContent = error.message;
    note.className = "note error";
    $("#sql-result thead").replaceChildren();
    $("#sql-result tbody").replaceChildren();
  }
});

// -- the cluster -----------------------------------------------------------------------------------

async function loadCluster() {
  const cluster = await api("cluster", { limit: 100 });
  if (!cluster.cluster) return;
  fill(
    $("#nodes tbody"),
    cluster.nodes.map((n) => row([n.node_id === cluster.node_id ? `${n.node_id} (this one)` : n.node_id, n.address, n.version, n.heartbeat_age, n.actors])),
    "no nodes",
  );
  fill(
    $("#leases tbody"),
    cluster.leases.map((l) => row([l.type, l.key, l.expires_in > 0 ? l.node_id : "nobody", l.fence, l.expires_in > 0 ? l.expires_in : "–"])),
    "no leases",
  );
}

// -- charts -------------------------------------------------------------------------------------------

const series = { messages: [[], []], connections: [[]], latency: [[], []], lag: [[]] };
let previous = null;

/** The q-quantile (0..1) of the turns between two snapshots, from their bucket counts. */
function quantile(before, after, q) {
  const counts = after.counts.map((c, i) => c - before.counts[i]);
  const total = counts.reduce((a, b) => a + b, 0);
  if (!total) return null;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i];
    if (seen >= q * total) return i < after.buckets.length ? after.buckets[i] : after.buckets[after.buckets.length - 1];
  }
  return null;
}

function push(lines, values) {
  lines.forEach((line, i) => {
    line.push(values[i]);
    if (line.length > POINTS) line.shift();
  });
}

function draw(canvas, lines) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 300;
  const height = canvas.clientHeight || 90;
  if (canvas.width !== width * ratio) {
    canvas.width = width * ratio;
    canvas.height = height * ratio;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const values = lines.flat().filter((v) => v !== null);
  const top = Math.max(1e-9, ...values) * 1.15;
  ctx.strokeStyle = "#e3e6ea";
  ctx.lineWidth = 1;
  for (const f of [0.25, 0.5, 0.75]) {
    ctx.beginPath();
    ctx.moveTo(0, height * f);
    ctx.lineTo(width, height * f);
    ctx.stroke();
  }
  ctx.fillStyle = "#7a828c";
  ctx.font = "10px system-ui, sans-serif";
  ctx.fillText(top >= 10 ? top.toFixed(0) : top.toPrecision(2), 3, 11);
  const colours = ["#2f6fdf", "#e0702b"];
  lines.forEach((line, i) => {
    ctx.strokeStyle = colours[i];
    ctx.lineWidth = 1.6;
    ctx.beginPath();
    let drawing = false;
    line.forEach((v, x) => {
      if (v === null) {
        drawing = false;
        return;
      }
      const px = line.length > 1 ? (x / (line.length - 1)) * width : width; // fills the width from the first second on
      const py = height - (v / top) * (height - 4) - 2;
      if (drawing) ctx.lineTo(px, py);
      else ctx.moveTo(px, py);
      drawing = true;
    });
    ctx.stroke();
  });
  canvas.dataset.points = String(lines[0].length);
}

async function pollStats() {
  const now = await api("stats");
  if (previous) {
    const dt = Math.max(0.001, now.time - previous.time);
    const turns = now.turns.count - previous.turns.count;
    const mean = turns ? ((now.turns.sum - previous.turns.sum) / turns) * 1000 : null;
    const p95 = quantile(previous.turns, now.turns, 0.95);
    push(series.messages, [(now.messages_received - previous.messages_received) / dt, (now.messages_sent - previous.messages_sent) / dt]);
    push(series.latency, [mean, p95 === null ? null : p95 * 1000]);
    $("#now-messages").textContent = `${series.messages[0].at(-1).toFixed(1)} in, ${series.messages[1].at(-1).toFixed(1)} out`;
    $("#now-latency").textContent = mean === null ? "no turns" : `${mean.toFixed(2)} mean, ≤ ${(p95 * 1000).toFixed(2)} p95`;
  }
  push(series.connections, [now.connections]);
  push(series.lag, [now.sync_lag]);
  $("#now-connections").textContent = `${now.connections} open, ${now.actors_active} active, ${now.actors_hibernated} hibernated`;
  $("#now-lag").textContent = `${now.sync_lag.toFixed(2)} s, ${now.sync_pending} pending${now.store_up ? "" : ", store down"}`;
  previous = now;
  draw($("#chart-messages"), series.messages);
  draw($("#chart-connections"), series.connections);
  draw($("#chart-latency"), series.latency);
  draw($("#chart-lag"), series.lag);
}

// -- the loop ------------------------------------------------------------------------------------------

let timers = [];

function every(ms, work) {
  const tick = async () => {
    try {
      await work();
      if (!$("#app").hidden) setStatus("live", "good");
    } catch (error) {
      if (!(error instanceof ApiError && (error.status === 401 || error.status === 403))) setStatus(`error: ${error.message}`, "bad");
    }
  };
  timers.push(setInterval(tick, ms));
  return tick();
}

async function start() {
  timers.forEach(clearInterval);
  timers = [];
  if (!token()) {
    showLogin("admin token required");
    return;
  }
  try {
    const overview = await loadOverview();
    $("#login").hidden = true;
    $("#app").hidden = false;
    const match = /^#actor=([^/]*)\/(.*)$/.exec(location.hash);
    if (match) select(decodeURIComponent(match[1]), decodeURIComponent(match[2]));
    await loadActors();
    every(1000, pollStats);
    every(3000, async () => {
      await loadOverview();
      if (view.source === "live" && !view.next) await loadActors();
      await loadActor();
    });
    if (overview.cluster) every(3000, loadCluster);
    setStatus("live", "good");
  } catch (error) {
    if (!(error instanceof ApiError && (error.status === 401 || error.status === 403))) setStatus(`error: ${error.message}`, "bad");
  }
}

start();
