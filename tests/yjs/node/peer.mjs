// One real Yjs client (yjs + the unmodified y-websocket WebsocketProvider) driven by pytest.
//
// Commands arrive as JSON lines on stdin; each gets exactly one JSON line on stdout:
// {"ok": true, ...} or {"ok": false, "error": "..."}. Waits carry their own timeout (ms), so a
// peer never hangs its test; pytest's fail_after is the outer bound.
//
//   {"cmd": "connect", "url": "ws://127.0.0.1:PORT/yjs", "doc": "name"}   -> {clientID}
//   {"cmd": "insert", "index": 0, "text": "..."}        one transaction, one update
//   {"cmd": "edits", "count": 100, "tag": "a"}          count inserts <a0>, <a1>... at random places
//   {"cmd": "text"}                                     -> {text}
//   {"cmd": "wait_text", "contains": [...], "length": n, "timeout": ms}
//   {"cmd": "awareness", "state": {...}}                set the local awareness state
//   {"cmd": "wait_awareness", "client": id, "present": true|false, "timeout": ms} -> {states}
//   {"cmd": "disconnect"}                               provider.destroy() (a clean goodbye)
import readline from "node:readline";
import WebSocket from "ws";
import { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";

let doc = null;
let provider = null;
let text = null;

function until(check, timeout, what) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = () => {
      const value = check();
      if (value !== undefined) return resolve(value);
      if (Date.now() - started > timeout) {
        const description = typeof what === "function" ? what() : what;
        return reject(new Error(`timed out waiting for ${description}`));
      }
      setTimeout(poll, 5);
    };
    poll();
  });
}

function remoteStates() {
  const states = {};
  for (const [client, state] of provider.awareness.getStates()) {
    if (client !== doc.clientID) states[client] = state;
  }
  return states;
}

const commands = {
  async connect({ url, doc: name, timeout = 10000 }) {
    doc = new Y.Doc();
    text = doc.getText("text");
    provider = new WebsocketProvider(url, name, doc, { WebSocketPolyfill: WebSocket });
    await until(() => (provider.synced ? true : undefined), timeout, "sync");
    return { clientID: doc.clientID };
  },
  async insert({ index, text: inserted }) {
    text.insert(Math.min(index, text.length), inserted);
    return {};
  },
  async edits({ count, tag }) {
    for (let i = 0; i < count; i++) {
      // A random place between two earlier edits (never inside one, so each stays findable).
      const now = text.toString();
      const at = now.indexOf("<", Math.floor(Math.random() * (now.length + 1)));
      text.insert(at === -1 ? now.length : at, `<${tag}${i}>`);
    }
    return {};
  },
  async text() {
    return { text: text.toString() };
  },
  async wait_text({ contains = [], length = 0, timeout = 10000 }) {
    const ready = () => {
      const now = text.toString();
      return now.length >= length && contains.every((part) => now.includes(part)) ? now : undefined;
    };
    const what = () => {
      const now = text.toString();
      const missing = contains.filter((part) => !now.includes(part));
      return `text of length >= ${length} (have ${now.length}, missing ${missing.length} parts: ${missing.slice(0, 5).join(" ")})`;
    };
    return { text: await until(ready, timeout, what) };
  },
  async awareness({ state }) {
    provider.awareness.setLocalState(state);
    return {};
  },
  async wait_awareness({ client, present, timeout = 10000 }) {
    const ready = () => ((String(client) in remoteStates()) === present ? true : undefined);
    await until(ready, timeout, `client ${client} ${present ? "present" : "gone"}`);
    return { states: remoteStates() };
  },
  async disconnect() {
    provider.destroy();
    return {};
  },
};

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const request = JSON.parse(line);
  let reply;
  try {
    reply = { ok: true, ...(await commands[request.cmd](request)) };
  } catch (error) {
    reply = { ok: false, error: String(error && error.stack ? error.stack : error) };
  }
  process.stdout.write(`${JSON.stringify(reply)}\n`);
}
process.exit(0);
