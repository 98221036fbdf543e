// Socket.IO comparison server for the HTTP API publish scenario (api-publish).
//
// A stock Socket.IO 4 server (WebSocket transport only, no per-message deflate, the
// default 25 s heartbeat) on the same Node http.Server as a publish endpoint that does
// what Gyre's /api/publish does for this load: read and parse the JSON body, emit the
// data to the room named by `channel`, answer {"result":{}}. Clients join the room given
// by the `channel` query parameter of their handshake when they connect.
//
// Usage: node dist/bench/socketio-server.js --port N [--host 127.0.0.1] [--watch-stdin]

import http from 'node:http';
import { Server } from 'socket.io';
import { parseServerArgs, servePublish } from './mini-protocol.js';

const args = parseServerArgs(process.argv.slice(2));
if (args.watchStdin) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}

const httpServer = http.createServer();
const io = new Server(httpServer, { serveClient: false, transports: ['websocket'], perMessageDeflate: false });

io.on('connection', (socket) => {
  const ch = socket.handshake.query.channel;
  if (typeof ch === 'string' && ch !== '') void socket.join(ch);
});

// Registered after Socket.IO attached itself: it handles /socket.io/ and passes other requests on.
httpServer.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
  if (req.url?.startsWith('/socket.io/')) return;
  if (servePublish(req, res, (channel, data) => io.to(channel).emit('pub', data))) return;
  res.writeHead(404, { 'Content-Length': '0' }).end();
});
httpServer.keepAliveTimeout = 60_000;

httpServer.listen({ port: args.port, host: args.host, backlog: 4096 }, () => {
  const addr = httpServer.address();
  const actual = typeof addr === 'object' && addr !== null ? addr.port : args.port;
  process.stdout.write(`LISTENING ${actual}\n`);
});

const stop = (): void => { process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
