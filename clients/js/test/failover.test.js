// Several URLs: the client is given the actor's URL on two servers (each with its own data
// directory) and rotates to the other one when its server stops, is killed or restarts.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, test } from "node:test";

import { connect, once, ROOT, roost, startServer, stopAll, until, within } from "./support.js";

after(stopAll);

const APP = join(ROOT, "clients", "js", "test", "failover_app.py");

/** A ws: URL on a port of 127.0.0.1 where nothing listens: connecting is refused at once. */
async function refusedUrl(path) {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return `ws://127.0.0.1:${port}${path}`;
}

async function twoServers() {
  const [a, b] = await Promise.all([startServer(APP), startServer(APP)]);
  return { a, b, urls: [a.url("/where/k"), b.url("/where/k")] };
}

test("kill -9 of the server: the in-flight call fails retryably, the client moves to the next URL", { timeout: 60_000 }, async () => {
  const { a, b, urls } = await twoServers();
  const client = connect(urls, { encoding: "cbor" });
  try {
    await within(client.ready, 5000, "ready");
    assert.deepEqual(client.urls, urls);
    assert.equal(client.url, urls[0]);
    assert.equal(await client.call("pid"), a.child.pid);
    a.child.kill("SIGSTOP"); // frozen: the call gets no answer
    const inFlight = client.call("pid").then(
      (value) => assert.fail(`the call succeeded with ${value}`),
      (error) => error,
    );
    await a.stop("SIGKILL");
    const error = await within(inFlight, 10_000, "the in-flight call");
    assert.equal(error.code, "unavailable");
    assert.equal(error.retryable, true);
    await until(() => client.state === "open", 5000, "reconnected");
    assert.equal(client.url, urls[1]);
    assert.equal(await client.call("pid"), b.child.pid);
  } finally {
    await client.close();
    await b.stop();
  }
});

test("a graceful stop (1001) and a restart (1012) reconnect at once, without the backoff", { timeout: 60_000 }, async () => {
  const { a, b, urls } = await twoServers();
  // A backoff that would show: 1-2 s before the first round.
  const client = connect(urls, { encoding: "json", backoff: { initial: 2000, max: 60_000 } });
  const closes = [];
  client.on("close", (info) => closes.push(info));
  try {
    await within(client.ready, 5000, "ready");
    assert.equal(await client.call("pid"), a.child.pid);

    // 1012 from a: b at once.
    let started = performance.now();
    let opened = once(client, "open");
    await assert.rejects(client.call("kick", { code: 1012 }), { code: "unavailable" });
    await within(opened, 1000, "the reconnection after 1012");
    assert.ok(performance.now() - started < 1000);
    assert.equal(closes.at(-1).code, 1012);
    assert.equal(client.url, urls[1]);
    assert.equal(await client.call("pid"), b.child.pid);

    // Another one within backoff.max: a server that keeps restarting clients gets the backoff.
    started = performance.now();
    opened = once(client, "open", 10_000);
    await assert.rejects(client.call("kick", { code: 1012 }), { code: "unavailable" });
    await opened;
    assert.ok(performance.now() - started >= 1000, "the backoff was skipped twice");
    assert.equal(client.url, urls[0]);
    await client.close();

    // 1001 from a stopping server: the other one at once.
    const fresh = connect(urls, { encoding: "json", backoff: { initial: 2000, max: 60_000 } });
    try {
      await within(fresh.ready, 5000, "ready");
      assert.equal(fresh.url, urls[0]);
      const closed = once(fresh, "close").then(([info]) => ({ info, at: performance.now() }));
      const reopened = once(fresh, "open").then(() => performance.now());
      await a.stop("SIGTERM");
      const { info, at } = await within(closed, 5000, "the close");
      assert.equal(info.code, 1001);
      const openedAt = await within(reopened, 5000, "the reconnection after 1001");
      assert.ok(openedAt - at < 1000, `reconnected ${openedAt - at} ms after the close`);
      assert.equal(fresh.url, urls[1]);
      assert.equal(await fresh.call("pid"), b.child.pid);
    } finally {
      await fresh.close();
    }
  } finally {
    await client.close();
    await a.stop();
    await b.stop();
  }
});

test("a URL that refuses connections is skipped, first and on every round", { timeout: 60_000 }, async () => {
  const { a, b, urls } = await twoServers();
  const dead = await refusedUrl("/where/k");
  const client = connect([dead, ...urls], { encoding: "cbor", backoff: { initial: 20, max: 200 } });
  const errors = [];
  client.on("error", (error) => errors.push(error));
  try {
    await within(client.ready, 5000, "ready");
    const seen = [client.url];
    for (let i = 0; i < 4; i++) {
      const opened = once(client, "open");
      await assert.rejects(client.call("kick", { code: 1011 }), { code: "unavailable" });
      await opened;
      seen.push(client.url);
    }
    assert.deepEqual(seen, [urls[0], urls[1], urls[0], urls[1], urls[0]]);
    assert.ok(errors.length >= 3, `the refused URL was tried: ${errors.length} errors`);
    assert.equal(await client.call("pid"), a.child.pid);
  } finally {
    await client.close();
    await a.stop();
    await b.stop();
  }
});

test("bad URL lists are refused at once", () => {
  assert.throws(() => roost.connect([]), TypeError);
  assert.throws(() => roost.connect(["ws://127.0.0.1:1/where/k", "ftp://127.0.0.1/where/k"]), TypeError);
  assert.throws(() => roost.connect(["ws://127.0.0.1:1/where/k", 5]), TypeError);
});

test("a call made while the lost connection winds down waits for the next one", { timeout: 60_000 }, async () => {
  const { a, b, urls } = await twoServers();
  const client = connect(urls, { encoding: "json" });
  try {
    await within(client.ready, 5000, "ready");
    const socket = client._ws;
    const kicked = client.call("kick", { code: 1012 }).then(
      () => assert.fail("kick returned"),
      (error) => error,
    );
    // The server's close frame has come, the socket's close event not yet: the client is
    // still "open", and a frame sent now would be dropped.
    while (socket.readyState === 1) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(client.state, "open");
    assert.equal(client._ws, socket);
    const next = client.call("pid");
    assert.equal((await kicked).code, "unavailable");
    assert.equal(await within(next, 5000, "the call made while closing"), b.child.pid);
    assert.equal(client.url, urls[1]);
  } finally {
    await client.close();
    await a.stop();
    await b.stop();
  }
});
