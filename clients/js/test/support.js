// Test support, not a test: real roost servers in child processes, and the ws WebSocket.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import WebSocket from "ws";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/**
 * The client under test: src/roost.js, or the module $ROOST_CLIENT_MODULE names (relative to
 * clients/js): tests/e2e/test_js_client.py runs these tests against the bundle, dist/roost.js.
 */
export const CLIENT_MODULE = process.env.ROOST_CLIENT_MODULE || "src/roost.js";
export const roost = await import(pathToFileURL(resolve(ROOT, "clients", "js", CLIENT_MODULE)).href);
export const PYTHON = process.env.ROOST_PYTHON || join(ROOT, ".venv", "bin", "python");
const START_LINE = /roost listening on http:\/\/127\.0\.0\.1:(\d+)/;
const running = new Set();

/** connect() with the ws package's WebSocket and quick backoff, for tests. */
export function connect(url, options = {}) {
  return roost.connect(url, { WebSocket, backoff: { initial: 20, max: 200 }, callTimeout: 5000, ...options });
}

/** A temporary data directory, removed by the returned cleanup. */
export async function tempDir() {
  return mkdtemp(join(tmpdir(), "roost-js-"));
}

/**
 * Starts `roost serve examples/<app>` (or `<app>` if absolute) and resolves once it printed
 * its start line.
 * ROOST_* variables are not passed on, so the server uses only the flags given here.
 */
export async function startServer(app, { port = 0, dataDir } = {}) {
  const ownDir = dataDir === undefined;
  dataDir ??= await tempDir();
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("ROOST_")));
  env.ROOST_DEMO_AUTH = "1"; // examples/chat.py's demo mode: ?user=<name> is the identity
  const args = ["-m", "roost", "serve", isAbsolute(app) ? app : join(ROOT, "examples", app), "--host", "127.0.0.1", "--port", String(port), "--data-dir", dataDir];
  const child = spawn(PYTHON, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const server = {
    child,
    dataDir,
    exited,
    output: () => output,
    url: (path) => `ws://127.0.0.1:${server.port}${path}`,
    /** Stops the server with `signal`, then SIGKILL if it lingers; resolves once it exited. */
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
      running.delete(server);
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
  running.add(server);
  server.port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start line within 20 s:\n${output}`)), 20_000);
    const onData = (chunk) => {
      output += chunk;
      const match = START_LINE.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout.setEncoding("utf8").on("data", onData);
    child.stderr.setEncoding("utf8").on("data", onData);
    child.once("error", (error) => (clearTimeout(timer), reject(error)));
    exited.then(({ code, signal }) => (clearTimeout(timer), reject(new Error(`server exited (${code ?? signal}):\n${output}`))));
  }).catch(async (error) => {
    await server.stop("SIGKILL");
    throw error;
  });
  return server;
}

/** Stops every server still running (for after() hooks). */
export async function stopAll() {
  await Promise.all([...running].map((server) => server.stop()));
}

process.on("exit", () => {
  for (const server of running) server.child.kill("SIGKILL");
});

/** Resolves when `client` emits `type` (once), or rejects after `ms`. */
export function once(client, type, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (off(), reject(new Error(`no ${type} within ${ms} ms`))), ms);
    const off = client.on(type, (...args) => {
      clearTimeout(timer);
      off();
      resolve(args);
    });
  });
}

/** Waits until `predicate()` holds, polling; rejects after `ms`. */
export async function until(predicate, ms = 5000, what = "condition") {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Calls `probe()` until it returns a truthy value, which it resolves to; rejects after `ms`. */
export async function eventually(probe, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`no result within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Rejects `promise` if it does not settle within `ms`. */
export function within(promise, ms, what = "promise") {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
