// Reference fan-out server for the benchmark: the lower bound a Node fan-out can
// reasonably reach with `ws`.
//
// Subscribers are kept per channel. The WebSocket frame of each publication is built
// once per protocol (JSON text frame, Protobuf binary frame) and the same bytes are
// queued on every subscriber's net.Socket; queued frames are flushed once per
// event-loop turn per socket (cork/uncork -> one writev). It speaks the protocol
// subset of mini-protocol.ts (JSON and Protobuf, connect + subscribe by channel name).
//
// Usage: node dist/bench/reference-server.js --port N [--host 127.0.0.1] [--watch-stdin]
// (--watch-stdin: exit when stdin closes; run.ts uses it so no server outlives it)

import type { Socket } from 'node:net';
import * as wsModule from 'ws';
import { encodePublication, parseServerArgs, runMiniServer, type MiniConnection, type Proto } from './mini-protocol.js';

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
  conn: MiniConnection;
  sock: Socket;
  /** Frames queued during the current event-loop turn. */
  pending: Buffer[];
}

const channels = new Map<string, Set<Subscriber>>();
const byConn = new Map<MiniConnection, Subscriber>();
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

function buildFrame(payload: Buffer, proto: Proto): Buffer {
  const parts = frameFn(payload, { fin: true, opcode: proto === 'json' ? 1 : 2, mask: false, readOnly: true, rsv1: false });
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

runMiniServer(parseServerArgs(process.argv.slice(2)), {
  subscribe(conn, channel) {
    let sub = byConn.get(conn);
    if (!sub) {
      sub = { conn, sock: conn.sock, pending: [] };
      byConn.set(conn, sub);
    }
    let set = channels.get(channel);
    if (!set) {
      set = new Set();
      channels.set(channel, set);
    }
    set.add(sub);
  },
  remove(conn) {
    const sub = byConn.get(conn);
    if (!sub) return;
    byConn.delete(conn);
    for (const ch of conn.channels) {
      const set = channels.get(ch);
      if (!set) continue;
      set.delete(sub);
      if (set.size === 0) channels.delete(ch);
    }
  },
  publish(channel, dataJson) {
    const set = channels.get(channel);
    if (!set) return;
    let json: Buffer | undefined;
    let protobuf: Buffer | undefined;
    for (const sub of set) {
      let frame: Buffer;
      if (sub.conn.proto === 'json') frame = json ??= buildFrame(encodePublication('json', channel, dataJson), 'json');
      else frame = protobuf ??= buildFrame(encodePublication('protobuf', channel, dataJson), 'protobuf');
      if (sub.pending.length === 0) dirty.push(sub);
      sub.pending.push(frame);
    }
    if (!flushScheduled && dirty.length > 0) {
      flushScheduled = true;
      setImmediate(flush);
    }
  },
});
