// uWebSockets.js comparison server for the benchmark: the C++ fan-out of uWebSockets.js
// (the `uwebsockets` npm package, a republish of its prebuilt binaries, installed under
// bench/uws/ by run.ts on first use; see bench/README.md).
//
// It speaks the protocol subset of mini-protocol.ts (connect, subscribe by channel name,
// publication push in JSON and Protobuf; POST /api/publish with {"channel","data"} answered
// {"result":{}}). A subscription is a uWS topic per protocol ("j:<channel>", "p:<channel>");
// a publication is encoded once per protocol present and handed to app.publish, which queues
// the same message to every subscriber in C++ and writes each subscriber's messages of one
// event-loop turn together (uWS corks per socket). No pings, no per-connection state beyond
// uWS's own, like reference-server.ts.
//
// Usage: node dist/bench/uws-server.js --port N [--host 127.0.0.1] [--watch-stdin]

import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeCommands, encodePublication, encodeReply, joinItems, parseServerArgs, type MiniCommand, type Proto } from './mini-protocol.js';

// The slice of the uWebSockets.js API used here (its own typings live in bench/uws/node_modules).
interface UwsSocket {
  getUserData(): { proto: Proto };
  send(message: Uint8Array, isBinary: boolean): number;
  subscribe(topic: string): boolean;
  end(code: number, reason: string): void;
}
interface UwsRequest {
  getHeader(name: string): string;
  getMethod(): string;
}
interface UwsResponse {
  upgrade(data: { proto: Proto }, key: string, protocol: string, extensions: string, context: unknown): void;
  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): UwsResponse;
  onAborted(handler: () => void): UwsResponse;
  writeStatus(status: string): UwsResponse;
  writeHeader(key: string, value: string): UwsResponse;
  end(body?: string): UwsResponse;
}
interface UwsApp {
  ws(pattern: string, behavior: Record<string, unknown>): UwsApp;
  post(pattern: string, handler: (res: UwsResponse, req: UwsRequest) => void): UwsApp;
  any(pattern: string, handler: (res: UwsResponse, req: UwsRequest) => void): UwsApp;
  listen(host: string, port: number, cb: (token: unknown) => void): UwsApp;
  publish(topic: string, message: Uint8Array, isBinary: boolean): boolean;
  numSubscribers(topic: string): number;
}
interface UwsModule {
  App(): UwsApp;
  DISABLED: number;
  us_socket_local_port(token: unknown): number;
}

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const uwsDir = path.resolve(here, '../../bench/uws');
const uws = createRequire(path.join(uwsDir, 'package.json'))('uwebsockets') as UwsModule;

/** Unsent bytes tolerated per socket (as reference-server.ts); past it uWS skips the socket. */
const MAX_BACKPRESSURE = 16 * 1024 * 1024;

const args = parseServerArgs(process.argv.slice(2));
if (args.watchStdin) {
  // Exit when the orchestrator goes away, even if it was killed outright.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}

const topicOf = (proto: Proto, channel: string): string => (proto === 'json' ? 'j:' : 'p:') + channel;

function onMessage(ws: UwsSocket, message: ArrayBuffer): void {
  const proto = ws.getUserData().proto;
  let cmds: MiniCommand[];
  try {
    // A view, not a copy: the message is only valid during this callback, and is decoded here.
    cmds = decodeCommands(proto, Buffer.from(message));
  } catch {
    ws.end(3501, 'bad request');
    return;
  }
  const replies: Buffer[] = [];
  for (const cmd of cmds) {
    if (cmd.kind === 'connect') replies.push(encodeReply(proto, cmd));
    else if (cmd.kind === 'subscribe') {
      ws.subscribe(topicOf(proto, cmd.channel));
      replies.push(encodeReply(proto, cmd));
    }
  }
  if (replies.length > 0) ws.send(joinItems(proto, replies), proto === 'protobuf');
}

function publish(app: UwsApp, channel: string, dataJson: string): void {
  for (const proto of ['json', 'protobuf'] as const) {
    const topic = topicOf(proto, channel);
    if (app.numSubscribers(topic) > 0) app.publish(topic, encodePublication(proto, channel, dataJson), proto === 'protobuf');
  }
}

function answer(res: UwsResponse, status: string, body: string): void {
  res.writeStatus(status).writeHeader('Content-Type', 'application/json').end(body);
}

function servePublish(app: UwsApp, res: UwsResponse): void {
  const chunks: Buffer[] = [];
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  res.onData((chunk, isLast) => {
    // Chunks are neutered after the callback: copy them.
    chunks.push(Buffer.from(new Uint8Array(chunk)));
    if (!isLast || aborted) return;
    let body: { channel?: unknown; data?: unknown } | undefined;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
    } catch {
      body = undefined;
    }
    if (typeof body?.channel !== 'string' || body.channel === '') {
      answer(res, '400 Bad Request', '{"error":{"code":107,"message":"bad request"}}');
      return;
    }
    publish(app, body.channel, JSON.stringify(body.data ?? null));
    answer(res, '200 OK', '{"result":{}}');
  });
}

const app = uws.App();
app.ws('/*', {
  compression: uws.DISABLED,
  maxPayloadLength: 64 * 1024,
  maxBackpressure: MAX_BACKPRESSURE,
  closeOnBackpressureLimit: false,
  idleTimeout: 0,
  sendPingsAutomatically: false,
  upgrade(res: UwsResponse, req: UwsRequest, context: unknown) {
    const offered = req.getHeader('sec-websocket-protocol');
    const protobuf = offered.split(',').some((p) => p.trim() === 'centrifuge-protobuf');
    res.upgrade({ proto: protobuf ? 'protobuf' : 'json' }, req.getHeader('sec-websocket-key'), protobuf ? 'centrifuge-protobuf' : '', '', context);
  },
  message: onMessage,
});
app.post('/api/publish', (res) => servePublish(app, res));
app.post('/publish', (res) => servePublish(app, res));
app.any('/*', (res) => {
  res.writeStatus('404 Not Found').end();
});
app.listen(args.host, args.port, (token) => {
  if (!token) {
    process.stderr.write(`error: cannot listen on ${args.host}:${args.port}\n`);
    process.exit(1);
  }
  process.stdout.write(`LISTENING ${uws.us_socket_local_port(token)}\n`);
});

const stop = (): void => {
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
