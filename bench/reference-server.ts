// Reference fan-out server for the benchmark.
//
// A deliberately minimal broadcast server built on the `ws` package: every
// client that subscribes joins the single channel "bench"; POST /publish (or
// /api/publish, so the load generator can use one code path for both servers)
// broadcasts one publication. The frame is built once per publication and the
// same bytes are queued on every subscriber's net.Socket; queued frames are
// flushed once per event-loop turn per socket (cork/uncork -> one writev).
//
// It speaks just enough of the Centrifugo JSON protocol for the load client:
//   client:  {"connect":{},"id":1}\n{"subscribe":{"channel":"bench"},"id":2}
//   server:  {"id":1,"connect":{"client":"x"}}\n{"id":2,"subscribe":{}}
//   push:    {"push":{"channel":"bench","pub":{"data":<payload>}}}
//
// Usage: node dist/bench/reference-server.js --port N [--host 127.0.0.1] [--watch-stdin]
// (--watch-stdin: exit when stdin closes; run.ts uses it so no server outlives it)

import http from 'node:http';
import type { Socket } from 'node:net';
import * as wsModule from 'ws';
import { WebSocketServer, type WebSocket } from 'ws';

interface FrameOptions {
  fin: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
  rsv1: boolean;
}

type FrameFn = (data: Buffer, options: FrameOptions) => Buffer[];

// @types/ws does not declare Sender; the ESM wrapper of ws >= 8 exports it.
const frameFn: FrameFn = (wsModule as unknown as { Sender: { frame: FrameFn } }).Sender.frame;

/** Largest amount of unsent bytes tolerated per socket before it is dropped. */
const MAX_PENDING_BYTES = 16 * 1024 * 1024;

interface Subscriber {
  sock: Socket;
  /** Frames queued during the current event-loop turn. */
  pending: Buffer[];
  subscribed: boolean;
}

function parseArgs(argv: string[]): { port: number; host: string; watchStdin: boolean } {
  let port = 0;
  let host = '127.0.0.1';
  let watchStdin = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--port' && v !== undefined) { port = Number(v); i++; }
    else if (a === '--host' && v !== undefined) { host = v; i++; }
    else if (a === '--watch-stdin') watchStdin = true;
  }
  return { port, host, watchStdin };
}

const subscribers = new Set<Subscriber>();
const dirty: Subscriber[] = [];
let flushScheduled = false;

function flush(): void {
  flushScheduled = false;
  for (let i = 0; i < dirty.length; i++) {
    const sub = dirty[i]!;
    const q = sub.pending;
    const sock = sub.sock;
    if (sock.destroyed) { q.length = 0; continue; }
    if (q.length === 1) {
      sock.write(q[0]!);
    } else {
      sock.cork();
      for (let j = 0; j < q.length; j++) sock.write(q[j]!);
      sock.uncork();
    }
    q.length = 0;
    if (sock.writableLength > MAX_PENDING_BYTES) sock.destroy();
  }
  dirty.length = 0;
}

function broadcast(frame: Buffer): number {
  let n = 0;
  for (const sub of subscribers) {
    if (sub.pending.length === 0) dirty.push(sub);
    sub.pending.push(frame);
    n++;
  }
  if (!flushScheduled && dirty.length > 0) {
    flushScheduled = true;
    setImmediate(flush);
  }
  return n;
}

function buildFrame(payload: string): Buffer {
  const parts = frameFn(Buffer.from(payload), {
    fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false,
  });
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

function handleCommands(ws: WebSocket, sub: Subscriber, text: string): void {
  const replies: string[] = [];
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    let cmd: Record<string, unknown>;
    try {
      cmd = JSON.parse(line) as Record<string, unknown>;
    } catch {
      ws.close(3501, 'bad request');
      return;
    }
    const id = typeof cmd.id === 'number' ? cmd.id : 0;
    if (cmd.connect !== undefined) {
      replies.push(`{"id":${id},"connect":{"client":"x"}}`);
    } else if (cmd.subscribe !== undefined) {
      if (!sub.subscribed) {
        sub.subscribed = true;
        subscribers.add(sub);
      }
      replies.push(`{"id":${id},"subscribe":{}}`);
    }
    // Anything else (e.g. a `{}` pong) is ignored.
  }
  if (replies.length > 0) ws.send(replies.join('\n'));
}

function main(): void {
  const { port, host, watchStdin } = parseArgs(process.argv.slice(2));
  if (watchStdin) {
    // Exit when the orchestrator goes away, even if it was killed outright.
    process.stdin.on('end', () => process.exit(0));
    process.stdin.on('error', () => process.exit(0));
    process.stdin.resume();
  }
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    clientTracking: false,
    maxPayload: 64 * 1024,
  });

  const server = http.createServer((req, res) => {
    if (req.method === 'POST' && (req.url === '/publish' || req.url === '/api/publish')) {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let body: { channel?: unknown; data?: unknown };
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
        } catch {
          res.writeHead(400).end('{"error":{"code":107,"message":"bad request"}}');
          return;
        }
        const payload = `{"push":{"channel":"bench","pub":{"data":${JSON.stringify(body.data ?? null)}}}}`;
        broadcast(buildFrame(payload));
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"result":{}}');
      });
      return;
    }
    res.writeHead(404).end();
  });
  server.keepAliveTimeout = 60_000;

  server.on('upgrade', (req, socket, head) => {
    const url = req.url ?? '/';
    if (!url.startsWith('/connection/websocket') && url !== '/') {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const sock = (ws as unknown as { _socket: Socket })._socket;
      const sub: Subscriber = { sock, pending: [], subscribed: false };
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary) return;
        handleCommands(ws, sub, data.toString('utf8'));
      });
      ws.on('close', () => { subscribers.delete(sub); });
      ws.on('error', () => { subscribers.delete(sub); });
    });
  });

  server.listen({ port, host, backlog: 4096 }, () => {
    const addr = server.address();
    const actual = typeof addr === 'object' && addr !== null ? addr.port : port;
    process.stdout.write(`LISTENING ${actual}\n`);
  });

  const stop = (): void => { process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
