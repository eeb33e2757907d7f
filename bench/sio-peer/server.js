'use strict';
// Socket.IO peer for the Parley bench: the same hot path as parleyd
// (auth, join with ack, send with ack returning {id, seq}, broadcast to the
// room except the sender), all in memory, no store, no JWT verification.
// Usage: node server.js [--port P] [--host H]   (P = 0: pick a free port)
// Prints "listening on PORT" once, and nothing per message.
// Frames a raw client exchanges with it: see PROTOCOL.txt next to this file.
const http = require('http');
const { Server } = require('socket.io');

let port = 0;
let host = '127.0.0.1';
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--port' && i + 1 < argv.length) port = Number(argv[++i]);
  else if (a.startsWith('--port=')) port = Number(a.slice(7));
  else if (a === '--host' && i + 1 < argv.length) host = argv[++i];
  else if (a.startsWith('--host=')) host = a.slice(7);
  else if (a === '-h' || a === '--help') {
    process.stdout.write('usage: node server.js [--port P] [--host H]\n');
    process.exit(0);
  } else {
    process.stderr.write(`sio-peer: unknown argument ${a}\n`);
    process.exit(2);
  }
}
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write('sio-peer: bad --port\n');
  process.exit(2);
}

const httpServer = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});

const io = new Server(httpServer, {
  transports: ['websocket'],  // no long-polling: clients open the WebSocket directly
  perMessageDeflate: false,
  httpCompression: false,
  serveClient: false,
  allowEIO3: false,
  // defaults, spelled out because PROTOCOL.txt depends on them:
  pingInterval: 25000,
  pingTimeout: 20000,
  maxHttpBufferSize: 1e6,
  connectTimeout: 45000,
});

// Auth: any non-empty string token in the CONNECT packet's auth object,
// 40{"token":"..."}; the token becomes the user name. Not verified (no JWT).
io.use((socket, next) => {
  const auth = socket.handshake.auth;
  const token = auth && typeof auth.token === 'string' ? auth.token : '';
  if (token === '') return next(new Error('unauthorized'));
  socket.data.user = token;
  next();
});

const noAck = () => {};       // events sent without an ack id ("42[...]") still act

let nextId = 1;               // message ids, global like parleyd's
const seqs = new Map();       // room -> last seq

function validRoom(r) {
  return typeof r === 'string' && r.length > 0 && r.length <= 64;
}

io.on('connection', (socket) => {
  socket.on('join', (data, ack) => {
    if (typeof ack !== 'function') ack = noAck;
    const room = data && data.room;
    if (!validRoom(room)) return ack({ error: 'bad_request' });
    socket.join(room);
    ack({ ok: true, room });
  });

  socket.on('leave', (data, ack) => {
    const room = data && data.room;
    if (validRoom(room)) socket.leave(room);
    if (typeof ack === 'function') ack({ ok: true });
  });

  socket.on('send', (data, ack) => {
    if (typeof ack !== 'function') ack = noAck;
    const room = data && data.room;
    const text = data && data.text;
    if (!validRoom(room) || typeof text !== 'string') return ack({ error: 'bad_request' });
    if (!socket.rooms.has(room)) return ack({ error: 'not_member' });
    const seq = (seqs.get(room) || 0) + 1;
    seqs.set(room, seq);
    const id = nextId++;
    socket.to(room).emit('message', { id, seq, room, from: socket.data.user, text });
    ack({ id, seq });
  });
});

httpServer.listen({ port, host, backlog: 4096 }, () => {
  process.stdout.write(`listening on ${httpServer.address().port}\n`);
});

function stop() {
  io.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
