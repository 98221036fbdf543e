/**
 * Bidirectional WebSocket transport at /connection/websocket (protocol.md §11.1).
 * JSON goes in text frames, Protobuf in binary frames; each flush of the connection's
 * writer becomes one WebSocket message. Oversized incoming messages close with 1009.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { codecFor, type Codec } from '../protocol/codec.js';
import type { Disconnect } from '../protocol/codes.js';
import type { ProtocolType } from '../protocol/types.js';
import type { Node } from '../core/node.js';
import type { ClientSession } from '../core/client/client.js';
import type { Transport, TransportRequest } from '../core/transport.js';

export interface WebSocketOptions {
  /** Largest incoming message in bytes (close 1009 above it). */
  messageSizeLimit?: number;
  compression?: boolean;
  /** Interval of WebSocket ping frames for `cf_ws_frame_ping_pong=true` connections. */
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
}

const closeWaitMs = 5000;

/** ws readyState of an open connection. */
const OPEN = 1;

/**
 * The last WebSocket frame built for each opcode (text, binary) and the items it carries.
 * A publication fanned out in one event-loop turn leaves every subscriber's writer with
 * the same items, so their frame is built once and the same bytes go to every socket.
 * Items are compared by identity: encoded items are never modified once queued.
 */
interface FrameCache {
  items: Uint8Array[] | undefined;
  frame: Buffer;
  /** The last frame of one tiny item (a ping, mostly), reused when the next has the same bytes. */
  tinyPayload: Uint8Array;
  tinyFrame: Buffer;
}

const emptyCache = (): FrameCache => ({ items: undefined, frame: Buffer.alloc(0), tinyPayload: new Uint8Array(0), tinyFrame: Buffer.alloc(0) });
const frameCaches: [text: FrameCache, binary: FrameCache] = [emptyCache(), emptyCache()];

/** Items up to this size are matched by content (pings are encoded afresh per connection). */
const TINY_ITEM = 16;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One unmasked, unfragmented server frame: FIN + opcode, payload length, payload. */
export function buildFrame(payload: Uint8Array, binary: boolean): Buffer {
  const len = payload.length;
  const header = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + len);
  frame[0] = binary ? 0x82 : 0x81;
  if (len < 126) {
    frame[1] = len;
  } else if (len < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(len, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(len / 0x100000000), 2);
    frame.writeUInt32BE(len >>> 0, 6);
  }
  frame.set(payload, header);
  return frame;
}

/** The frame carrying `items` (joined as one message), reused when the previous call had the same items. */
function framedItems(items: Uint8Array[], binary: boolean, codec: Codec): Buffer {
  const cache = frameCaches[binary ? 1 : 0];
  const prev = cache.items;
  if (prev !== undefined && prev.length === items.length) {
    let same = true;
    for (let i = 0; i < items.length; i++) {
      if (prev[i] !== items[i]) {
        same = false;
        break;
      }
    }
    if (same) return cache.frame;
  }
  let frame: Buffer;
  const single = items.length === 1 ? items[0]! : undefined;
  if (single !== undefined && single.length <= TINY_ITEM) {
    if (!sameBytes(single, cache.tinyPayload)) {
      cache.tinyPayload = Uint8Array.from(single);
      cache.tinyFrame = buildFrame(single, binary);
    }
    frame = cache.tinyFrame;
  } else {
    frame = buildFrame(single ?? codec.joinFrame(items), binary);
  }
  cache.items = items;
  cache.frame = frame;
  return frame;
}

class WebSocketTransport implements Transport {
  // Constant and derived properties are getters: one of these lives per connection, so
  // every field counts.
  get name(): string {
    return 'websocket';
  }
  get unidirectional(): boolean {
    return false;
  }
  get emulation(): boolean {
    return false;
  }
  get disconnectPush(): boolean {
    return false;
  }
  /** App-level pings unless the connection asked for WebSocket ping frames. */
  get appLevelPing(): boolean {
    return this.pinger === undefined;
  }
  private get binary(): boolean {
    return this.protocol === 'protobuf';
  }
  private get codec(): Codec {
    return codecFor(this.protocol);
  }
  /** The TCP socket, for writing prebuilt frames; undefined when an extension (compression) is in use. */
  private readonly socket: Socket | undefined;
  private closed = false;
  /** The session fed by this socket; set right after the session is created. */
  client: ClientSession | undefined = undefined;

  constructor(
    private readonly ws: WebSocket,
    readonly protocol: ProtocolType,
    /** Set for `cf_ws_frame_ping_pong` connections: the pinger that sends them WebSocket pings. */
    readonly pinger: FramePinger | undefined,
  ) {
    // Without extensions a frame is just header + payload, so it can be built once and
    // written straight to the socket. ws has no public accessor for its socket.
    this.socket = ws.extensions === '' ? (ws as unknown as { _socket: Socket })._socket : undefined;
  }

  writeItems(items: Uint8Array[]): void {
    if (this.closed) return;
    if (this.socket !== undefined && this.ws.readyState === OPEN) {
      this.socket.write(framedItems(items, this.binary, this.codec));
      return;
    }
    // Compressed connections, and the closing handshake (ws keeps its after-close accounting).
    this.ws.send(items.length === 1 ? items[0]! : this.codec.joinFrame(items), { binary: this.binary });
  }

  bufferedBytes(): number {
    // Frames written directly bypass ws's sender, whose own backlog then stays empty.
    return this.socket !== undefined && this.ws.readyState === OPEN ? this.socket.writableLength : this.ws.bufferedAmount;
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

/** ws's WebSocket with a slot for its transport, so that event listeners can be shared functions. */
class GyreWebSocket extends WebSocket {
  transport: WebSocketTransport | undefined = undefined;
}

function onSocketMessage(this: WebSocket, data: RawData): void {
  (this as GyreWebSocket).transport?.client?.handleFrame(toBytes(data));
}

function onSocketClose(this: WebSocket): void {
  const transport = (this as GyreWebSocket).transport;
  if (!transport) return;
  transport.markClosed();
  transport.pinger?.remove(this);
  transport.client?.transportClosed();
}

function onSocketError(this: WebSocket, err: Error): void {
  const client = (this as GyreWebSocket).transport?.client;
  client?.node.logger.debug({ client: client.id, err: err.message }, 'websocket error');
}

/**
 * The upgrade request as the session sees it. The peer address is read from the socket on
 * first use and kept: reading it makes Node cache an address object on the socket, which
 * most connections never need.
 */
class UpgradeRequest implements TransportRequest {
  readonly headers: IncomingMessage['headers'];
  private socket: Socket | undefined;
  private address: string | undefined;

  constructor(req: IncomingMessage) {
    this.headers = req.headers;
    this.socket = req.socket;
  }

  get remoteAddress(): string | undefined {
    if (this.socket !== undefined) {
      this.address = this.socket.remoteAddress;
      this.socket = undefined;
    }
    return this.address;
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
      WebSocket: GyreWebSocket,
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
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws as GyreWebSocket, req, protocol, framePingPong));
  }

  private accept(ws: GyreWebSocket, req: IncomingMessage, protocol: ProtocolType, framePingPong: boolean): void {
    const transport = new WebSocketTransport(ws, protocol, framePingPong ? this.pinger : undefined);
    ws.transport = transport;
    transport.client = this.node.createClient(transport, new UpgradeRequest(req));
    if (framePingPong) this.pinger.add(ws);
    // Shared listener functions (no closures per connection): they find the session through the socket.
    ws.on('message', onSocketMessage);
    ws.on('close', onSocketClose);
    ws.on('error', onSocketError);
  }

  close(): void {
    this.pinger.close();
    this.wss.close();
  }
}

function toBytes(data: RawData): Uint8Array {
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
