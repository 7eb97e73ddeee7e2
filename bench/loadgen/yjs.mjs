// Yjs load generator: real `yjs` documents behind real providers (y-websocket's
// WebsocketProvider, or @hocuspocus/provider for Hocuspocus), all in this one Node process.
//
// Per repetition: DOCS fresh documents (named yjs-bench-<run>-r<rep>-d<doc>), CLIENTS providers
// on each, all synced with the server before anything is edited. Then every client makes its
// share of EDITS inserts of a 7-character token "<CCEEE>" (client, edit number) at a random
// position (seeded) of the shared Y.Text "text", one edit per client per round, as fast as the
// generator can, no pacing. --mode burst (the default): all rounds back to back in one turn of
// the event loop, so every edit is sent before any update from the server is applied (all of
// them concurrent); --mode rounds: one turn of the event loop between rounds, so received
// updates are applied between rounds and later edits land in partly merged text. It then
// waits until every client's text holds every edit ("converged"), checks that all texts are
// identical, of the expected length, hold exactly the inserted characters, and that every
// client's state vector is the same, and fails loudly otherwise.
//
// Times (performance.now(), ms): first edit sent, last edit sent, converged (the moment the last
// client's text reached its full length). Deliveries: one edit reaching one other client
// (EDITS x (CLIENTS - 1) per document). Per-edit latency: from the moment the edit was made to
// the end of the remote transaction that integrated it at another client (every (edit, other
// client) pair, from the transactions' before and after state vectors). Update frames: messages
// received by the clients that carry a Yjs sync update (type 0/2), counted on the socket.
//
// Output: JSON lines on stdout: {"event":"ready","rep":r} before each repetition's edits
// (with --interactive, it then waits for a line on stdin, so the harness can sample CPU),
// {"event":"converged","rep":r} as soon as every client has every edit (before the checks),
// {"event":"rep",...} after each, {"event":"result",...} at the end; exit status 0 only
// when every repetition converged correctly. Diagnostics go to stderr.
//
// Usage: node yjs.mjs --port P [--host H] [--protocol y-websocket|hocuspocus] [--path /yjs]
//          [--docs 1] [--clients 20] [--edits 1000] [--reps 3] [--warmup-reps 1]
//          [--mode burst|rounds] [--seed 1] [--timeout 60] [--interactive]
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import readline from 'node:readline';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { HocuspocusProvider } from '@hocuspocus/provider';

const { values: opt } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    protocol: { type: 'string', default: 'y-websocket' },
    path: { type: 'string', default: '/yjs' },
    docs: { type: 'string', default: '1' },
    clients: { type: 'string', default: '20' },
    edits: { type: 'string', default: '1000' },
    reps: { type: 'string', default: '3' },
    'warmup-reps': { type: 'string', default: '1' },
    seed: { type: 'string', default: '1' },
    timeout: { type: 'string', default: '60' },
    mode: { type: 'string', default: 'burst' },
    interactive: { type: 'boolean', default: false },
  },
});
if (!opt.port) {
  process.stderr.write('usage: node yjs.mjs --port P [options] (see the head of this file)\n');
  process.exit(2);
}
const DOCS = Number(opt.docs);
const CLIENTS = Number(opt.clients);
const EDITS = Number(opt.edits);
const REPS = Number(opt.reps);
const WARMUP_REPS = Number(opt['warmup-reps']);
const TIMEOUT_MS = 1000 * Number(opt.timeout);
const TOKEN = 7; // "<CCEEE>"
const PER_CLIENT_MAX = Math.ceil(EDITS / CLIENTS);
if (!['y-websocket', 'hocuspocus'].includes(opt.protocol)) throw new Error(`protocol ${opt.protocol}?`);
if (!['burst', 'rounds'].includes(opt.mode)) throw new Error(`mode ${opt.mode}?`);
if (CLIENTS < 2 || CLIENTS > 100 || PER_CLIENT_MAX > 1000) {
  throw new Error('need 2..100 clients and at most 1000 edits per client (token format)');
}
process.setMaxListeners(0); // every y-websocket provider adds a process 'exit' listener
const RUN = `${process.pid}-${Date.now() % 1e6}`;

class BenchError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

const emit = (event) => process.stdout.write(JSON.stringify(event) + '\n');
const say = (message) => process.stderr.write(`yjs.mjs: ${message}\n`);

// Deterministic positions: every server gets the same random draws.
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const token = (client, edit) =>
  `<${String(client).padStart(2, '0')}${String(edit).padStart(3, '0')}>`;

// Does a received frame carry a Yjs update (sync message type 0, sync update 2)?
function readVarUint(buf, pos) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = buf[pos.i++];
    if (byte === undefined) return -1;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return value;
    shift += 7;
  }
}
function isUpdate(buf, hocuspocus) {
  const pos = { i: 0 };
  if (hocuspocus) {
    const nameLength = readVarUint(buf, pos); // hocuspocus prefixes the document name
    if (nameLength < 0) return false;
    pos.i += nameLength;
  }
  return readVarUint(buf, pos) === 0 && readVarUint(buf, pos) === 2;
}

function countingSocket(counter, hocuspocus) {
  return class CountingWebSocket extends WebSocket {
    constructor(...args) {
      super(...args);
      this.on('message', (data) => {
        const buf = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
        if (!(buf instanceof Uint8Array)) return; // fragments: never for these small frames
        counter.frames += 1;
        if (isUpdate(buf, hocuspocus)) counter.updates += 1;
      });
    }
  };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// One client: a document and the provider that syncs it with the server.
function openClient(docName, index, counter, state) {
  const doc = new Y.Doc();
  const text = doc.getText('text');
  const url = `ws://${opt.host}:${opt.port}${opt.path}`;
  let provider;
  const synced = new Promise((resolve) => {
    if (opt.protocol === 'y-websocket') {
      provider = new WebsocketProvider(url, docName, doc, {
        WebSocketPolyfill: countingSocket(counter, false),
        disableBc: true, // all clients share this process: they must talk through the server only
      });
      provider.on('sync', (isSynced) => isSynced && resolve());
      provider.on('connection-close', (event) => state.closed(docName, index, event?.code));
      provider.on('connection-error', () => state.closed(docName, index, 'error'));
    } else {
      provider = new HocuspocusProvider({
        url,
        name: docName,
        document: doc,
        WebSocketPolyfill: countingSocket(counter, true),
        onSynced: () => resolve(),
        onClose: ({ event }) => state.closed(docName, index, event?.code),
      });
    }
  });
  return { doc, text, provider, synced, index };
}

async function repetition(rep, warmup, random, latencies) {
  const counter = { frames: 0, updates: 0 };
  const errors = [];
  let measuring = false;
  const state = {
    closed: (docName, index, code) => {
      if (state.open) errors.push(`client ${index} of ${docName}: connection closed (${code})`);
    },
    open: true,
  };
  const docs = [];
  for (let d = 0; d < DOCS; d += 1) {
    const name = `yjs-bench-${RUN}-r${rep}-d${d}`;
    const clients = [];
    for (let c = 0; c < CLIENTS; c += 1) clients.push(openClient(name, c, counter, state));
    docs.push({ name, clients, sent: new Float64Array(CLIENTS * 1000) });
  }
  const all = docs.flatMap((d) => d.clients);
  const connectStart = performance.now();
  await withTimeout(Promise.all(all.map((c) => c.synced)), 'sync', 'clients did not sync');
  if (errors.length) throw new BenchError('closed', errors.join('; '));
  const connectMs = performance.now() - connectStart;

  // Completion and latency watchers.
  const expectedLength = EDITS * TOKEN;
  let remaining = all.length;
  let convergedAt = 0;
  let resolveConverged;
  const converged = new Promise((resolve) => (resolveConverged = resolve));
  const samples = [];
  for (const d of docs) {
    const indexOf = new Map(d.clients.map((c) => [c.doc.clientID, c.index]));
    for (const client of d.clients) {
      let done = false;
      // Cheaper than the Y.Text event's delta (which walks the whole text): what a remote
      // transaction integrated is, per writer, the clock range beforeState..afterState, and
      // writer c's edit e is its clocks [7e, 7e + 7).
      client.doc.on('afterTransaction', (transaction) => {
        if (!transaction.local && measuring) {
          const now = performance.now();
          for (const [clientID, after] of transaction.afterState) {
            const before = transaction.beforeState.get(clientID) || 0;
            const writer = indexOf.get(clientID);
            if (after <= before || writer === undefined) continue;
            for (let e = Math.floor(before / TOKEN); e < Math.ceil(after / TOKEN); e += 1) {
              const sent = d.sent[writer * 1000 + e];
              if (sent > 0) samples.push(now - sent);
            }
          }
        }
        if (!done && client.text.length >= expectedLength) {
          done = true;
          remaining -= 1;
          if (remaining === 0) {
            convergedAt = performance.now();
            resolveConverged();
          }
        }
      });
    }
  }

  emit({ event: 'ready', rep, warmup });
  if (opt.interactive) await nextLine();

  // Edit: one edit per client per round; in burst mode all rounds back to back, nothing received
  // meanwhile; in rounds mode a turn of the event loop between rounds.
  const share = (c) => Math.floor(EDITS / CLIENTS) + (c < EDITS % CLIENTS ? 1 : 0);
  measuring = true;
  const firstSent = performance.now();
  let lastSent = firstSent;
  for (let round = 0; round < PER_CLIENT_MAX; round += 1) {
    for (const d of docs) {
      for (const client of d.clients) {
        if (round >= share(client.index)) continue;
        const position = Math.floor(random() * (client.text.length + 1));
        lastSent = performance.now();
        d.sent[client.index * 1000 + round] = lastSent;
        client.text.insert(position, token(client.index, round));
      }
    }
    if (opt.mode === 'rounds') await nextTurn();
  }
  await withTimeout(converged, 'not_converged', () => {
    const lengths = all.map((c) => c.text.length);
    return `not converged: text lengths ${JSON.stringify(lengths)}, want ${expectedLength} each`;
  });
  measuring = false;
  const updatesAtConvergence = counter.updates;
  const framesAtConvergence = counter.frames;
  emit({ event: 'converged', rep });
  if (errors.length) throw new BenchError('closed', errors.join('; '));
  verify(docs, expectedLength);

  state.open = false;
  for (const client of all) {
    client.provider.destroy();
    client.doc.destroy();
  }
  await sleep(100); // let the server see the closes before the next repetition

  if (!warmup) for (const s of samples) latencies.push(s);
  const deliveries = DOCS * EDITS * (CLIENTS - 1);
  return {
    event: 'rep',
    rep,
    warmup,
    docs: DOCS,
    clients: CLIENTS,
    edits: DOCS * EDITS,
    deliveries,
    connect_ms: connectMs,
    edit_ms: lastSent - firstSent,
    converge_ms: convergedAt - lastSent,
    total_ms: convergedAt - firstSent,
    update_frames: updatesAtConvergence,
    frames: framesAtConvergence,
    latency_samples: samples.length,
  };
}

function verify(docs, expectedLength) {
  for (const d of docs) {
    const texts = d.clients.map((c) => c.text.toString());
    const first = texts[0];
    const differing = texts.findIndex((t) => t !== first);
    if (differing >= 0) {
      throw new BenchError('diverged', `${d.name}: client ${differing}'s text differs from client 0's`);
    }
    if (first.length !== expectedLength) {
      throw new BenchError('length', `${d.name}: text has ${first.length} characters, want ${expectedLength}`);
    }
    let inserted = '';
    for (let c = 0; c < CLIENTS; c += 1) {
      const n = Math.floor(EDITS / CLIENTS) + (c < EDITS % CLIENTS ? 1 : 0);
      for (let e = 0; e < n; e += 1) inserted += token(c, e);
    }
    if ([...first].sort().join('') !== [...inserted].sort().join('')) {
      throw new BenchError('content', `${d.name}: the text does not hold exactly the inserted characters`);
    }
    const vectors = d.clients.map((c) => Buffer.from(Y.encodeStateVector(c.doc)).toString('hex'));
    if (vectors.some((v) => v !== vectors[0])) {
      throw new BenchError('state_vector', `${d.name}: state vectors differ between clients`);
    }
  }
}

async function withTimeout(promise, kind, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new BenchError(kind, typeof message === 'function' ? message() : message)),
      TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const stdinLines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function nextLine() {
  const { done } = await stdinLines.next();
  if (done) throw new BenchError('stdin', 'standard input closed');
}

async function main() {
  const random = mulberry32(Number(opt.seed));
  const latencies = [];
  const reps = [];
  try {
    for (let rep = 0; rep < WARMUP_REPS + REPS; rep += 1) {
      const result = await repetition(rep, rep < WARMUP_REPS, random, latencies);
      emit(result);
      if (!result.warmup) reps.push(result);
    }
  } catch (error) {
    const kind = error instanceof BenchError ? error.kind : 'exception';
    say(error.stack || String(error));
    emit({ event: 'result', errors: 1, error_kinds: { [kind]: 1 }, message: error.message });
    process.exit(1);
  }
  latencies.sort((a, b) => a - b);
  emit({
    event: 'result',
    errors: 0,
    error_kinds: {},
    reps: reps.length,
    latency_samples: latencies.length,
    lat_ms: {
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: latencies.length ? latencies[latencies.length - 1] : 0,
    },
  });
  process.exit(0);
}

main();
