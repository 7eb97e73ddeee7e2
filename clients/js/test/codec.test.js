// The codecs against docs/protocol.md, byte for byte, without a server.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";

import { cborCodec, DEFAULT_LIMITS, jsonCodec } from "../src/codec.js";
import { ProtocolError } from "../src/errors.js";
import { ROOT } from "./support.js";

const DOC = readFileSync(join(ROOT, "docs", "protocol.md"), "utf8");
const hex = (bytes) => Buffer.from(bytes).toString("hex");
const unhex = (text) => new Uint8Array(Buffer.from(text, "hex"));

/** Each "### Example:" of protocol.md: its JSON text (if any) and its CBOR hex. */
function examples() {
  return DOC.split("### Example: ").slice(1).map((section) => {
    const title = section.split("\n", 1)[0];
    const json = /```json\n(.*?)\n```/s.exec(section)?.[1] ?? null;
    const cbor = /```cbor\n(.*?)\n```/s.exec(section)[1]
      .split("\n")
      .map((line) => line.split("#", 1)[0].replace(/\s+/g, ""))
      .join("");
    return { title, json, cbor };
  });
}

/** The refusals block: [encoding, message, outcome]. */
function refusals() {
  const block = /```refusals\n(.*?)\n```/s.exec(DOC)[1];
  return block.split("\n").map((line) => {
    const [, encoding, message, outcome] = /^(\w+)\s+(.*?)\s+-> (.*)$/.exec(line);
    return { encoding, message, outcome };
  });
}

describe("protocol.md examples", { timeout: 10_000 }, async () => {
  const cbor = await cborCodec(DEFAULT_LIMITS);
  const json = jsonCodec(DEFAULT_LIMITS);
  const found = examples();

  test("the doc has the examples", () => {
    assert.ok(found.length >= 7, `only ${found.length} examples found`);
  });

  for (const { title, json: text, cbor: bytes } of found) {
    test(`example ${title}: encodes and decodes byte for byte`, () => {
      if (text === null) {
        // bytes, CBOR only
        const value = cbor.decode(unhex(bytes));
        assert.deepEqual(value, { type: "result", id: 10, value: new Uint8Array([0, 255]) });
        assert.equal(hex(cbor.encode(value)), bytes);
        assert.throws(() => json.encode(value), TypeError);
        return;
      }
      const value = JSON.parse(text);
      assert.equal(json.encode(value), text);
      assert.deepEqual(json.decode(text), value);
      assert.equal(hex(cbor.encode(value)), bytes);
      assert.deepEqual(cbor.decode(unhex(bytes)), value);
    });
  }
});

describe("protocol.md refusals", { timeout: 10_000 }, async () => {
  const cbor = await cborCodec(DEFAULT_LIMITS);
  const json = jsonCodec(DEFAULT_LIMITS);
  // What JSON.parse cannot see; the server refuses these, the client reads them leniently.
  const JSON_GAPS = new Set([
    '{"type":"call","id":7,"id":8,"method":"say"}', // duplicate key: JSON.parse keeps the last
    '{"type":"call","id":7,"method":"say","args":{"n":9223372036854775808}}', // read as a float
  ]);

  for (const { encoding, message, outcome } of refusals()) {
    const close = /^close (\d+)$/.exec(outcome);
    if (!close) continue; // bad_request replies are about envelopes the server receives
    const code = Number(close[1]);
    test(`${encoding} ${message} -> ${outcome}`, () => {
      const decode = () => (encoding === "cbor" ? cbor.decode(unhex(message)) : json.decode(message));
      if (encoding === "json" && JSON_GAPS.has(message)) {
        assert.doesNotThrow(decode);
        return;
      }
      assert.throws(decode, (error) => error instanceof ProtocolError && error.closeCode === code);
    });
  }
});

describe("values", { timeout: 10_000 }, async () => {
  const cbor = await cborCodec(DEFAULT_LIMITS);
  const json = jsonCodec(DEFAULT_LIMITS);

  test("integers beyond 32 bits stay integers in CBOR", () => {
    for (const n of [2 ** 32, -(2 ** 32) - 1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER]) {
      const bytes = cbor.encode({ n });
      assert.ok([0x1b, 0x3b].includes(bytes[3]), `${n} written as ${hex(bytes)}`);
      assert.deepEqual(cbor.decode(bytes), { n });
    }
    assert.deepEqual(cbor.decode(cbor.encode({ n: 2n ** 63n - 1n })), { n: 2n ** 63n - 1n });
    assert.equal(hex(cbor.encode(-(2 ** 32))), "3affffffff");
  });

  test("values outside the data model are refused before sending", () => {
    for (const bad of [new Date(), new Map(), new Set(), NaN, Infinity, "\ud800", () => 1, Symbol("s"), 2n ** 64n, new (class X {})()]) {
      assert.throws(() => cbor.encode({ args: { bad } }), TypeError, String(bad?.toString?.()));
      assert.throws(() => json.encode({ args: { bad } }), TypeError);
    }
    assert.throws(() => json.encode({ b: new Uint8Array(1) }), /CBOR/);
    assert.throws(() => json.encode({ n: 2n ** 60n }), /CBOR/);
  });

  test("undefined is dropped from maps and null in arrays, as in JSON", () => {
    const value = { a: undefined, b: [undefined, 1] };
    assert.equal(json.encode(value), JSON.stringify(value));
    assert.deepEqual(cbor.decode(cbor.encode(value)), { b: [null, 1] });
  });

  test("limits apply to what is sent", () => {
    let deep = [];
    for (let i = 0; i < 40; i++) deep = [deep];
    assert.throws(() => cbor.encode({ args: { deep } }), RangeError);
    assert.throws(() => json.encode({ args: { long: new Array(10_001).fill(0) } }), RangeError);
    assert.throws(() => json.encode({ args: { big: "x".repeat(DEFAULT_LIMITS.maxSize) } }), RangeError);
    const cyclic = {};
    cyclic.self = cyclic;
    assert.throws(() => cbor.encode(cyclic), RangeError);
  });

  test("a frame of the wrong kind is 1003", () => {
    assert.throws(() => cbor.decode("{}"), (e) => e.closeCode === 1003);
    assert.throws(() => json.decode(new ArrayBuffer(2)), (e) => e.closeCode === 1003);
  });

  test("float16 and float32 are read", () => {
    assert.equal(cbor.decode(unhex("f93c00")), 1);
    assert.equal(cbor.decode(unhex("fa3fc00000")), 1.5);
    assert.throws(() => cbor.decode(unhex("f97c00")), (e) => e.closeCode === 1007);
  });
});
