/**
 * Bidirectional WebSocket transport at /connection/websocket (protocol.md §11.1).
 * JSON goes in text frames, Protobuf in binary frames; each flush of the connection's
 * writer becomes one WebSocket message. Oversized incoming messages close with 1009.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { codecFor } from '../protocol/codec.js';
import type { Disconnect } from '../protocol/codes.js';
import type { ProtocolType } from '../protocol/types.js';
import type { Node } from '../core/node.js';
import type { ClientSession } from '../core/client/client.js';
import type { Transport } from '../core/transport.js';

export interface WebSocketOptions {
  /** Largest incoming message in bytes (close 1009 above it). */
  messageSizeLimit?: number;
  compression?: boolean;
  /** Interval of WebSocket ping frames for `cf_ws_frame_ping_pong=true` connections. */
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
}

const closeWaitMs = 5000;

class WebSocketTransport implements Transport {
  readonly name = 'websocket';
  readonly unidirectional = false;
  readonly emulation = false;
  readonly disconnectPush = false;
  readonly appLevelPing: boolean;
  private readonly binary: boolean;
  private readonly codec;
  private closed = false;

  constructor(
    private readonly ws: WebSocket,
    readonly protocol: ProtocolType,
    framePingPong: boolean,
  ) {
    this.appLevelPing = !framePingPong;
    this.binary = protocol === 'protobuf';
    this.codec = codecFor(protocol);
  }

  writeItems(items: Uint8Array[]): void {
    if (this.closed) return;
    const frame = items.length === 1 ? items[0]! : this.codec.joinFrame(items);
    this.ws.send(frame, { binary: this.binary });
  }

  bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  close(d: Disconnect): void {
    if (this.closed) return;
    this.closed = true;
    const ws = this.ws;
    try {
      ws.close(d.code, truncateReason(d.reason));
    } catch {
      // A code the WebSocket protocol cannot carry: drop the connection instead.
      ws.terminate();
      return;
    }
    setTimeout(() => ws.terminate(), closeWaitMs).unref();
  }

  markClosed(): void {
    this.closed = true;
  }
}

/**
 * Keeps sockets alive with WebSocket ping frames on one shared interval: a socket that
 * neither answered the previous ping nor sent anything since is terminated.
 */
export class FramePinger {
  private readonly sockets = new Map<WebSocket, { alive: boolean }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs: number) {}

  add(ws: WebSocket): void {
    const state = { alive: true };
    this.sockets.set(ws, state);
    ws.on('pong', () => (state.alive = true));
    ws.on('message', () => (state.alive = true));
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
    }
  }

  remove(ws: WebSocket): void {
    this.sockets.delete(ws);
    if (this.sockets.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private tick(): void {
    for (const [ws, state] of this.sockets) {
      if (!state.alive) {
        ws.terminate();
        continue;
      }
      state.alive = false;
      ws.ping();
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sockets.clear();
  }
}

function protocolOf(req: IncomingMessage, url: URL): ProtocolType {
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
  if (offered.includes('centrifuge-protobuf')) return 'protobuf';
  const q = url.searchParams.get('cf_protocol') ?? url.searchParams.get('format');
  return q === 'protobuf' ? 'protobuf' : 'json';
}

/** Accepts WebSocket upgrades and binds each socket to a client session of the node. */
export class WebSocketHandler {
  private readonly wss: WebSocketServer;
  private readonly pinger: FramePinger;

  constructor(
    private readonly node: Node,
    opts: WebSocketOptions = {},
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: opts.messageSizeLimit || 65536,
      perMessageDeflate: opts.compression ? { threshold: 0 } : false,
      clientTracking: false,
      handleProtocols: (protocols) => {
        if (protocols.has('centrifuge-protobuf')) return 'centrifuge-protobuf';
        if (protocols.has('centrifuge-json')) return 'centrifuge-json';
        return false;
      },
    });
    this.pinger = new FramePinger(opts.pingIntervalMs || 25_000);
  }

  /** Completes an upgrade request that the server routed to this transport. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const protocol = protocolOf(req, url);
    const framePingPong = url.searchParams.get('cf_ws_frame_ping_pong') === 'true';
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req, protocol, framePingPong));
  }

  private accept(ws: WebSocket, req: IncomingMessage, protocol: ProtocolType, framePingPong: boolean): void {
    const transport = new WebSocketTransport(ws, protocol, framePingPong);
    const client: ClientSession = this.node.createClient(transport, { headers: req.headers, remoteAddress: req.socket.remoteAddress });
    if (framePingPong) this.pinger.add(ws);
    ws.on('message', (data, isBinary) => {
      void isBinary;
      client.handleFrame(toBytes(data));
    });
    ws.on('close', () => {
      transport.markClosed();
      this.pinger.remove(ws);
      client.transportClosed();
    });
    ws.on('error', (err) => {
      this.node.logger.debug({ client: client.id, err: err.message }, 'websocket error');
    });
  }

  close(): void {
    this.pinger.close();
    this.wss.close();
  }
}

function toBytes(data: Buffer | ArrayBuffer | Buffer[]): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}

/** Close reasons must fit a close frame: at most 123 bytes of UTF-8, cut on a character boundary. */
export function truncateReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let out = '';
  for (const ch of reason) {
    if (Buffer.byteLength(out + ch) > 123) break;
    out += ch;
  }
  return out;
}
