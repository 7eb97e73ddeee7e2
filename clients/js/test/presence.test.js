// Envelope clients get presence as events, against a real `roost serve examples/presence.py`.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { connect, startServer, stopAll, within } from "./support.js";

const T = { timeout: 20_000 };
let server;
const clients = [];

before(async () => {
  server = await startServer("presence.py");
});

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await stopAll();
});

/** An iterator of the presence events of a new client of document `doc` as `user`. */
function join(encoding, doc, user) {
  const client = connect(server.url(`/presence/${doc}?user=${user}`), { encoding });
  clients.push(client);
  const events = client.events(null, { maxQueued: 100 });
  const next = async () => (await within(events.next(), 5000, `an event at ${user}`)).value;
  return { client, next };
}

const metas = (presences, user) => presences[user].metas.map(({ ref, ref_prev, ...meta }) => meta);

for (const encoding of ["json", "cbor"]) {
  test(`presence_state and presence_diff arrive as events (${encoding})`, T, async () => {
    const doc = `doc-${encoding}`;
    const ann = join(encoding, doc, "ann");
    assert.deepEqual(await ann.next(), { name: "presence_state", data: { presences: {} } });
    await ann.client.call("track", { meta: { name: "Ann" } });
    const bob = join(encoding, doc, "bob");
    const state = await bob.next();
    assert.equal(state.name, "presence_state");
    assert.deepEqual(metas(state.data.presences, "ann"), [{ name: "Ann" }]);
    await bob.client.call("track", { meta: { name: "Bob" } });
    const joined = await ann.next();
    assert.equal(joined.name, "presence_diff");
    assert.deepEqual(Object.keys(joined.data).sort(), ["joins", "leaves"]);
    assert.deepEqual(metas(joined.data.joins, "bob"), [{ name: "Bob" }]);
    assert.deepEqual(joined.data.leaves, {});
    await bob.client.close();
    const left = await ann.next();
    assert.equal(left.name, "presence_diff");
    assert.deepEqual(Object.keys(left.data.leaves), ["bob"]);
    assert.equal(ann.client.state, "open");
    assert.deepEqual(await ann.client.call("who"), ["ann"]);
  });
}
