// @hocuspocus/server with its defaults and no extensions (no persistence), on ws://HOST:PORT.
// Hocuspocus speaks its own protocol (y-protocols sync and awareness messages prefixed with
// the document name, several documents multiplexed on one socket): its clients are
// @hocuspocus/provider, and the path of the URL is ignored.
// Usage: node hocuspocus.mjs HOST PORT  (prints "listening on ws://HOST:PORT" when ready)
import { Server } from '@hocuspocus/server';

const [host, port] = [process.argv[2] || '127.0.0.1', Number(process.argv[3] || 0)];

const server = new Server({ address: host, port, quiet: true });
await server.listen();
console.log(`listening on ws://${host}:${server.address.port}`);
