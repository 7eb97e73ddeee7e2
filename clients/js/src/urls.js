/**
 * Actor URLs, the extra headers of an upgrade request (Node only), and URLs safe to show.
 *
 * A key is data, not part of a path: `a/b`, `é ?#` or `%2F` pasted into a URL would name another
 * key (or start a query or a fragment), so actorUrl() percent-encodes it. The server
 * percent-decodes the key segment on its own, so the actor sees exactly the key given here.
 * Credentials travel in headers (Node) or in the query (browsers cannot set WebSocket headers),
 * so a URL is shown only through redactUrl(), without its query and user info.
 */

/** C0 controls, DEL and C1 controls: the server refuses keys holding one (HTTP 400). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** An HTTP header name (RFC 9110 token). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Headers the WebSocket handshake sets itself; a caller may not replace them. */
const RESERVED_HEADERS = new Set([
  "host",
  "upgrade",
  "connection",
  "content-length",
  "transfer-encoding",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-protocol",
  "sec-websocket-extensions",
]);

/** `items` (an object, a Map, URLSearchParams or [name, value] pairs) as checked string pairs. */
function pairs(what, items) {
  if (items === undefined || items === null) return [];
  const list = typeof items[Symbol.iterator] === "function" ? [...items] : Object.entries(items);
  for (const pair of list) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" || typeof pair[1] !== "string") {
      throw new TypeError(`${what} must be string names and string values`);
    }
  }
  return list;
}

function segment(what, text) {
  if (typeof text !== "string") throw new TypeError(`${what} must be a string, not ${typeof text}`);
  if (text === "") throw new RangeError(`${what} must not be empty`);
  if (CONTROL.test(text)) throw new RangeError(`${what} holds a control character, which the server refuses`);
  // URL parsers (WHATWG: browsers, Node, ws) remove "." and ".." segments, even as %2E.
  if (text === "." || text === "..") throw new RangeError(`${what} cannot be "${text}": URL parsers remove that path segment`);
  try {
    return encodeURIComponent(text);
  } catch {
    throw new RangeError(`${what} is not valid Unicode (a lone surrogate)`);
  }
}

/**
 * The WebSocket URL of one actor: `<baseUrl>/<type>/<key>?<params>`, percent-encoded.
 *
 * @param {string} baseUrl `ws://host:port` or `wss://...` (http: and https: become ws: and
 *   wss:), optionally with a path prefix; in a browser it may be relative to the page.
 * @param {string} actorType the type's name, as registered with `app.actor`
 * @param {string} key any non-empty string without control characters, except "." and ".."
 *   (URL parsers drop those path segments)
 * @param {{params?: Record<string, string> | Iterable<[string, string]>}} [options] query
 *   parameters, e.g. `{user: "ann", token}`: a token in the query is how a browser sends
 *   credentials (it cannot set WebSocket headers)
 * @returns {string}
 */
export function actorUrl(baseUrl, actorType, key, { params } = {}) {
  if (typeof baseUrl !== "string") throw new TypeError("baseUrl must be a string");
  let url;
  try {
    url = new URL(baseUrl, globalThis.location?.href);
  } catch {
    throw new TypeError(`baseUrl is not a URL: ${redactUrl(baseUrl)}`);
  }
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  if ((url.protocol !== "ws:" && url.protocol !== "wss:") || !url.host) {
    throw new TypeError(`baseUrl must be a ws:, wss:, http: or https: URL, not ${redactUrl(baseUrl)}`);
  }
  if (url.search || url.hash || /[?#]$/.test(baseUrl)) throw new TypeError("baseUrl takes no query or fragment: pass params");
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/${segment("actorType", actorType)}/${segment("key", key)}`;
  const query = pairs("params", params).map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`);
  return `${url.href}${query.length ? `?${query.join("&")}` : ""}`;
}

/**
 * Extra upgrade-request headers, checked: an object of name -> value, or null for none.
 *
 * @throws {TypeError} a name is not an HTTP token, or is one the handshake sets itself, or a
 *   value is not a string or holds CR, LF or NUL
 */
export function checkHeaders(headers) {
  const list = pairs("headers", headers);
  if (list.length === 0) return null;
  const checked = {};
  for (const [name, value] of list) {
    if (!TOKEN.test(name)) throw new TypeError(`header name ${JSON.stringify(name)} is not an HTTP token`);
    if (RESERVED_HEADERS.has(name.toLowerCase())) throw new TypeError(`the ${name} header belongs to the WebSocket handshake`);
    if (/[\r\n\0]/.test(value)) throw new TypeError(`the value of header ${name} holds CR, LF or NUL`);
    checked[name] = value;
  }
  return checked;
}

/** `url` without its query and user info, to show in messages and logs. */
export function redactUrl(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return "<an invalid URL>";
  }
  parsed.username = "";
  parsed.password = "";
  parsed.hash = "";
  const query = parsed.search ? "?<redacted>" : "";
  parsed.search = "";
  return parsed.href + query;
}
