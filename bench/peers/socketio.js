// Room relay on socket.io rooms: what many users pick for "chat rooms".
// Clients connect with ?room=<room> over the websocket transport; every "m" event a member
// emits goes to every other member of that room (socket.to(room) excludes the sender).
// Usage: node socketio.js HOST PORT  (prints "listening on ws://HOST:PORT" when ready)
'use strict';
const http = require('http');
const { Server } = require('socket.io');

const [host, port] = [process.argv[2] || '127.0.0.1', Number(process.argv[3] || 0)];
const httpServer = http.createServer();
const io = new Server(httpServer, { transports: ['websocket'], serveClient: false, perMessageDeflate: false });

io.on('connection', (socket) => {
  const room = String(socket.handshake.query.room);
  socket.join(room);
  socket.on('m', (data) => socket.to(room).emit('m', data));
});

httpServer.listen(port, host, 4096, () => console.log(`listening on ws://${host}:${httpServer.address().port}`));
