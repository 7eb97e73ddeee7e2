/**
 * The envelope codecs of roost.v1.json and roost.v1.cbor (docs/protocol.md), without I/O.
 *
 * Outbound values are checked against roost's data model and limits before they are encoded,
 * so a bad argument fails its own call with a TypeError or RangeError instead of making the
 * server close the connection. Inbound CBOR is scanned (types, tags, lengths, depth, UTF-8,
 * duplicate keys, trailing bytes) before cbor-x decodes any of it; inbound JSON is parsed,
 * then walked for the same limits.
 */

import { ProtocolError } from "./errors.js";

/** Each side's limits; the defaults are roost's (protocol.md, "Limits"). */
export const DEFAULT_LIMITS = Object.freeze({
  maxSize: 1 << 20, // bytes in one envelope
  maxDepth: 32, // nesting of arrays and maps; the envelope map is level 1
  maxItems: 10_000, // elements of one array, or entries of one map
  maxTotalItems: 100_000, // elements and entries of one whole envelope
});

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);
const TWO_32 = 2 ** 32;

/**
 * @param {Partial<typeof DEFAULT_LIMITS>} [limits]
 * @returns {Readonly<typeof DEFAULT_LIMITS>}
 */
export function resolveLimits(limits = {}) {
  const merged = { ...DEFAULT_LIMITS, ...limits };
  for (const [name, value] of Object.entries(merged)) {
    if (!(name in DEFAULT_LIMITS)) throw new TypeError(`unknown limit ${name}`);
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`limit ${name} must be a positive integer, not ${value}`);
    }
  }
  return Object.freeze(merged);
}

function isWellFormed(text) {
  if (typeof text.isWellFormed === "function") return text.isWellFormed();
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);
}

function isPlainObject(value) {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * A copy of `value` that is inside roost's data model, ready for the encoder.
 *
 * As JSON.stringify does, `undefined` drops an object's key and is null in an array. CBOR
 * copies get integers beyond 32 bits as BigInt (cbor-x would write them as floats) and bytes
 * as plain Uint8Array (cbor-x would tag a Buffer).
 *
 * @param {unknown} value
 * @param {{cbor: boolean, limits: typeof DEFAULT_LIMITS}} options
 * @throws {TypeError} a value outside the data model (Date, Map, NaN, a lone surrogate, ...)
 * @throws {RangeError} over maxDepth, maxItems or maxTotalItems
 */
export function prepare(value, { cbor, limits }) {
  let total = 0;
  const count = (n) => {
    if (n > limits.maxItems) throw new RangeError(`${n} items in one container, over ${limits.maxItems}`);
    total += n;
    if (total > limits.maxTotalItems) {
      throw new RangeError(`over ${limits.maxTotalItems} items in one envelope`);
    }
  };
  const walk = (v, depth) => {
    switch (typeof v) {
      case "string":
        if (!isWellFormed(v)) throw new TypeError("text with a lone surrogate is not valid UTF-8");
        return v;
      case "boolean":
        return v;
      case "number":
        if (!Number.isFinite(v)) throw new TypeError(`${v} is not a finite number`);
        if (cbor && Number.isInteger(v) && (v >= TWO_32 || v < -TWO_32)) {
          const big = BigInt(v);
          if (big >= INT64_MIN && big <= INT64_MAX) return big; // else cbor-x writes a float64
        }
        return v;
      case "bigint":
        if (v < INT64_MIN || v > INT64_MAX) throw new TypeError(`${v} is outside 64-bit integers`);
        if (cbor) return v;
        if (v < -SAFE_MAX || v > SAFE_MAX) {
          throw new TypeError(`${v} is beyond 2**53: use the CBOR encoding for such integers`);
        }
        return Number(v);
      case "undefined":
        return null;
      case "object":
        break;
      default:
        throw new TypeError(`a ${typeof v} is not a roost value`);
    }
    if (v === null) return null;
    if (v instanceof Uint8Array || v instanceof ArrayBuffer) {
      if (!cbor) throw new TypeError("bytes can only be sent with the CBOR encoding");
      return v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    }
    if (depth >= limits.maxDepth) throw new RangeError(`nesting deeper than ${limits.maxDepth}`);
    if (Array.isArray(v)) {
      count(v.length);
      return v.map((item) => walk(item, depth + 1));
    }
    if (!isPlainObject(v)) {
      const kind = v.constructor?.name ?? "object";
      throw new TypeError(`a ${kind} is not a roost value (only plain objects, arrays, bytes)`);
    }
    const out = {};
    let entries = 0;
    for (const key of Object.keys(v)) {
      if (v[key] === undefined) continue;
      if (!isWellFormed(key)) throw new TypeError("a key with a lone surrogate is not valid UTF-8");
      entries += 1;
      out[key] = walk(v[key], depth + 1);
    }
    count(entries);
    return out;
  };
  return walk(value, 0);
}

// -- JSON ------------------------------------------------------------------------------------

/** Walks parsed JSON for what JSON.parse lets through: limits, infinities, lone surrogates. */
function checkParsed(value, limits) {
  let total = 0;
  const walk = (v, depth) => {
    if (typeof v === "number") {
      if (!Number.isFinite(v)) throw new ProtocolError(1007, "a number out of range");
      return;
    }
    if (typeof v === "string") {
      if (!isWellFormed(v)) throw new ProtocolError(1007, "text with a lone surrogate");
      return;
    }
    if (v === null || typeof v !== "object") return;
    if (depth >= limits.maxDepth) throw new ProtocolError(1009, "nesting too deep");
    const items = Array.isArray(v) ? v : Object.values(v);
    if (!Array.isArray(v)) {
      for (const key of Object.keys(v)) walk(key, depth);
    }
    if (items.length > limits.maxItems) throw new ProtocolError(1009, "a container too long");
    total += items.length;
    if (total > limits.maxTotalItems) throw new ProtocolError(1009, "too many items");
    for (const item of items) walk(item, depth + 1);
  };
  walk(value, 0);
}

function utf8Length(text) {
  return new TextEncoder().encode(text).length;
}

/** @param {typeof DEFAULT_LIMITS} limits */
export function jsonCodec(limits) {
  return {
    subprotocol: "roost.v1.json",
    encode(envelope) {
      const text = JSON.stringify(prepare(envelope, { cbor: false, limits }));
      if (text.length * 3 > limits.maxSize && utf8Length(text) > limits.maxSize) {
        throw new RangeError(`an envelope of over ${limits.maxSize} bytes`);
      }
      return text;
    },
    decode(data) {
      if (typeof data !== "string") throw new ProtocolError(1003, "a binary frame in roost.v1.json");
      if (data.length > limits.maxSize || (data.length * 3 > limits.maxSize && utf8Length(data) > limits.maxSize)) {
        throw new ProtocolError(1009, "an envelope over maxSize");
      }
      let value;
      try {
        value = JSON.parse(data);
      } catch {
        throw new ProtocolError(1007, "not valid JSON");
      }
      checkParsed(value, limits);
      return value;
    },
  };
}

// -- CBOR ------------------------------------------------------------------------------------

const ENCODER_OPTIONS = Object.freeze({
  useRecords: false, // no record extension (tag 105)
  mapsAsObjects: true,
  variableMapSize: true, // shortest map headers
  bundleStrings: false, // no string bundles (tags)
  tagUint8Array: false, // bytes as major type 2, never tag 64
  useTag259ForMaps: false,
  structuredClone: false, // no shared references (tag 28/29)
  pack: false,
  useFloat32: 0, // floats as float64, as roost writes them
  largeBigIntToFloat: false,
});

const DECODER_OPTIONS = Object.freeze({
  useRecords: false,
  mapsAsObjects: true,
  copyBuffers: true, // bytes do not pin the whole frame
});

/**
 * Checks that `bytes` is one CBOR data item inside roost's data model and limits, before any
 * of it is decoded. Returns whether it holds 8-byte integers (decoded as BigInt by cbor-x).
 *
 * @param {Uint8Array} bytes
 * @param {typeof DEFAULT_LIMITS} limits
 * @throws {ProtocolError} 1009 over a limit, 1007 anything else outside the model
 */
export function scanCbor(bytes, limits) {
  if (bytes.length > limits.maxSize) throw new ProtocolError(1009, "an envelope over maxSize");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const bad = (why) => new ProtocolError(1007, why);
  let pos = 0;
  let total = 0;
  let wide = false;

  const need = (n) => {
    if (bytes.length - pos < n) throw bad("truncated CBOR");
  };
  const argument = (info) => {
    if (info < 24) return info;
    let arg;
    if (info === 24) (need(1), (arg = bytes[pos]), (pos += 1));
    else if (info === 25) (need(2), (arg = view.getUint16(pos)), (pos += 2));
    else if (info === 26) (need(4), (arg = view.getUint32(pos)), (pos += 4));
    else if (info === 27) {
      need(8);
      const big = view.getBigUint64(pos);
      pos += 8;
      wide = true;
      arg = big <= SAFE_MAX ? Number(big) : big;
    } else throw bad(info === 31 ? "an indefinite length" : "a reserved additional information");
    return arg;
  };
  const container = (length, depth) => {
    if (depth > limits.maxDepth) throw new ProtocolError(1009, "nesting too deep");
    if (length > limits.maxItems) throw new ProtocolError(1009, "a container too long");
    total += Number(length);
    if (total > limits.maxTotalItems) throw new ProtocolError(1009, "too many items");
  };
  const text = (length) => {
    if (length > bytes.length - pos) throw bad("truncated CBOR");
    let value;
    try {
      value = utf8.decode(bytes.subarray(pos, pos + length));
    } catch {
      throw bad("invalid UTF-8");
    }
    pos += length;
    return value;
  };
  const item = (depth) => {
    need(1);
    const initial = bytes[pos++];
    const major = initial >> 5;
    const info = initial & 31;
    if (major === 6) throw bad("a CBOR tag");
    if (major === 7) {
      if (info >= 20 && info <= 22) return; // false, true, null
      if (info === 25) {
        need(2);
        const half = view.getUint16(pos);
        pos += 2;
        if ((half & 0x7c00) === 0x7c00) throw bad("a non-finite float");
        return;
      }
      if (info === 26 || info === 27) {
        const size = info === 26 ? 4 : 8;
        need(size);
        const float = size === 4 ? view.getFloat32(pos) : view.getFloat64(pos);
        pos += size;
        if (!Number.isFinite(float)) throw bad("a non-finite float");
        return;
      }
      throw bad(info === 31 ? "an indefinite length" : "a simple value outside the model");
    }
    const arg = argument(info);
    switch (major) {
      case 0:
      case 1:
        if (typeof arg === "bigint" && arg > INT64_MAX) throw bad("an integer outside 64 bits");
        return;
      case 2:
        if (arg > bytes.length - pos) throw bad("truncated CBOR");
        pos += Number(arg);
        return;
      case 3:
        text(Number(arg));
        return;
      case 4:
        container(arg, depth + 1);
        for (let i = 0; i < arg; i++) item(depth + 1);
        return;
      case 5: {
        container(arg, depth + 1);
        const keys = new Set();
        for (let i = 0; i < arg; i++) {
          need(1);
          const keyInitial = bytes[pos++];
          if (keyInitial >> 5 !== 3) throw bad("a map key that is not text");
          const key = text(Number(argument(keyInitial & 31)));
          if (keys.has(key)) throw bad("a duplicate map key");
          keys.add(key);
          item(depth + 1);
        }
        return;
      }
    }
  };
  item(0);
  if (pos !== bytes.length) throw bad("trailing bytes after the CBOR item");
  return wide;
}

/** cbor-x gives every 8-byte integer as a BigInt; those within 2**53 become numbers again. */
function narrowIntegers(value) {
  if (typeof value === "bigint") {
    return value >= -SAFE_MAX && value <= SAFE_MAX ? Number(value) : value;
  }
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = narrowIntegers(value[i]);
  } else {
    for (const key of Object.keys(value)) value[key] = narrowIntegers(value[key]);
  }
  return value;
}

let cborModule;

/** Loads cbor-x on first use, so JSON and raw clients need not have it. */
function loadCbor() {
  cborModule ??= import("cbor-x");
  return cborModule;
}

/**
 * @param {typeof DEFAULT_LIMITS} limits
 */
export async function cborCodec(limits) {
  const { Encoder, Decoder } = await loadCbor();
  const encoder = new Encoder(ENCODER_OPTIONS);
  const decoder = new Decoder(DECODER_OPTIONS);
  return {
    subprotocol: "roost.v1.cbor",
    encode(envelope) {
      // cbor-x reuses its output buffer: copy, since frames may wait in the offline queue.
      const bytes = new Uint8Array(encoder.encode(prepare(envelope, { cbor: true, limits })));
      if (bytes.length > limits.maxSize) throw new RangeError(`an envelope of over ${limits.maxSize} bytes`);
      return bytes;
    },
    decode(data) {
      if (typeof data === "string") throw new ProtocolError(1003, "a text frame in roost.v1.cbor");
      const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
      const wide = scanCbor(bytes, limits);
      const value = decoder.decode(bytes);
      return wide ? narrowIntegers(value) : value;
    },
  };
}

/**
 * The codec of an encoding, or null for raw mode.
 *
 * @param {"json" | "cbor" | "raw"} encoding
 * @param {typeof DEFAULT_LIMITS} limits
 */
export async function codecFor(encoding, limits) {
  if (encoding === "json") return jsonCodec(limits);
  if (encoding === "cbor") return cborCodec(limits);
  if (encoding === "raw") return null;
  throw new TypeError(`encoding must be "json", "cbor" or "raw", not ${JSON.stringify(encoding)}`);
}
