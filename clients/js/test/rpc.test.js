// Calls, error replies and events against a real `roost serve examples/chat.py`.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import WebSocket from "ws";

import { connect, once, roost, startServer, stopAll, until, within } from "./support.js";

const { RpcError, connect: roostConnect } = roost;

const T = { timeout: 20_000 };
let server;
let room = 0;
const clients = [];

/** A client of a fresh room, closed after the suite. */
function client(encoding, user, options = {}) {
  const c = connect(server.url(`/chat/room${room}?user=${user}`), { encoding, ...options });
  clients.push(c);
  return c;
}

before(async () => {
  server = await startServer("chat.py");
});

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await stopAll();
});

for (const encoding of ["json", "cbor"]) {
  describe(`envelopes in ${encoding}`, () => {
    test("say, history and who", T, async () => {
      room += 1;
      const ann = client(encoding, "ann");
      await within(ann.ready, 5000, "ready");
      assert.equal(ann.state, "open");
      const first = await ann.call("say", { text: "hello ✓" });
      const second = await ann.call("say", { text: "again" });
      assert.ok(Number.isInteger(first) && second > first);
      const history = await ann.call("history", { limit: 10 });
      assert.deepEqual(history.map((m) => [m.id, m.user, m.text]), [[first, "ann", "hello ✓"], [second, "ann", "again"]]);
      assert.deepEqual(await ann.call("history", { limit: 1 }).then((h) => h.map((m) => m.id)), [second]);
      const bob = client(encoding, "bob");
      await bob.ready;
      assert.deepEqual(await ann.call("who"), ["ann", "bob"]);
    });

    test("pipelined calls are matched by id", T, async () => {
      room += 1;
      const ann = client(encoding, "ann");
      const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => ann.call("say", { text: `m${i}` })));
      assert.equal(new Set(ids).size, 20);
      const history = await ann.call("history", { limit: 20 });
      assert.deepEqual(history.map((m) => m.text), ids.map((_, i) => `m${i}`));
    });

    test("error replies reject with RpcError", T, async () => {
      room += 1;
      const ann = client(encoding, "ann");
      await assert.rejects(ann.call("fly"), (error) => {
        assert.ok(error instanceof RpcError);
        assert.equal(error.code, "not_found");
        assert.equal(error.retryable, false);
        assert.match(error.message, /fly/);
        return true;
      });
      await assert.rejects(ann.call("history", { limit: 999 }), { name: "RpcError", code: "bad_request" });
      await assert.rejects(ann.call("say", { text: "" }), { code: "bad_request" });
      await assert.rejects(ann.call("say", { wrong: 1 }), { code: "bad_request" });
      await assert.rejects(ann.call("say", { text: new Date() }), TypeError); // refused before sending
      assert.equal(await ann.call("say", { text: "still open" }) > 0, true);
    });

    test("the message event reaches another client", T, async () => {
      room += 1;
      const ann = client(encoding, "ann");
      const bob = client(encoding, "bob");
      await Promise.all([ann.ready, bob.ready]);
      const seen = [];
      // Chat tracks presence: joins arrive as presence_diff events beside the messages.
      bob.on("event", (name, data) => name.startsWith("presence_") || seen.push([name, data.text]));
      const messages = [];
      const stop = bob.events("message", (data) => messages.push(data));
      const iterator = bob.events("message");
      const got = new Promise((resolve) => {
        const off = bob.events("message", (data, name) => (off(), resolve([name, data])));
      });
      const id = await ann.call("say", { text: "hi bob" });
      const [name, data] = await within(got, 5000, "the message event");
      assert.equal(name, "message");
      assert.deepEqual({ id: data.id, user: data.user, text: data.text }, { id, user: "ann", text: "hi bob" });
      const { value } = await within(iterator.next(), 5000, "iterator");
      assert.equal(value.name, "message");
      assert.equal(value.data.id, id);
      await ann.call("say", { text: "second" });
      const next = await within(iterator.next(), 5000, "iterator");
      assert.equal(next.value.data.text, "second");
      await iterator.return();
      stop();
      assert.deepEqual(seen, [["message", "hi bob"], ["message", "second"]]);
      assert.deepEqual(messages.map((m) => m.text), ["hi bob", "second"]);
    });
  });
}

test("the event iterator ends when the client closes, and fails loudly when not read", T, async () => {
  room += 1;
  const ann = client("cbor", "ann");
  const bob = client("cbor", "bob");
  const slow = bob.events("message", { maxQueued: 2 });
  const ended = bob.events("message");
  let received = 0;
  bob.events("message", () => (received += 1));
  await Promise.all([ann.ready, bob.ready]);
  for (const text of ["1", "2", "3"]) await ann.call("say", { text });
  await until(() => received === 3, 5000, "three events at bob");
  assert.equal((await slow.next()).value.data.text, "1");
  assert.equal((await slow.next()).value.data.text, "2");
  await assert.rejects(slow.next(), { code: "overflow" });
  assert.deepEqual(await slow.next(), { value: undefined, done: true });
  await bob.close();
  const texts = [];
  for await (const event of ended) texts.push(event.data.text);
  assert.deepEqual(texts, ["1", "2", "3"]);
});

test("a close code that forbids retrying stops the client", T, async () => {
  room += 1;
  const sockets = [];
  class Spy extends WebSocket {
    constructor(...args) {
      super(...args);
      sockets.push(this);
    }
  }
  const ann = client("cbor", "ann", { WebSocket: Spy });
  await ann.ready;
  const closed = once(ann, "close");
  sockets[0].send("a text frame in roost.v1.cbor"); // the server closes with 1003
  const [{ code, willReconnect }] = await closed;
  assert.deepEqual({ code, willReconnect }, { code: 1003, willReconnect: false });
  assert.equal(ann.state, "closed");
  await assert.rejects(ann.call("who"), { code: "closed", retryable: false });
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(sockets.length, 1); // no second attempt
});

test("under Node without a global WebSocket, the ws package is used", T, async () => {
  room += 1;
  const ann = roostConnect(server.url(`/chat/room${room}?user=ann`), { encoding: "cbor", callTimeout: 5000 });
  clients.push(ann);
  await within(ann.ready, 5000, "ready");
  assert.ok((await ann.call("say", { text: "no WebSocket passed" })) > 0);
});

test("the public names", async () => {
  const names = Object.keys(roost).sort();
  assert.deepEqual(names, ["DEFAULT_LIMITS", "FATAL_CLOSE_CODES", "ProtocolError", "RoostClient", "RoostError", "RpcError", "actorUrl", "connect"]);
});
