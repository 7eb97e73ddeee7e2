// Reconnecting: the server is stopped (SIGTERM, or frozen and killed) and started again on
// the same port and data directory.
import assert from "node:assert/strict";
import { after, test } from "node:test";

import { connect, startServer, stopAll, tempDir, until, within } from "./support.js";

after(stopAll);

test("reconnects after restarts; in-flight calls fail retryably; offline calls are bounded", { timeout: 60_000 }, async () => {
  const dataDir = await tempDir();
  let server = await startServer("chat.py", { dataDir });
  const port = server.port;
  const ann = connect(server.url("/chat/lobby?user=ann"), { encoding: "cbor", maxBuffered: 3, callTimeout: 20_000 });
  const closes = [];
  ann.on("close", (info) => closes.push(info));
  try {
    await within(ann.ready, 5000, "ready");
    const first = await ann.call("say", { text: "before" });

    // A graceful stop closes with 1001: the client waits, retries, and gets in again.
    await server.stop("SIGTERM");
    await until(() => closes.length === 1, 5000, "the close");
    assert.deepEqual(closes[0], { code: 1001, reason: closes[0].reason, willReconnect: true });
    assert.notEqual(ann.state, "open");
    server = await startServer("chat.py", { port, dataDir });
    await until(() => ann.state === "open", 10_000, "reconnected");
    const history = await ann.call("history", { limit: 5 });
    assert.deepEqual(history.map((m) => [m.id, m.text]), [[first, "before"]]); // durable

    // A call in flight when the connection is lost fails with a retryable error.
    server.child.kill("SIGSTOP"); // frozen: it cannot answer, nor close gracefully
    const inFlight = ann.call("say", { text: "in flight" }).then(
      (value) => assert.fail(`the call succeeded with ${value}`),
      (error) => error,
    );
    await server.stop("SIGKILL");
    const error = await within(inFlight, 10_000, "the in-flight call");
    assert.equal(error.name, "RpcError");
    assert.equal(error.code, "unavailable");
    assert.equal(error.retryable, true);
    assert.equal(error.closeCode, 1006);
    assert.equal(closes.at(-1).willReconnect, true);

    // Offline: up to maxBuffered calls wait for the connection, the next fails at once.
    await until(() => ann.state !== "open", 5000, "offline");
    const waiting = ["offline 1", "offline 2", "offline 3"].map((text) => ann.call("say", { text }));
    assert.equal(ann.buffered, 3);
    await assert.rejects(within(ann.call("say", { text: "one too many" }), 100, "the refusal"), {
      name: "RpcError",
      code: "unavailable",
      retryable: true,
    });
    await new Promise((resolve) => setTimeout(resolve, 300)); // retries fail meanwhile
    assert.equal(ann.buffered, 3);

    server = await startServer("chat.py", { port, dataDir });
    const ids = await within(Promise.all(waiting), 15_000, "the buffered calls");
    assert.ok(ids[0] > first && ids[1] > ids[0] && ids[2] > ids[1], `ids ${ids}`); // in order
    const texts = (await ann.call("history", { limit: 10 })).map((m) => m.text);
    assert.deepEqual(texts.filter((t) => t !== "in flight"), ["before", "offline 1", "offline 2", "offline 3"]);
    assert.deepEqual(await ann.call("who"), ["ann"]);
  } finally {
    await ann.close();
    await server.stop();
  }
  assert.equal(ann.state, "closed");
  await assert.rejects(ann.call("who"), { code: "closed", retryable: false });
});

test("a call that gets no reply times out; close() fails what is pending", { timeout: 30_000 }, async () => {
  const server = await startServer("chat.py");
  const ann = connect(server.url("/chat/slow?user=ann"), { encoding: "json", callTimeout: 200 });
  let closing = null;
  try {
    await ann.ready;
    server.child.kill("SIGSTOP"); // frozen: no reply comes
    await assert.rejects(ann.call("who"), { name: "RpcError", code: "timeout", retryable: true });
    const pending = ann.call("who", {}, { timeout: null });
    closing = ann.close();
    await assert.rejects(pending, { name: "RpcError", code: "closed", retryable: false });
    await assert.rejects(ann.call("who"), { code: "closed" });
  } finally {
    server.child.kill("SIGCONT"); // it can answer the close handshake again
    await within(closing ?? ann.close(), 10_000, "close()");
    await server.stop();
  }
});

test("ready rejects when the client is closed before it ever connected", { timeout: 10_000 }, async () => {
  const ann = connect("ws://127.0.0.1:9/nothing", { encoding: "cbor" }); // port 9: refused
  const errors = [];
  ann.on("error", (error) => errors.push(error));
  await until(() => errors.length > 0, 5000, "a failed attempt");
  assert.equal(ann.state, "connecting"); // the first connection is retried too
  await ann.close();
  await assert.rejects(ann.ready, { code: "closed" });
});
