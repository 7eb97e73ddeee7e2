/**
 * The JavaScript client of roost: one WebSocket to one actor (`ws://host/<type>/<key>`).
 *
 * In envelope mode (`encoding: "json"` or `"cbor"`, the subprotocols roost.v1.json and
 * roost.v1.cbor of docs/protocol.md) it makes rpc calls and receives the actor's events; in raw
 * mode (`encoding: "raw"`) it sends and receives frames unchanged. It reconnects with jittered
 * exponential backoff, fails calls in flight during a disconnect with a retryable error, and
 * queues a bounded number of calls and sends made while offline. Given several URLs (the actor
 * on several nodes of a cluster), it rotates through them: each round of attempts tries every
 * URL once, the one after the URL just lost first, and the backoff separates rounds; after a
 * close with 1001 or 1012 (a node going away or handing its actors over) the first round starts
 * at once. Events carry `seq`: a reconnection asks for the ones it missed (`?resume=`), delivers
 * each once, and reports a "resync" when the server no longer has them.
 *
 * Connection lifecycle (one state machine, `client.state`; failed attempts and backoff waits
 * stay in the state they started from):
 *
 *     connecting ──open──▶ open ──lost──▶ reconnecting ──open──▶ open ...
 *     any ──close(), or a close code that forbids retrying──▶ closed
 */

import { codecFor, resolveLimits } from "./codec.js";
import { CLIENT_CODES, ProtocolError, RoostError, RpcError } from "./errors.js";
import { eventIterator } from "./events.js";
import { checkHeaders, redactUrl } from "./urls.js";

export { DEFAULT_LIMITS } from "./codec.js";
export { ProtocolError, RoostError, RpcError } from "./errors.js";
export { actorUrl } from "./urls.js";

/** Close codes after which reconnecting would only be refused again (protocol.md). */
export const FATAL_CLOSE_CODES = Object.freeze([1003, 1007, 1008, 1009]);

/**
 * Close codes after which the client reconnects at once, to the next URL, without the backoff:
 * going away (1001) and service restart (1012), a node stopping or handing its actors over.
 * At most once per backoff.max, so a server that keeps closing with 1012 gets the backoff.
 */
const IMMEDIATE_CLOSE_CODES = Object.freeze([1001, 1012]);

const TRANSITIONS = Object.freeze({
  connecting: ["open", "closed"], // the first connection, retried until it opens
  open: ["reconnecting", "closed"],
  reconnecting: ["open", "closed"], // waiting out the backoff, or opening a new connection
  closed: [],
});

const DEFAULTS = Object.freeze({
  encoding: "json",
  reconnect: true,
  backoff: Object.freeze({ initial: 250, max: 10_000 }),
  callTimeout: 30_000,
  maxBuffered: 100,
  maxQueuedEvents: 1_000,
});

const IS_NODE = typeof process !== "undefined" && Boolean(process.versions?.node);

/** The `ws` package's WebSocket: Node's WebSocket when it has none, or when headers are set. */
async function nodeWebSocket() {
  const module = await import(/* webpackIgnore: true */ "ws");
  return module.WebSocket ?? module.default;
}

/** Reports an exception from a user's handler without breaking the client's own state. */
function report(error) {
  queueMicrotask(() => {
    throw error;
  });
}

function toWebSocketUrl(url) {
  const parsed = new URL(url, globalThis.location?.href);
  if (parsed.protocol === "http:") parsed.protocol = "ws:";
  else if (parsed.protocol === "https:") parsed.protocol = "wss:";
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new TypeError(`a roost URL is ws:, wss:, http: or https:, not ${parsed.protocol}`);
  }
  return parsed.href;
}

/** `url`, or an array of them, as a frozen non-empty array of ws:/wss: URLs. */
function toWebSocketUrls(url) {
  const urls = Array.isArray(url) ? url : [url];
  if (urls.length === 0) throw new TypeError("connect() needs at least one URL");
  for (const each of urls) {
    if (typeof each !== "string" && !(each instanceof URL)) throw new TypeError("a roost URL is a string or a URL");
  }
  return Object.freeze(urls.map((each) => toWebSocketUrl(String(each))));
}

const now = () => globalThis.performance?.now() ?? Date.now();

function positive(name, value) {
  if (typeof value !== "number" || !(value > 0)) {
    throw new RangeError(`${name} must be a positive number, not ${value}`);
  }
  return value;
}

export class RoostClient {
  /**
   * @param {string | string[]} url `ws://host:port/<type>/<key>?query` (http: and https: are
   *   accepted too), or several: the actor's URL on each node of a cluster, tried in turn;
   *   build them with actorUrl(), which percent-encodes the key
   * @param {import("../index.d.ts").ConnectOptions} [options]
   */
  constructor(url, options = {}) {
    const o = { ...DEFAULTS, ...options, backoff: { ...DEFAULTS.backoff, ...options.backoff } };
    /** Every URL given, in order. */
    this.urls = toWebSocketUrls(url);
    this._index = 0; // of the URL connected to, or being tried
    this._roundLeft = this.urls.length - 1; // attempts of this round still to make without delay
    this._lastImmediate = null; // when a reconnection last skipped the backoff (performance.now())
    this.encoding = o.encoding;
    if (!["json", "cbor", "raw"].includes(o.encoding)) {
      throw new TypeError(`encoding must be "json", "cbor" or "raw", not ${JSON.stringify(o.encoding)}`);
    }
    this._headers = checkHeaders(o.headers); // null, or sent with every (re)connection
    // The WebSocket class: given; else the global one; else (Node 20, or headers, which only
    // the ws package can send) ws, loaded with the codec below.
    this._WebSocket = o.WebSocket ?? (this._headers === null ? globalThis.WebSocket : undefined);
    if (typeof this._WebSocket !== "function") {
      if (!IS_NODE) {
        throw new TypeError(
          this._headers === null
            ? "no global WebSocket: pass one, e.g. connect(url, { WebSocket })"
            : "browsers cannot set WebSocket headers: send a token in the query (actorUrl's params) or use a cookie",
        );
      }
      this._WebSocket = null;
    }
    this._reconnect = Boolean(o.reconnect);
    this._backoff = { initial: positive("backoff.initial", o.backoff.initial), max: positive("backoff.max", o.backoff.max) };
    this._callTimeout = o.callTimeout === null || o.callTimeout === Infinity ? null : positive("callTimeout", o.callTimeout);
    if (!Number.isInteger(o.maxBuffered) || o.maxBuffered < 0) throw new RangeError("maxBuffered must be an integer >= 0");
    this._maxBuffered = o.maxBuffered;
    this._maxQueuedEvents = o.maxQueuedEvents;
    this._limits = resolveLimits(o.limits);

    this._state = "connecting";
    this._ws = null;
    this._codec = null;
    this._attempt = 0; // failed attempts since the last open, for the backoff
    this._timer = null;
    this._nextId = 1;
    this._inFlight = new Map(); // id -> pending call, sent on the current socket
    this._offline = []; // {frame, call?} made while not open, at most maxBuffered
    this._listeners = new Map(); // type -> Set of handlers
    this._closing = null; // resolves when the last socket has closed
    this._resolveClosing = null;
    this._lastSocket = null; // the socket close() is closing
    this._lastSeq = null; // the seq of the last event received, sent back as ?resume=

    this.ready = new Promise((resolve, reject) => {
      this._ready = { resolve, reject };
    });
    this.ready.catch(() => {}); // rejected only if closed before opening; no unhandled rejection

    const loading = [codecFor(this.encoding, this._limits), this._WebSocket ?? nodeWebSocket()];
    this._codecReady = Promise.all(loading).then(([codec, WebSocket]) => {
      this._codec = codec;
      this._WebSocket = WebSocket;
    });
    this._codecReady.then(
      () => this._state !== "closed" && this._open(),
      (error) => this._shutdown(new RpcError(CLIENT_CODES.CLOSED, `cannot load the codec or ws: ${error.message}`)),
    );
  }

  /** Shown by console.log and util.inspect: the URL without its query (it may hold a token). */
  [Symbol.for("nodejs.util.inspect.custom")]() {
    return `RoostClient <${redactUrl(this.url)}> ${this._state}`;
  }

  toString() {
    return `RoostClient <${redactUrl(this.url)}> ${this._state}`;
  }

  /** The URL connected to, or being tried. */
  get url() {
    return this.urls[this._index];
  }

  /** "connecting" (the first time), "open", "reconnecting" or "closed". */
  get state() {
    return this._state;
  }

  /** The seq of the last event received (null: none yet); a reconnection resumes after it. */
  get lastSeq() {
    return this._lastSeq;
  }

  /** Calls and sends queued while offline. */
  get buffered() {
    return this._offline.length;
  }

  /**
   * Calls an rpc method of the actor.
   *
   * @param {string} method
   * @param {Record<string, unknown>} [args]
   * @param {{timeout?: number | null}} [options] overrides callTimeout (null: none)
   * @returns {Promise<unknown>} the method's return value
   */
  call(method, args = {}, { timeout = this._callTimeout } = {}) {
    if (this.encoding === "raw") return Promise.reject(new TypeError("call() needs encoding json or cbor"));
    if (typeof method !== "string") return Promise.reject(new TypeError("method must be a string"));
    if (args === null || typeof args !== "object" || Array.isArray(args)) {
      return Promise.reject(new TypeError("args must be an object of keyword arguments"));
    }
    if (timeout === Infinity) timeout = null;
    if (timeout !== null && !(typeof timeout === "number" && timeout > 0)) {
      return Promise.reject(new RangeError(`timeout must be a positive number or null, not ${timeout}`));
    }
    if (this._state === "closed") return Promise.reject(this._closedError());
    const id = this._nextId++;
    const call = { id, resolve: null, reject: null, timer: null, entry: null };
    const promise = new Promise((resolve, reject) => {
      call.resolve = resolve;
      call.reject = reject;
    });
    if (this._codec === null) {
      // Only before cbor-x has loaded: encode once it has, then go the usual way.
      this._codecReady.then(() => this._dispatch(call, method, args, timeout)).catch(call.reject);
    } else {
      this._dispatch(call, method, args, timeout);
    }
    return promise;
  }

  _dispatch(call, method, args, timeout) {
    if (this._state === "closed") return call.reject(this._closedError());
    let frame;
    try {
      frame = this._codec.encode({ type: "call", id: call.id, method, args });
    } catch (error) {
      return call.reject(error);
    }
    if (this._sendable()) {
      this._inFlight.set(call.id, call);
      this._ws.send(frame);
    } else {
      if (this._offline.length >= this._maxBuffered) {
        return call.reject(new RpcError(CLIENT_CODES.UNAVAILABLE, `offline, and ${this._maxBuffered} calls and sends are already buffered`));
      }
      call.entry = { frame, call };
      this._offline.push(call.entry);
    }
    if (timeout !== null) call.timer = setTimeout(() => this._timeOut(call), timeout);
  }

  _timeOut(call) {
    call.timer = null;
    this._inFlight.delete(call.id);
    const index = call.entry ? this._offline.indexOf(call.entry) : -1;
    if (index >= 0) this._offline.splice(index, 1);
    call.reject(new RpcError(CLIENT_CODES.TIMEOUT, `no reply to call ${call.id} within the timeout`));
  }

  /**
   * Whether a frame can go out now. A socket that is closing (the server's close frame came,
   * its close event has not yet) would drop it: it is buffered for the next connection
   * instead, as while offline.
   */
  _sendable() {
    return this._state === "open" && this._ws.readyState === 1; // WebSocket.OPEN
  }

  _settle(call) {
    if (call.timer !== null) clearTimeout(call.timer);
    call.timer = null;
  }

  /**
   * Raw mode: sends a text (string) or binary (ArrayBuffer, Uint8Array) frame, or queues it
   * while offline.
   *
   * @throws {RoostError} closed, or offline with maxBuffered frames already queued (unavailable)
   */
  send(data) {
    if (this.encoding !== "raw") throw new TypeError("send() is for raw mode; use call()");
    if (typeof data !== "string" && !(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data)) {
      throw new TypeError("send() takes a string, an ArrayBuffer or a Uint8Array");
    }
    if (this._state === "closed") throw this._closedError();
    if (this._sendable()) return this._ws.send(data);
    if (this._offline.length >= this._maxBuffered) {
      throw new RoostError(CLIENT_CODES.UNAVAILABLE, `offline, and ${this._maxBuffered} frames are already buffered`, { retryable: true });
    }
    // Copy binary data: the caller may reuse its buffer before we reconnect.
    let frame = data;
    if (data instanceof ArrayBuffer) frame = data.slice(0);
    else if (ArrayBuffer.isView(data)) frame = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    this._offline.push({ frame, call: null });
  }

  /**
   * Adds a handler; returns a function that removes it. Types: "event" (name, data, seq),
   * "message" (data: string | Uint8Array, raw mode), "open" (), "close" ({code, reason,
   * willReconnect}), "error" (error: connection failures and protocol errors), "resync"
   * ({seq}: the events missed while reconnecting are gone; fetch the state again).
   */
  on(type, handler) {
    if (typeof handler !== "function") throw new TypeError("handler must be a function");
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(handler);
    return () => this.off(type, handler);
  }

  off(type, handler) {
    this._listeners.get(type)?.delete(handler);
  }

  _emit(type, ...args) {
    for (const handler of [...(this._listeners.get(type) ?? [])]) {
      try {
        handler(...args);
      } catch (error) {
        report(error);
      }
    }
  }

  /**
   * Events of the actor. With a handler: calls `handler(data, name)` for each event named
   * `name` (any name if null) and returns an unsubscribe function. Without: an async iterator
   * of `{name, data}` that holds at most `maxQueued` unread events (more is an error, not a
   * silent drop) and ends when the client closes.
   */
  events(name = null, handlerOrOptions = {}) {
    if (typeof handlerOrOptions === "function") {
      const handler = handlerOrOptions;
      return this.on("event", (eventName, data, seq) => {
        if (name === null || eventName === name) handler(data, eventName, seq);
      });
    }
    return eventIterator(this, name, handlerOrOptions.maxQueued ?? this._maxQueuedEvents);
  }

  /**
   * Closes the client for good: no more reconnecting; calls in flight and everything buffered
   * fail with code "closed". Resolves once the socket has closed.
   */
  close(code = 1000, reason = "") {
    if (this._state !== "closed") {
      this._shutdown(new RpcError(CLIENT_CODES.CLOSED, "the client was closed"), code, reason);
    }
    return this._closing ?? Promise.resolve();
  }

  // -- the connection ------------------------------------------------------------------------

  _transition(to) {
    if (!TRANSITIONS[this._state].includes(to)) {
      throw new Error(`roost client bug: illegal transition ${this._state} -> ${to}`);
    }
    this._state = to;
  }

  _closedError(closeCode) {
    return new RpcError(CLIENT_CODES.CLOSED, "the client is closed", { closeCode });
  }

  _open() {
    let ws;
    try {
      const protocols = this._codec ? [this._codec.subprotocol] : [];
      let url = this.url;
      if (this._codec && this._state === "reconnecting") {
        // Resume the event stream after the last event received (docs/protocol.md).
        url += `${url.includes("?") ? "&" : "?"}resume=${this._lastSeq ?? 0}`;
      }
      // The ws package's third argument; browsers' WebSocket takes no headers (refused above).
      ws = this._headers === null ? new this._WebSocket(url, protocols) : new this._WebSocket(url, protocols, { headers: this._headers });
    } catch (error) {
      this._emit("error", error);
      this._lost(1006, String(error?.message ?? error));
      return;
    }
    this._ws = ws;
    ws.binaryType = "arraybuffer";
    ws.onopen = () => ws === this._ws && this._opened();
    ws.onmessage = (event) => ws === this._ws && this._received(event.data);
    ws.onerror = (event) => ws === this._ws && this._emit("error", event?.error ?? new RoostError("connection", event?.message ?? "WebSocket error"));
    ws.onclose = (event) => {
      if (ws === this._ws) this._lost(event.code, event.reason);
      else if (this._state === "closed" && ws === this._lastSocket) this._resolveClosing?.();
    };
  }

  _opened() {
    if (this._codec && this._ws.protocol !== this._codec.subprotocol) {
      // The server speaks no envelopes here: it answered in raw mode. Retrying will not help.
      const error = new ProtocolError(1002, `the server did not accept ${this._codec.subprotocol}`);
      this._emit("error", error);
      this._shutdown(new RpcError(CLIENT_CODES.CLOSED, error.message, { closeCode: 1002 }), 1000, "no envelope subprotocol");
      return;
    }
    this._transition("open");
    this._attempt = 0;
    const queued = this._offline;
    this._offline = [];
    for (const { frame, call } of queued) {
      if (call) {
        call.entry = null;
        this._inFlight.set(call.id, call);
      }
      this._ws.send(frame);
    }
    this._ready.resolve();
    this._emit("open");
  }

  _received(data) {
    if (this._codec === null) {
      this._emit("message", typeof data === "string" ? data : new Uint8Array(data));
      return;
    }
    let envelope;
    try {
      envelope = this._codec.decode(data);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this._emit("error", error);
      this._dropSocket(error.closeCode, error.message);
      return;
    }
    if (envelope === null || typeof envelope !== "object" || Array.isArray(envelope)) {
      this._emit("error", new ProtocolError(1007, "an envelope that is not a map"));
      return;
    }
    switch (envelope.type) {
      case "result":
      case "error": {
        const call = this._inFlight.get(envelope.id);
        if (envelope.type === "error" && (envelope.id === null || envelope.id === undefined)) {
          this._emit("error", new RpcError(String(envelope.code), String(envelope.message)));
          return;
        }
        if (!call) return; // timed out already
        this._inFlight.delete(envelope.id);
        this._settle(call);
        if (envelope.type === "result") call.resolve(envelope.value ?? null);
        else call.reject(new RpcError(String(envelope.code), String(envelope.message)));
        return;
      }
      case "event": {
        const seq = Number.isSafeInteger(envelope.seq) && envelope.seq >= 0 ? envelope.seq : null;
        if (seq !== null && envelope.name === "resync") {
          this._lastSeq = seq;
          this._emit("resync", { seq });
          return;
        }
        if (seq !== null) {
          if (this._lastSeq !== null && seq <= this._lastSeq) return; // replayed, and seen before
          this._lastSeq = seq;
        }
        this._emit("event", String(envelope.name), envelope.data ?? null, seq);
        return;
      }
      default:
        return; // unknown types are ignored, for forward compatibility
    }
  }

  /** Closes the current socket from our side (a protocol violation); the close event follows. */
  _dropSocket(code, reason) {
    const ws = this._ws;
    try {
      ws.close(code, reason);
    } catch {
      ws.close(); // browsers allow only 1000 and 3000-4999 in close()
    }
  }

  /** The socket is gone (or never opened): fail what was in flight, then retry or stop. */
  _lost(code, reason) {
    this._ws = null;
    const fatal = FATAL_CLOSE_CODES.includes(code);
    const willReconnect = this._reconnect && !fatal;
    const why = `connection lost (close code ${code}${reason ? `: ${reason}` : ""})`;
    if (!willReconnect) {
      this._lastSocket = null;
      this._shutdown(new RpcError(CLIENT_CODES.CLOSED, why, { closeCode: code }), null, null, { code, reason });
      return;
    }
    this._failInFlight(new RpcError(CLIENT_CODES.UNAVAILABLE, why, { closeCode: code }));
    // The next URL, now while the round lasts; a new round (every URL once) after the backoff,
    // or at once the first time after 1001 or 1012.
    this._index = (this._index + 1) % this.urls.length;
    let delay = 0;
    // A failed attempt was reported as an "error"; "close" is for connections that opened.
    if (this._state === "open") {
      this._transition("reconnecting");
      this._emit("close", { code, reason, willReconnect: true });
      this._roundLeft = this.urls.length - 1;
      if (!this._skipsBackoff(code)) delay = this._backoffDelay();
    } else if (this._roundLeft > 0) {
      this._roundLeft -= 1;
    } else {
      this._roundLeft = this.urls.length - 1;
      delay = this._backoffDelay();
    }
    this._timer = setTimeout(() => {
      this._timer = null;
      this._open();
    }, delay);
  }

  /** The next round's jittered, growing delay, in ms. */
  _backoffDelay() {
    const ceiling = Math.min(this._backoff.max, this._backoff.initial * 2 ** this._attempt);
    this._attempt = Math.min(this._attempt + 1, 30);
    return ceiling / 2 + (Math.random() * ceiling) / 2; // "equal jitter"
  }

  /** Whether the reconnection after `code` starts at once (1001, 1012; once per backoff.max). */
  _skipsBackoff(code) {
    const time = now();
    if (!IMMEDIATE_CLOSE_CODES.includes(code)) return false;
    if (this._lastImmediate !== null && time - this._lastImmediate < this._backoff.max) return false;
    this._lastImmediate = time;
    return true;
  }

  _failInFlight(error) {
    const calls = [...this._inFlight.values()];
    this._inFlight.clear();
    for (const call of calls) {
      this._settle(call);
      call.reject(error);
    }
  }

  /**
   * Stops for good: cancels the timer, fails everything with `error`, closes the socket with
   * `code` if one is open (null: it is closed already, with `closed`).
   */
  _shutdown(error, code = 1000, reason = "", closed = null) {
    if (this._state === "closed") return;
    this._transition("closed");
    if (this._timer !== null) clearTimeout(this._timer);
    this._timer = null;
    this._failInFlight(error);
    const offline = this._offline;
    this._offline = [];
    for (const { call } of offline) {
      if (call) {
        this._settle(call);
        call.reject(error);
      }
    }
    this._ready.reject(error);
    const ws = this._ws;
    this._ws = null;
    if (ws && code !== null) {
      this._lastSocket = ws;
      this._closing = new Promise((resolve) => {
        this._resolveClosing = resolve;
      });
      try {
        ws.close(code, reason);
      } catch {
        ws.close();
      }
    }
    this._emit("close", { code: closed?.code ?? code ?? 1000, reason: closed?.reason ?? reason ?? "", willReconnect: false });
  }
}

/**
 * Connects to an actor; the client starts connecting at once (await `client.ready`).
 *
 * @param {string | string[]} url the actor's URL, or its URLs on several nodes (tried in turn)
 * @param {import("../index.d.ts").ConnectOptions} [options]
 */
export function connect(url, options) {
  return new RoostClient(url, options);
}
