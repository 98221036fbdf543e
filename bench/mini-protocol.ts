// The slice of the Centrifugo client protocol that the comparison servers of the
// benchmark (reference-server.ts, plain-ws-server.ts) speak, plus their shared HTTP
// publish endpoint and WebSocket plumbing. Only what the load client uses exists here:
//
//   commands  connect (any body) and subscribe {channel}; everything else is ignored
//             (a `{}` / empty Protobuf command is a pong)
//   replies   {"id":1,"connect":{"client":"x"}}  and  {"id":2,"subscribe":{}}
//   push      {"push":{"channel":C,"pub":{"data":<payload>}}}
//
// JSON connections use text frames with newline-separated items; Protobuf connections
// (subprotocol centrifuge-protobuf) binary frames of varint-length-prefixed messages,
// publication data carried as the bytes of its JSON text (as Centrifugo does).
//
// Publishing: POST /api/publish (or /publish) with the Gyre API body
// {"channel":C,"data":<json>}; answers {"result":{}}.

import http from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export type Proto = 'json' | 'protobuf';

/** One decoded client command: what the comparison servers act on. */
export interface MiniCommand {
  id: number;
  kind: 'connect' | 'subscribe' | 'other';
  channel: string;
}

// ---------------------------------------------------------------------------
// Protobuf wire helpers (just varints and length-delimited fields)

function varintLength(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function putVarint(out: Buffer, pos: number, v: number): number {
  while (v >= 0x80) {
    out[pos++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[pos++] = v;
  return pos;
}

function readVarint(buf: Uint8Array, pos: number): [value: number, next: number] {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++]!;
    v += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return [v, pos];
    mul *= 128;
  }
  throw new Error('varint too long');
}

/** Field `num` with wire type 2 (bytes or sub-message): tag, length, content. */
function lenField(num: number, content: Uint8Array): Buffer {
  const tag = (num << 3) | 2;
  const out = Buffer.allocUnsafe(varintLength(tag) + varintLength(content.length) + content.length);
  let pos = putVarint(out, 0, tag);
  pos = putVarint(out, pos, content.length);
  out.set(content, pos);
  return out;
}

function varintField(num: number, v: number): Buffer {
  const tag = num << 3;
  const out = Buffer.allocUnsafe(varintLength(tag) + varintLength(v));
  putVarint(out, putVarint(out, 0, tag), v);
  return out;
}

/** Prefixes a message with its varint length: one item of a Protobuf frame. */
function item(msg: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(varintLength(msg.length) + msg.length);
  out.set(msg, putVarint(out, 0, msg.length));
  return out;
}

/** Iterates the top-level fields of a message; calls fn for length-delimited ones. */
function eachLenField(msg: Uint8Array, fn: (num: number, start: number, end: number) => void): void {
  let pos = 0;
  while (pos < msg.length) {
    let key: number;
    [key, pos] = readVarint(msg, pos);
    const num = key >>> 3;
    switch (key & 7) {
      case 0:
        [, pos] = readVarint(msg, pos);
        break;
      case 1:
        pos += 8;
        break;
      case 5:
        pos += 4;
        break;
      case 2: {
        let len: number;
        [len, pos] = readVarint(msg, pos);
        fn(num, pos, pos + len);
        pos += len;
        break;
      }
      default:
        throw new Error('bad wire type');
    }
  }
}

function readUint(msg: Uint8Array, field: number): number {
  let pos = 0;
  while (pos < msg.length) {
    let key: number;
    [key, pos] = readVarint(msg, pos);
    const wt = key & 7;
    if (wt === 0) {
      let v: number;
      [v, pos] = readVarint(msg, pos);
      if (key >>> 3 === field) return v;
    } else if (wt === 2) {
      let len: number;
      [len, pos] = readVarint(msg, pos);
      pos += len;
    } else if (wt === 1) pos += 8;
    else if (wt === 5) pos += 4;
    else throw new Error('bad wire type');
  }
  return 0;
}

// ---------------------------------------------------------------------------
// commands and replies

/** Decodes the commands of one client frame. Throws on malformed input. */
export function decodeCommands(proto: Proto, frame: Buffer): MiniCommand[] {
  const out: MiniCommand[] = [];
  if (proto === 'json') {
    for (const line of frame.toString('utf8').split('\n')) {
      if (line.length === 0) continue;
      const cmd = JSON.parse(line) as Record<string, unknown>;
      const id = typeof cmd.id === 'number' ? cmd.id : 0;
      if (cmd.connect !== undefined) out.push({ id, kind: 'connect', channel: '' });
      else if (cmd.subscribe !== undefined) {
        const ch = (cmd.subscribe as { channel?: unknown }).channel;
        out.push({ id, kind: 'subscribe', channel: typeof ch === 'string' ? ch : '' });
      } else out.push({ id, kind: 'other', channel: '' });
    }
    return out;
  }
  let pos = 0;
  while (pos < frame.length) {
    let len: number;
    [len, pos] = readVarint(frame, pos);
    const msg = frame.subarray(pos, pos + len);
    pos += len;
    const cmd: MiniCommand = { id: readUint(msg, 1), kind: 'other', channel: '' };
    eachLenField(msg, (num, s, e) => {
      if (num === 4) cmd.kind = 'connect';
      else if (num === 5) {
        cmd.kind = 'subscribe';
        eachLenField(msg.subarray(s, e), (n2, s2, e2) => {
          if (n2 === 1) cmd.channel = msg.subarray(s + s2, s + e2).toString('utf8');
        });
      }
    });
    out.push(cmd);
  }
  return out;
}

/** The reply to connect or subscribe, as one item (no separator or frame). */
export function encodeReply(proto: Proto, cmd: MiniCommand): Buffer {
  if (proto === 'json') {
    return Buffer.from(cmd.kind === 'connect' ? `{"id":${cmd.id},"connect":{"client":"x"}}` : `{"id":${cmd.id},"subscribe":{}}`);
  }
  const body = cmd.kind === 'connect' ? lenField(5, lenField(1, Buffer.from('x'))) : lenField(6, Buffer.alloc(0));
  return item(Buffer.concat([varintField(1, cmd.id), body]));
}

/** Joins reply items into one frame payload. */
export function joinItems(proto: Proto, items: Buffer[]): Buffer {
  if (proto === 'protobuf') return Buffer.concat(items);
  const parts: Buffer[] = [];
  items.forEach((it, i) => {
    if (i > 0) parts.push(Buffer.from('\n'));
    parts.push(it);
  });
  return Buffer.concat(parts);
}

/** The publication push for `channel`; `dataJson` is the publication data as JSON text. */
export function encodePublication(proto: Proto, channel: string, dataJson: string): Buffer {
  if (proto === 'json') return Buffer.from(`{"push":{"channel":${JSON.stringify(channel)},"pub":{"data":${dataJson}}}}`);
  const pub = lenField(4, Buffer.from(dataJson));
  const push = Buffer.concat([lenField(2, Buffer.from(channel)), lenField(4, pub)]);
  return item(lenField(4, push));
}

// ---------------------------------------------------------------------------
// server plumbing shared by the comparison servers

/** What a comparison server does with subscribers and publications. */
export interface FanoutStrategy {
  /** A connection subscribed to `channel`. */
  subscribe(conn: MiniConnection, channel: string): void;
  /** The connection went away. */
  remove(conn: MiniConnection): void;
  /** Broadcasts one publication (data as JSON text) to the channel's subscribers. */
  publish(channel: string, dataJson: string): void;
}

/** One accepted WebSocket connection. */
export interface MiniConnection {
  ws: WebSocket;
  sock: Socket;
  proto: Proto;
  channels: Set<string>;
}

export interface ServerArgs {
  port: number;
  host: string;
  watchStdin: boolean;
}

/**
 * The comparison servers' publish endpoint, `POST /api/publish` (or `/publish`) with
 * `{"channel": …, "data": …}`: parses the body, hands channel and data to `publish` and
 * answers `{"result":{}}` (400 for a body that is not JSON or has no channel). Returns
 * false, touching nothing, for other requests.
 */
export function servePublish(req: http.IncomingMessage, res: http.ServerResponse, publish: (channel: string, data: unknown) => void): boolean {
  if (req.method !== 'POST' || (req.url !== '/publish' && req.url !== '/api/publish')) return false;
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let body: { channel?: unknown; data?: unknown } | undefined;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
    } catch {
      body = undefined;
    }
    if (typeof body?.channel !== 'string' || body.channel === '') {
      res.writeHead(400, { 'Content-Length': '46' }).end('{"error":{"code":107,"message":"bad request"}}');
      return;
    }
    publish(body.channel, body.data);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '13' }).end('{"result":{}}');
  });
  return true;
}

export function parseServerArgs(argv: string[]): ServerArgs {
  const args: ServerArgs = { port: 0, host: '127.0.0.1', watchStdin: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--port' && v !== undefined) { args.port = Number(v); i++; }
    else if (a === '--host' && v !== undefined) { args.host = v; i++; }
    else if (a === '--watch-stdin') args.watchStdin = true;
  }
  return args;
}

/**
 * Runs an HTTP server with the publish endpoint and WebSocket upgrades at
 * /connection/websocket, handing subscriptions and publications to `strategy`.
 */
export function runMiniServer(args: ServerArgs, strategy: FanoutStrategy): void {
  if (args.watchStdin) {
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
    handleProtocols: (protocols) => (protocols.has('centrifuge-protobuf') ? 'centrifuge-protobuf' : false),
  });

  const server = http.createServer((req, res) => {
    if (servePublish(req, res, (channel, data) => strategy.publish(channel, JSON.stringify(data ?? null)))) return;
    res.writeHead(404, { 'Content-Length': '0' }).end();
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
      const conn: MiniConnection = { ws, sock, proto: ws.protocol === 'centrifuge-protobuf' ? 'protobuf' : 'json', channels: new Set() };
      const binary = conn.proto === 'protobuf';
      ws.on('message', (data: Buffer) => {
        let cmds: MiniCommand[];
        try {
          cmds = decodeCommands(conn.proto, data);
        } catch {
          ws.close(3501, 'bad request');
          return;
        }
        const replies: Buffer[] = [];
        for (const cmd of cmds) {
          if (cmd.kind === 'connect') replies.push(encodeReply(conn.proto, cmd));
          else if (cmd.kind === 'subscribe') {
            if (!conn.channels.has(cmd.channel)) {
              conn.channels.add(cmd.channel);
              strategy.subscribe(conn, cmd.channel);
            }
            replies.push(encodeReply(conn.proto, cmd));
          }
        }
        if (replies.length > 0) ws.send(joinItems(conn.proto, replies), { binary });
      });
      ws.on('close', () => strategy.remove(conn));
      ws.on('error', () => strategy.remove(conn));
    });
  });

  server.listen({ port: args.port, host: args.host, backlog: 4096 }, () => {
    const addr = server.address();
    const actual = typeof addr === 'object' && addr !== null ? addr.port : args.port;
    process.stdout.write(`LISTENING ${actual}\n`);
  });

  const stop = (): void => { process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
