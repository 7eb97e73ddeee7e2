// The Yjs reference server: @y/websocket-server's setupWSConnection (the code behind its
// `y-websocket` bin, without persistence) on Node's `ws`, serving ws://HOST:PORT/yjs/<doc>.
// Usage: node y_websocket.mjs HOST PORT  (prints "listening on ws://HOST:PORT" when ready)
import http from 'node:http';
import { WebSocketServer } from 'ws';
import { setupWSConnection } from '@y/websocket-server/utils';

const [host, port] = [process.argv[2] || '127.0.0.1', Number(process.argv[3] || 0)];
const PREFIX = '/yjs/';

const server = http.createServer((_request, response) => {
  response.writeHead(200, { 'Content-Type': 'text/plain' });
  response.end('okay');
});
const wss = new WebSocketServer({ noServer: true });
wss.on('connection', (conn, req) => {
  const docName = req.url.slice(PREFIX.length).split('?')[0];
  setupWSConnection(conn, req, { docName });
});
server.on('upgrade', (request, socket, head) => {
  if (!request.url.startsWith(PREFIX)) {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
});
server.listen({ host, port, backlog: 4096 }, () => {
  console.log(`listening on ws://${host}:${server.address().port}`);
});
