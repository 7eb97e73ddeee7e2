// The roost browser demo (examples/demo.py): one shared Y.Text in a textarea, everyone's cursor
// and name over it, who is here, and a chat room. Three actors per document name:
//   /yjs/<doc>        the text, synced by the npm y-websocket provider (bundled in vendor.js)
//   /presence/<doc>   who is here and their cursors, through roost's client in raw mode
//   /chat/<room>      the chat, through roost's client in envelope mode (rpc and events)

import { actorUrl, connect } from "/client/roost.js";
import { WebsocketProvider, Y } from "./vendor.js";

const MAX_NAME = 64; // the presence and chat actors' limit
const HEARTBEAT_MS = 10_000; // the presence actor forgets us after 30 s without one
const COLORS = ["#e0457b", "#2f6fde", "#1f9d55", "#d97706", "#7c3aed", "#0891b2", "#dc2626", "#0d9488"];
const ADJECTIVES = ["brisk", "calm", "eager", "jolly", "keen", "lucid", "merry", "nimble", "quiet", "witty"];
const ANIMALS = ["otter", "heron", "lynx", "marten", "puffin", "wren", "ibex", "gecko", "koala", "finch"];

const params = new URLSearchParams(location.search);
const docName = usable(fromHash()) || usable(params.get("doc")) || "demo";
const roomName = usable(params.get("room")) || docName;
const user = (params.get("user") || randomName()).slice(0, MAX_NAME);
const color = colorFor(user);
addEventListener("hashchange", () => location.reload());

/** `name` if it can be an actor key (not empty, ".", ".." or with control characters), else "". */
function usable(name) {
  try {
    return name && actorUrl(location.origin, "t", name) && name;
  } catch {
    return "";
  }
}

function fromHash() {
  try {
    return decodeURIComponent(location.hash.slice(1));
  } catch {
    return ""; // a malformed escape: the default
  }
}

function randomName() {
  const [a, b] = crypto.getRandomValues(new Uint32Array(2));
  return `${ADJECTIVES[a % ADJECTIVES.length]}-${ANIMALS[b % ANIMALS.length]}`;
}

function colorFor(name) {
  let hash = 2166136261; // FNV-1a: the same name gets the same colour on every page
  for (const char of name) hash = Math.imul(hash ^ char.codePointAt(0), 16777619);
  return COLORS[(hash >>> 0) % COLORS.length];
}

const $ = (selector) => document.querySelector(selector);

function element(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children); // text goes in as text nodes: names and messages are never HTML
  return node;
}

function setConnected(channel, connected) {
  $(`#status [data-channel="${channel}"]`).classList.toggle("connected", connected);
}

$("#doc-name").textContent = docName;
for (const span of document.querySelectorAll(".doc-key")) span.textContent = docName;
for (const span of document.querySelectorAll(".room-key")) span.textContent = roomName;
$("#me").textContent = user;
$("#me").style.setProperty("--color", color);
$("#other").href = `?user=${encodeURIComponent(randomName())}#${encodeURIComponent(docName)}`;

// -- the text: a Y.Text bound to the textarea ---------------------------------------------------

const editor = $("#editor");
const ydoc = new Y.Doc();
const ytext = ydoc.getText("text");
const LOCAL = Symbol("local edit");
const wsBase = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/yjs`;
// disableBc: two tabs of one browser sync through the server too, never around it. y-websocket
// appends the room name to the URL as it is, so it gets the key percent-encoded (as actorUrl does).
const provider = new WebsocketProvider(wsBase, encodeURIComponent(docName), ydoc, { disableBc: true });
provider.on("status", ({ status }) => setConnected("doc", status === "connected"));
provider.on("sync", (synced) => {
  if (synced) editor.disabled = false;
});

/** The smallest edit turning `before` into `after`, the textarea's caret at `caret` after it. */
function textChange(before, after, caret) {
  let start = 0;
  const shortest = Math.min(before.length, after.length);
  while (start < shortest && before[start] === after[start]) start++;
  // Typing "a" into "a|a" inserts at the caret, not after the run of a's (it matters when
  // others edit next to it).
  const inserted = after.length - before.length;
  if (inserted > 0 && caret - inserted >= 0 && caret - inserted < start) {
    if (after.slice(caret) === before.slice(caret - inserted)) start = caret - inserted;
  }
  let endBefore = before.length;
  let endAfter = after.length;
  while (endBefore > start && endAfter > start && before[endBefore - 1] === after[endAfter - 1]) {
    endBefore--;
    endAfter--;
  }
  // Never split a surrogate pair: Yjs would store half a character.
  if (start > 0 && isHighSurrogate(before.charCodeAt(start - 1))) start--;
  if (endBefore < before.length && isLowSurrogate(before.charCodeAt(endBefore))) {
    endBefore++;
    endAfter++;
  }
  return { index: start, remove: endBefore - start, insert: after.slice(start, endAfter) };
}

const isHighSurrogate = (code) => code >= 0xd800 && code <= 0xdbff;
const isLowSurrogate = (code) => code >= 0xdc00 && code <= 0xdfff;

editor.addEventListener("input", () => {
  const { index, remove, insert } = textChange(ytext.toString(), editor.value, editor.selectionEnd);
  ydoc.transact(() => {
    if (remove) ytext.delete(index, remove);
    if (insert) ytext.insert(index, insert);
  }, LOCAL);
  sendCursor();
});

/** Where `position` of the text before a remote change is after it (a Yjs delta). */
function mapThrough(delta, position) {
  let old = 0; // index in the text before the change
  let moved = position;
  for (const op of delta) {
    if (op.retain !== undefined) old += op.retain;
    else if (op.insert !== undefined) {
      if (old < position) moved += op.insert.length; // an insert at the caret stays after it
    } else if (op.delete !== undefined) {
      if (old < position) moved -= Math.min(op.delete, position - old);
      old += op.delete;
    }
  }
  return moved;
}

ytext.observe((event, transaction) => {
  if (transaction.origin !== LOCAL) {
    const { selectionStart, selectionEnd, selectionDirection, scrollTop } = editor;
    editor.value = ytext.toString();
    editor.setSelectionRange(
      mapThrough(event.delta, selectionStart),
      mapThrough(event.delta, selectionEnd),
      selectionDirection,
    );
    editor.scrollTop = scrollTop;
  }
  renderCursors();
});

// -- presence: names, colours and cursors --------------------------------------------------------

/** `{user: {metas: [{name, color, cursor, pos, ref}, ...]}}`, as Phoenix Presence keeps it. */
let present = {};
let cursorQueued = false;
let lastSent = ""; // the last track frame sent on this connection

const presence = connect(actorUrl(location.origin, "presence", docName, { params: { user } }), { encoding: "raw" });
presence.on("open", () => {
  setConnected("presence", true);
  lastSent = "";
  sendCursor(); // (again) after a reconnect: the channel forgot us
});
presence.on("close", () => setConnected("presence", false));
presence.on("message", (frame) => {
  const message = JSON.parse(frame);
  if (message.type === "presence_state") present = message.presences;
  else if (message.type === "presence_diff") applyDiff(message);
  else if (message.type === "error") console.warn("presence:", message.error);
  renderPeople();
  renderCursors();
});
setInterval(() => {
  if (presence.state === "open") presence.send(JSON.stringify({ type: "heartbeat" }));
}, HEARTBEAT_MS);

function applyDiff({ joins, leaves }) {
  for (const [name, { metas }] of Object.entries(joins)) {
    const refs = new Set(metas.map((meta) => meta.ref));
    const kept = (present[name]?.metas ?? []).filter((meta) => !refs.has(meta.ref));
    present[name] = { metas: [...kept, ...metas] };
  }
  for (const [name, { metas }] of Object.entries(leaves)) {
    const refs = new Set(metas.map((meta) => meta.ref));
    const kept = (present[name]?.metas ?? []).filter((meta) => !refs.has(meta.ref));
    if (kept.length) present[name] = { metas: kept };
    else delete present[name];
  }
}

/** Tell the others where our caret is: an index, and a Yjs relative position that stays on the
 * same character while the text changes around it. Coalesced to one frame per task. */
function sendCursor() {
  if (cursorQueued) return;
  cursorQueued = true;
  setTimeout(() => {
    cursorQueued = false;
    if (presence.state !== "open") return;
    const cursor = editor.selectionEnd;
    const pos = Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(ytext, cursor));
    const frame = JSON.stringify({ type: "track", meta: { name: user, color, cursor, pos } });
    if (frame !== lastSent) {
      presence.send(frame);
      lastSent = frame;
    }
  }, 0);
}
for (const type of ["keyup", "mouseup", "focus", "select"]) editor.addEventListener(type, sendCursor);
document.addEventListener("selectionchange", () => {
  if (document.activeElement === editor) sendCursor();
});

/** A remote cursor's index in our text: its relative position once we have the character it
 * points at, its plain index until then. */
function cursorIndex(meta) {
  if (meta.pos) {
    try {
      const absolute = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(meta.pos), ydoc);
      if (absolute && absolute.type === ytext) return absolute.index;
    } catch {
      // a malformed position: use the index
    }
  }
  return Number.isInteger(meta.cursor) ? Math.max(0, Math.min(meta.cursor, ytext.length)) : null;
}

const overlay = $("#cursors");

function renderCursors() {
  const text = editor.value;
  const marks = [];
  for (const [name, { metas }] of Object.entries(present)) {
    for (const meta of metas) {
      const index = cursorIndex(meta);
      if (index !== null) marks.push({ index, name: String(meta.name ?? name), user: name, color: meta.color });
    }
  }
  marks.sort((a, b) => a.index - b.index);
  const children = [];
  let at = 0;
  for (const mark of marks) {
    children.push(text.slice(at, mark.index));
    const caret = element("span", { className: "caret" }, element("span", { className: "caret-label" }, mark.name));
    caret.dataset.user = mark.user;
    caret.dataset.index = String(mark.index);
    caret.style.setProperty("--color", safeColor(mark.color));
    children.push(caret);
    at = mark.index;
  }
  children.push(`${text.slice(at)}\n`);
  overlay.replaceChildren(...children);
  overlay.style.width = `${editor.clientWidth}px`; // the textarea's scrollbar narrows its text
  overlay.scrollTop = editor.scrollTop;
}

editor.addEventListener("scroll", () => (overlay.scrollTop = editor.scrollTop));
new ResizeObserver(renderCursors).observe(editor);

function safeColor(value) {
  return typeof value === "string" && /^#[0-9a-f]{6}$/i.test(value) ? value : "#6b7385";
}

function renderPeople() {
  const items = [element("li", {}, user, " ", element("span", { className: "you" }, "(you)"))];
  items[0].style.setProperty("--color", color);
  items[0].dataset.user = user;
  for (const [name, { metas }] of Object.entries(present).sort(([a], [b]) => a.localeCompare(b))) {
    if (name === user) continue; // our other tabs: their cursors show, the list has us already
    const item = element("li", {}, name);
    item.dataset.user = name;
    item.style.setProperty("--color", safeColor(metas[0]?.color));
    items.push(item);
  }
  $("#people").replaceChildren(...items);
}
renderPeople();

// -- chat: history and live messages, through rpc calls and events --------------------------------

const chat = connect(actorUrl(location.origin, "chat", roomName, { params: { user } }), { encoding: "json" });
const messages = new Map(); // id -> message; history and events may overlap after a reconnect
const MAX_SHOWN = 200;

chat.events("message", (message) => addMessages([message]));
chat.on("open", async () => {
  setConnected("chat", true);
  try {
    addMessages(await chat.call("history", { limit: 50 }));
  } catch (error) {
    console.warn("chat history:", error);
  }
});
chat.on("close", () => setConnected("chat", false));

function addMessages(list) {
  for (const message of list) messages.set(message.id, message);
  const ids = [...messages.keys()].sort((a, b) => a - b);
  for (const id of ids.slice(0, Math.max(0, ids.length - MAX_SHOWN))) messages.delete(id);
  const box = $("#messages");
  const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  box.replaceChildren(
    ...ids.slice(-MAX_SHOWN).map((id) => {
      const { user: author, text, ts } = messages.get(id);
      const name = element("span", { className: "user" }, author);
      name.style.setProperty("--color", colorFor(author));
      const time = element("time", {}, new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
      const item = element("li", {}, time, name, text);
      item.dataset.id = String(id);
      return item;
    }),
  );
  if (atBottom) box.scrollTop = box.scrollHeight;
}

$("#say").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("#say-text");
  const text = input.value.trim();
  if (!text) return;
  try {
    await chat.call("say", { text });
    input.value = "";
  } catch (error) {
    console.warn("chat say:", error);
  }
});
