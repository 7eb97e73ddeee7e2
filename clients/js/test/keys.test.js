// actorUrl percent-encodes keys so that any key reaches its own actor; headers (Node) and a
// query token reach the server; inspecting a client never shows its query. Against a real
// `roost serve tests/client/whoami_app.py`, which reports what reached the actor.
import assert from "node:assert/strict";
import { join } from "node:path";
import { inspect } from "node:util";
import { after, before, describe, test } from "node:test";

import { ROOT, connect, roost, startServer, stopAll, within } from "./support.js";

const { actorUrl } = roost;

const T = { timeout: 20_000 };
const KEYS = ["a/b", "é ?#", "%2F", "two  spaces ", "a+b&c=d;e", "...", "日本語/../x", "k".repeat(512)];
let server;
const clients = [];

function client(url, options = {}) {
  const c = connect(url, options);
  clients.push(c);
  return c;
}

before(async () => {
  server = await startServer(join(ROOT, "tests", "client", "whoami_app.py"));
});

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await stopAll();
});

describe("actorUrl", () => {
  test("percent-encodes the key and the query", () => {
    const base = "ws://127.0.0.1:8787";
    assert.equal(actorUrl(base, "chat", "lobby"), "ws://127.0.0.1:8787/chat/lobby");
    assert.equal(actorUrl(base, "chat", "a/b"), "ws://127.0.0.1:8787/chat/a%2Fb");
    assert.equal(actorUrl(base, "chat", "é ?#"), "ws://127.0.0.1:8787/chat/%C3%A9%20%3F%23");
    assert.equal(actorUrl(base, "chat", "%2F"), "ws://127.0.0.1:8787/chat/%252F");
    assert.equal(actorUrl("https://h/prefix/", "t", "k"), "wss://h/prefix/t/k");
    assert.equal(actorUrl("http://h", "t", "k", { params: { user: "a b", token: "x/y+z=" } }), "ws://h/t/k?user=a%20b&token=x%2Fy%2Bz%3D");
    assert.equal(actorUrl("wss://h:9", "t", "k", { params: [["a", "1"], ["a", "2"]] }), "wss://h:9/t/k?a=1&a=2");
  });

  test("refuses what no server would take", () => {
    for (const args of [["ftp://h", "t", "k"], ["not a url", "t", "k"], ["ws://h?x=1", "t", "k"], ["ws://h#f", "t", "k"], ["ws://h?", "t", "k"], ["ws://h", "t", 7], [7, "t", "k"]]) {
      assert.throws(() => actorUrl(...args), TypeError, JSON.stringify(args));
    }
    for (const key of ["", ".", "..", "a\u0000b", "line\nbreak", "del\u007f", "c1\u0085", "\ud800"]) {
      assert.throws(() => actorUrl("ws://h", "t", key), RangeError, JSON.stringify(key));
    }
    assert.throws(() => actorUrl("ws://h", "", "k"), RangeError);
    assert.throws(() => actorUrl("ws://h", "t", "k", { params: { n: 1 } }), TypeError);
  });
});

for (const encoding of ["json", "cbor", "raw"]) {
  test(`any key round-trips through a real server (${encoding})`, T, async () => {
    const base = `ws://127.0.0.1:${server.port}`;
    for (const key of KEYS) {
      const c = client(actorUrl(base, "whoami", key), { encoding });
      await within(c.ready, 5000, `ready for ${JSON.stringify(key)}`);
      if (encoding === "raw") {
        const got = new Promise((resolve) => c.on("message", resolve));
        c.send("key?");
        assert.equal(await within(got, 5000, "the key"), key);
      } else {
        const seen = await c.call("whoami");
        assert.deepEqual([seen.type, seen.key], ["whoami", key]);
      }
      await c.close();
    }
  });
}

test("headers and a query token reach on_connect; inspecting shows neither", T, async () => {
  const url = actorUrl(`ws://127.0.0.1:${server.port}`, "whoami", "room/1", { params: { user: "ann", token: "t0k/en+=" } });
  const c = client(url, { encoding: "cbor", headers: { Authorization: "Bearer s3cret", "X-Trace": "a b" } });
  const seen = await c.call("whoami");
  assert.deepEqual(seen, {
    type: "whoami",
    key: "room/1",
    query: { user: "ann", token: "t0k/en+=" },
    headers: { authorization: "Bearer s3cret", "x-trace": "a b" },
  });
  for (const shown of [inspect(c), String(c)]) {
    assert.match(shown, /room%2F1/);
    assert.doesNotMatch(shown, /s3cret|t0k|token/);
  }
});

test("bad headers are refused before connecting", () => {
  for (const headers of [{ "Sec-WebSocket-Protocol": "x" }, { host: "elsewhere" }, { "Bad Name": "v" }, { "X-Token": "a\r\nInjected: 1" }, { "X-Token": 5 }]) {
    assert.throws(() => connect("ws://127.0.0.1:1/t/k", { headers, reconnect: false }), TypeError, JSON.stringify(headers));
  }
});

test("credentials pass the authenticate hook: a header (Node), a query token, a cookie", T, async () => {
  const auth = await startServer(join(ROOT, "tests", "client", "auth_app.py"));
  try {
    const base = `ws://127.0.0.1:${auth.port}`;
    const url = actorUrl(base, "me", "a/b");
    const ways = [
      [url, { headers: { Authorization: "Bearer good" } }, "header"],
      [actorUrl(base, "me", "a/b", { params: { token: "good" } }), {}, "query"],
      [url, { headers: { Cookie: "session=good" } }, "cookie"],
    ];
    for (const [target, options, via] of ways) {
      const c = client(target, { encoding: "cbor", ...options });
      assert.deepEqual(await c.call("me"), { user: "ann", via });
      await c.close();
    }
    const refused = client(url, { headers: { Authorization: "Bearer bad" }, reconnect: false });
    const errors = [];
    refused.on("error", (error) => errors.push(String(error?.message)));
    await assert.rejects(within(refused.ready, 5000, "refusal"), { code: "closed" });
    assert.match(errors.join(" "), /401/);
    assert.doesNotMatch(errors.join(" "), /bad/);
  } finally {
    await auth.stop();
  }
});
