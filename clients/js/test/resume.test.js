// Resumable event streams: the client sends back the seq of the last event it received when it
// reconnects (?resume=), gets the events it missed once, in order, and reports "resync" when
// the server no longer has them (an ordinary actor's buffer is in the server's memory).
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, test } from "node:test";

import { connect, ROOT, startServer, stopAll, tempDir, until, within } from "./support.js";

after(stopAll);

const APP = join(ROOT, "clients", "js", "test", "resume_app.py");

/** The events ([name, data, seq]) and resyncs ({seq}) the client reports, as they come. */
function watch(client) {
  const seen = { events: [], resyncs: [] };
  client.on("event", (name, data, seq) => seen.events.push([name, data, seq]));
  client.on("resync", (info) => seen.resyncs.push(info));
  return seen;
}

for (const encoding of ["json", "cbor"]) {
  test(`${encoding}: the events missed while reconnecting arrive once, in order`, { timeout: 30_000 }, async () => {
    const server = await startServer(APP);
    const client = connect(server.url("/feed/k"), { encoding });
    const { events, resyncs } = watch(client);
    try {
      await within(client.ready, 5000, "ready");
      await client.call("say", { text: "before" });
      await until(() => events.length === 1, 5000, "the first event");
      const first = events[0][2];
      assert.ok(Number.isSafeInteger(first), `seq ${first}`);
      assert.equal(client.lastSeq, first);
      // 1012: the client reconnects at once; "missed" was emitted after its connection closed.
      await assert.rejects(client.call("kick_then_say", { code: 1012, text: "missed" }), { code: "unavailable" });
      await until(() => client.state === "open", 5000, "reconnected");
      await client.call("say", { text: "after" });
      await until(() => events.length === 3, 5000, "the missed and the new event");
      assert.deepEqual(events, [
        ["said", "before", first],
        ["said", "missed", first + 1],
        ["said", "after", first + 2],
      ]);
      assert.deepEqual(resyncs, []);
      assert.equal(client.lastSeq, first + 2);
    } finally {
      await client.close();
      await server.stop();
    }
  });
}

test("a restarted server has a new stream: resync, then the new events", { timeout: 60_000 }, async () => {
  const dataDir = await tempDir();
  let server = await startServer(APP, { dataDir });
  const port = server.port;
  const client = connect(server.url("/feed/r"), { encoding: "cbor" });
  const { events, resyncs } = watch(client);
  try {
    await within(client.ready, 5000, "ready");
    await client.call("say", { text: "before" });
    await until(() => events.length === 1, 5000, "the first event");
    await server.stop("SIGTERM"); // 1001, and the actor's buffer goes with the process
    server = await startServer(APP, { port, dataDir });
    await until(() => resyncs.length === 1, 15_000, "the resync");
    await client.call("say", { text: "after" });
    await until(() => events.length === 2, 5000, "the new event");
    const [{ seq }] = resyncs;
    assert.ok(seq > events[0][2], `the new stream (${seq}) starts after the old one (${events[0][2]})`);
    assert.deepEqual(events[1], ["said", "after", seq + 1]);
    assert.equal(client.lastSeq, seq + 1);
  } finally {
    await client.close();
    await server.stop();
  }
});
