// Types of roost-client (src/roost.js). Values follow roost's data model (docs/protocol.md).

/** A value of roost's data model. Uint8Array (bytes) and bigint (64-bit integers) need CBOR. */
export type Value =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | Value[]
  | { [key: string]: Value | undefined };

export type Encoding = "json" | "cbor" | "raw";

/** "connecting" until the first open (retried), then "open" and "reconnecting", and "closed". */
export type State = "connecting" | "open" | "reconnecting" | "closed";

/** Each side's limits on one envelope; the defaults are roost's. */
export interface Limits {
  /** Bytes in one envelope. Default 1 MiB. */
  maxSize: number;
  /** Nesting of arrays and maps; the envelope map is level 1. Default 32. */
  maxDepth: number;
  /** Elements of one array, or entries of one map. Default 10,000. */
  maxItems: number;
  /** Elements and entries of one whole envelope. Default 100,000. */
  maxTotalItems: number;
}

export const DEFAULT_LIMITS: Readonly<Limits>;

/** Close codes after which the client does not reconnect: 1003, 1007, 1008, 1009. */
export const FATAL_CLOSE_CODES: readonly number[];

/** The constructor of a WebSocket: the browser's, or the `ws` package's under Node. */
export interface WebSocketClass {
  /** `options.headers` is passed only when ConnectOptions.headers is set (the ws package's form). */
  new (url: string, protocols?: string | string[], options?: { headers: Record<string, string> }): any;
}

export interface ConnectOptions {
  /** "json" (roost.v1.json, the default), "cbor" (roost.v1.cbor, loads cbor-x), or "raw". */
  encoding?: Encoding;
  /** Reconnect after a lost connection. Default true. */
  reconnect?: boolean;
  /** Jittered exponential backoff between attempts, in ms. Default {initial: 250, max: 10000}. */
  backoff?: { initial?: number; max?: number };
  /** ms before a call without a reply fails with code "timeout" (retryable); null: never. Default 30000. */
  callTimeout?: number | null;
  /** Calls and sends kept while offline; more fail at once with "unavailable". Default 100. */
  maxBuffered?: number;
  /** Unread events an events() iterator holds before it fails with "overflow". Default 1000. */
  maxQueuedEvents?: number;
  /** Limits on envelopes in both directions. */
  limits?: Partial<Limits>;
  /**
   * The WebSocket class. Default: globalThis.WebSocket; under Node without one (Node 20), or
   * with `headers`, the `ws` package (a dependency of this one).
   */
  WebSocket?: WebSocketClass;
  /**
   * Node only: extra headers of every upgrade request, e.g. `{ Authorization: "Bearer ..." }`.
   * Browsers cannot set WebSocket headers (connect() throws a TypeError there): send a token
   * in the query with actorUrl's `params`, or rely on a cookie.
   */
  headers?: Record<string, string> | Iterable<[string, string]>;
}

export interface ActorUrlOptions {
  /** Query parameters, e.g. `{ user: "ann", token }`; percent-encoded. */
  params?: Record<string, string> | Iterable<[string, string]>;
}

/**
 * The URL of one actor, `<baseUrl>/<type>/<key>?<params>`, with the key percent-encoded so
 * that it reaches exactly that key (`a/b`, `é ?#`, `%2F` included). The key must be non-empty,
 * without control characters, and not "." or "..". Throws TypeError (a bad base URL or a
 * value that is not a string) or RangeError (a key or type the server would refuse).
 */
export function actorUrl(baseUrl: string, actorType: string, key: string, options?: ActorUrlOptions): string;

export interface CallOptions {
  /** Overrides callTimeout for this call, in ms; null: no timeout. */
  timeout?: number | null;
}

export interface CloseInfo {
  code: number;
  reason: string;
  /** false once the client has stopped for good. */
  willReconnect: boolean;
}

export interface RoostEvent<T = Value> {
  name: string;
  data: T;
}

export interface EventListeners {
  /** An event of the actor (envelope mode); `seq` is its place in the actor's stream. */
  event: (name: string, data: Value, seq: number | null) => void;
  /**
   * After a reconnection: the events emitted meanwhile are gone (the server no longer has
   * them); fetch the state again. Events after it are the new ones.
   */
  resync: (info: { seq: number }) => void;
  /** A frame (raw mode): text as a string, binary as a Uint8Array. */
  message: (data: string | Uint8Array) => void;
  open: () => void;
  close: (info: CloseInfo) => void;
  /** A failed connection attempt, a protocol error, or an error reply without an id. */
  error: (error: unknown) => void;
}

/**
 * The root of the client's errors. `code` is the server's error code (bad_request,
 * not_found, internal, unavailable, too_large, or one it does not know yet) or the client's
 * own: "unavailable" (connection lost or down), "timeout", "closed", "overflow", "protocol".
 */
export class RoostError extends Error {
  constructor(code: string, message: string, extra?: { retryable?: boolean; closeCode?: number });
  readonly code: string;
  /** Whether retrying may succeed: true for "unavailable" and "timeout". */
  readonly retryable: boolean;
  /** The WebSocket close code, when the error comes from a closed connection. */
  readonly closeCode?: number;
}

/** A call failed: the server's error reply, or the client gave up on it. */
export class RpcError extends RoostError {
  constructor(code: string, message: string, extra?: { closeCode?: number });
}

/** A frame from the server broke the protocol (closeCode 1003, 1007 or 1009), or the server refused the subprotocol (1002). */
export class ProtocolError extends RoostError {
  constructor(closeCode: number, message: string);
  readonly closeCode: number;
}

export class RoostClient {
  /** `url`: the actor's URL, or its URLs on several nodes, tried in turn (TypeError if empty). */
  constructor(url: string | string[], options?: ConnectOptions);
  /**
   * The URL connected to, or being tried; the full URL, query included: show it with care
   * (util.inspect and toString() redact it).
   */
  readonly url: string;
  /** Every URL given, in order. */
  readonly urls: readonly string[];
  readonly encoding: Encoding;
  /** Resolves on the first open; rejects if the client closes before it ever opened. */
  readonly ready: Promise<void>;
  readonly state: State;
  /** Calls and sends queued while offline. */
  readonly buffered: number;
  /** The seq of the last event received (null: none yet); a reconnection resumes after it. */
  readonly lastSeq: number | null;

  /**
   * Calls an rpc method of the actor. Rejects with RpcError (the server's error, or
   * "unavailable" / "timeout" / "closed"), TypeError for values outside the data model and
   * RangeError for values over the limits.
   */
  call<T = Value>(method: string, args?: Record<string, Value | undefined>, options?: CallOptions): Promise<T>;

  /** Raw mode: sends a text or binary frame, or buffers it while offline. */
  send(data: string | ArrayBuffer | ArrayBufferView): void;

  /** Adds a handler; returns a function that removes it. */
  on<K extends keyof EventListeners>(type: K, handler: EventListeners[K]): () => void;
  off<K extends keyof EventListeners>(type: K, handler: EventListeners[K]): void;

  /** Calls handler(data, name) for each event named `name` (any if null); returns an unsubscribe. */
  events<T = Value>(name: string | null, handler: (data: T, name: string, seq: number | null) => void): () => void;
  /** The events named `name` (any if null or omitted) as an async iterator, ending at close. */
  events<T = Value>(name?: string | null, options?: { maxQueued?: number }): AsyncIterableIterator<RoostEvent<T>>;

  /** Stops for good; pending and buffered calls fail with "closed". Resolves once closed. */
  close(code?: number, reason?: string): Promise<void>;
}

/** Connects to an actor: `connect(actorUrl("ws://host", "chat", "lobby", { params: { user: "ada" } }), { encoding: "cbor" })`. */
export function connect(url: string | string[], options?: ConnectOptions): RoostClient;
