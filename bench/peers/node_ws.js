// Room relay on Node's `ws`: what most users would pick for raw WebSockets.
// Every frame a member sends goes, unchanged, to every other member of /relay/<room>.
// Usage: node node_ws.js HOST PORT  (prints "listening on ws://HOST:PORT" when ready)
'use strict';
const { WebSocketServer, WebSocket } = require('ws');

const [host, port] = [process.argv[2] || '127.0.0.1', Number(process.argv[3] || 0)];
const PREFIX = '/relay/';
const rooms = new Map();

const wss = new WebSocketServer({ host, port, backlog: 4096, perMessageDeflate: false, clientTracking: false });

wss.on('connection', (ws, req) => {
  if (!req.url.startsWith(PREFIX)) return ws.close(1008, 'unknown path');
  const name = req.url.slice(PREFIX.length);
  let room = rooms.get(name);
  if (!room) rooms.set(name, (room = new Set()));
  room.add(ws);
  ws.on('message', (data, isBinary) => {
    for (const peer of room) {
      if (peer !== ws && peer.readyState === WebSocket.OPEN) peer.send(data, { binary: isBinary });
    }
  });
  ws.on('close', () => {
    room.delete(ws);
    if (room.size === 0) rooms.delete(name);
  });
});

wss.on('listening', () => console.log(`listening on ws://${host}:${wss.address().port}`));
