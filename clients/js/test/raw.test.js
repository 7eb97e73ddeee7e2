// Raw mode: frames unchanged, against examples/relay.py (and examples/chat.py's raw protocol).
import assert from "node:assert/strict";
import { after, test } from "node:test";

import { connect, eventually, startServer, stopAll, tempDir, until, within } from "./support.js";

const T = { timeout: 30_000 };
const clients = [];
const track = (c) => (clients.push(c), c);

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await stopAll();
});

test("text and binary frames reach the others unchanged", T, async () => {
  const relay = await startServer("relay.py");
  const one = track(connect(relay.url("/relay/a"), { encoding: "raw" }));
  const two = track(connect(relay.url("/relay/a"), { encoding: "raw" }));
  const elsewhere = track(connect(relay.url("/relay/b"), { encoding: "raw" }));
  await Promise.all([one.ready, two.ready, elsewhere.ready]);
  const atOne = [];
  const atTwo = [];
  const atElsewhere = [];
  one.on("message", (data) => atOne.push(data));
  two.on("message", (data) => atTwo.push(data));
  elsewhere.on("message", (data) => atElsewhere.push(data));
  one.send("text ✓");
  one.send(new Uint8Array([0, 255, 1]));
  one.send(new Uint8Array([9, 0, 255, 1, 9]).subarray(1, 4).buffer.slice(1, 4));
  await until(() => atTwo.length === 3, 5000, "three frames at two");
  assert.deepEqual(atTwo, ["text ✓", new Uint8Array([0, 255, 1]), new Uint8Array([0, 255, 1])]);
  two.send("from two");
  await until(() => atOne.length === 1, 5000, "a frame at one");
  assert.deepEqual(atOne, ["from two"]); // nothing of its own came back
  assert.deepEqual(atElsewhere, []);
  assert.throws(() => one.send({ not: "a frame" }), TypeError);
  await assert.rejects(one.call("who"), TypeError);
  await relay.stop();
});

test("sends while offline are buffered up to maxBuffered, then flushed", T, async () => {
  const dataDir = await tempDir();
  let chat = await startServer("chat.py", { dataDir });
  const port = chat.port;
  const ann = track(connect(chat.url("/chat/rawroom?user=ann"), { encoding: "raw", maxBuffered: 2 }));
  await ann.ready;
  await chat.stop();
  await until(() => ann.state !== "open", 5000, "the client to notice");
  ann.send(JSON.stringify({ type: "say", text: "offline 1" }));
  ann.send(JSON.stringify({ type: "say", text: "offline 2" }));
  assert.equal(ann.buffered, 2);
  assert.throws(() => ann.send("one too many"), { code: "unavailable", retryable: true });

  chat = await startServer("chat.py", { port, dataDir });
  const reader = track(connect(chat.url("/chat/rawroom?user=bob"), { encoding: "json" }));
  await until(() => ann.state === "open" && ann.buffered === 0, 10_000, "reconnect and flush");
  // The flushed frames and this call travel on different connections: poll until stored.
  const texts = await eventually(async () => {
    const history = await within(reader.call("history", { limit: 10 }), 5000, "history");
    return history.length === 2 && history.map((m) => m.text);
  });
  assert.deepEqual(texts, ["offline 1", "offline 2"]);
});
