/**
 * Bidirectional WebSocket transport at /connection/websocket (protocol.md §11.1).
 * JSON goes in text frames, Protobuf in binary frames; each flush of the connection's
 * writer becomes one WebSocket message. Oversized incoming messages close with 1009.
 * Connections without compression use Gyre's own handshake and frame reader on the TCP
 * socket (ws-frames.ts); permessage-deflate connections go through the `ws` package.
 */
import { createHash } from 'node:crypto';
import { STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { codecFor, jsonCodec, protobufCodec, type Codec } from '../protocol/codec.js';
import type { Disconnect } from '../protocol/codes.js';
import type { ProtocolType } from '../protocol/types.js';
import type { Node } from '../core/node.js';
import type { ClientSession } from '../core/client/client.js';
import type { Transport, TransportRequest } from '../core/transport.js';
import {
  closeFrame,
  framedItems,
  pingFrame,
  pongFrame,
  readFrames,
  sendableCloseCode,
  truncateReason,
  type FrameReader,
  type Fragments,
  type PendingFrame,
} from './ws-frames.js';

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

/** A connection the FramePinger keeps alive. */
export interface PingTarget {
  /** Whether anything (a pong, a message) arrived since the last ping; the pinger clears it when pinging. */
  alive: boolean;
  /** Sends a WebSocket ping frame (nothing once the connection is closing). */
  sendPing(): void;
  /** Drops the connection without a closing handshake. */
  terminate(): void;
}

/** A ws WebSocket (compressed and unidirectional connections) as a ping target. */
class WsPingTarget implements PingTarget {
  alive = true;
  constructor(private readonly ws: WebSocket) {}
  readonly mark = (): void => {
    this.alive = true;
  };
  sendPing(): void {
    this.ws.ping();
  }
  terminate(): void {
    this.ws.terminate();
  }
}

/**
 * Keeps connections alive with WebSocket ping frames on one shared interval: a connection
 * that neither answered the previous ping nor sent anything since is terminated. Takes
 * lean connections (which track their own liveness) and ws WebSockets.
 */
export class FramePinger {
  private readonly targets = new Map<WebSocket | PingTarget, PingTarget>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs: number) {}

  add(conn: WebSocket | PingTarget): void {
    let target: PingTarget;
    if (conn instanceof WebSocket) {
      const t = new WsPingTarget(conn);
      conn.on('pong', t.mark);
      conn.on('message', t.mark);
      target = t;
    } else {
      target = conn;
      target.alive = true;
    }
    this.targets.set(conn, target);
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
    }
  }

  remove(conn: WebSocket | PingTarget): void {
    this.targets.delete(conn);
    if (this.targets.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private tick(): void {
    for (const t of this.targets.values()) {
      if (!t.alive) {
        t.terminate();
        continue;
      }
      t.alive = false;
      t.sendPing();
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.targets.clear();
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

/** Request headers that only serve the handshake itself; sessions do not keep them. */
const handshakeHeaders = new Set(['connection', 'upgrade', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions']);
/** Headers whose values most connections share; their values are kept once (see sessionHeaders). */
const sharedValueHeaders = new Set(['host', 'origin', 'user-agent', 'sec-websocket-protocol', 'accept-encoding', 'accept-language', 'cache-control', 'pragma']);
const internedValues = new Map<string, string>();
const maxInterned = 1024;

/**
 * The upgrade request's headers as a session keeps them for its lifetime: without the
 * handshake-only ones, and with common values (Host, Origin, User-Agent, ...) shared between
 * connections instead of a fresh string each, since every byte here is paid per connection.
 */
function sessionHeaders(h: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const name in h) {
    if (handshakeHeaders.has(name)) continue;
    let v = h[name];
    if (typeof v === 'string' && sharedValueHeaders.has(name)) {
      const kept = internedValues.get(v);
      if (kept !== undefined) v = kept;
      else if (internedValues.size < maxInterned && v.length <= 512) internedValues.set(v, v);
    }
    out[name] = v;
  }
  return out;
}

/**
 * The upgrade request as the session sees it. The peer address is read from the socket on
 * first use and kept: reading it makes Node cache an address object on the socket, which
 * most connections never need.
 */
class UpgradeRequest implements TransportRequest {
  readonly headers: IncomingHttpHeaders;
  private socket: Socket | undefined;
  private address: string | undefined;

  constructor(req: IncomingMessage) {
    this.headers = sessionHeaders(req.headers);
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

/** Connection flags of a lean WebSocket, kept in one number. */
const PROTOBUF = 1;
/** `cf_ws_frame_ping_pong=true`: keepalive by WebSocket ping frames (the handler's FramePinger). */
const FRAME_PING = 2;
/** A close frame went out (or the socket is going away): nothing more is written. */
const CLOSE_SENT = 4;
/** A close frame came in, or the peer broke the protocol: nothing more is read. */
const READ_DONE = 8;
/** Something arrived since the FramePinger's last ping. */
const ALIVE = 16;

/** Where a socket keeps its lean connection, so that socket listeners can be shared functions. */
const kConnection = Symbol('gyre.websocket');
type LeanSocket = Socket & { [kConnection]?: LeanWebSocket };

/**
 * A WebSocket connection without extensions, on the TCP socket directly: the transport of
 * one session, the state of its frame reader, its upgrade request and its ping target, all
 * in one object with few fields (constant and derived properties are getters), since one
 * lives per connection. Notifies the session once, when the socket closes.
 */
class LeanWebSocket implements Transport, TransportRequest, FrameReader, PingTarget {
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
  get appLevelPing(): boolean {
    return (this.flags & FRAME_PING) === 0;
  }
  get protocol(): ProtocolType {
    return (this.flags & PROTOBUF) !== 0 ? 'protobuf' : 'json';
  }
  get maxMessageBytes(): number {
    return this.handler.maxMessageBytes;
  }
  get readingStopped(): boolean {
    return (this.flags & READ_DONE) !== 0;
  }
  get alive(): boolean {
    return (this.flags & ALIVE) !== 0;
  }
  set alive(v: boolean) {
    this.flags = v ? this.flags | ALIVE : this.flags & ~ALIVE;
  }
  /**
   * The peer address, read from the socket on use: reading it makes Node cache an address
   * object on the socket, which most connections never need.
   */
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  /** The session fed by this socket; set right after the session is created. */
  client: ClientSession | undefined = undefined;
  pending: PendingFrame | undefined = undefined;
  fragments: Fragments | undefined = undefined;

  constructor(
    private readonly socket: LeanSocket,
    private readonly handler: WebSocketHandler,
    /** The upgrade request's headers, as sessionHeaders() keeps them. */
    readonly headers: IncomingHttpHeaders,
    private flags: number,
  ) {}

  writeItems(items: Uint8Array[]): void {
    if ((this.flags & CLOSE_SENT) !== 0) return;
    const binary = (this.flags & PROTOBUF) !== 0;
    this.socket.write(framedItems(items, binary, binary ? protobufCodec : jsonCodec));
  }

  bufferedBytes(): number {
    return this.socket.writableLength;
  }

  /** Sends the close frame, then waits up to 5 s for the peer to close before dropping the socket. */
  close(d: Disconnect): void {
    if ((this.flags & CLOSE_SENT) !== 0) return;
    this.flags |= CLOSE_SENT;
    if (!sendableCloseCode(d.code)) {
      // A code the WebSocket protocol cannot carry: drop the connection instead.
      this.socket.destroy();
      return;
    }
    this.socket.write(closeFrame(d.code, truncateReason(d.reason)));
    setTimeout(destroySocket, closeWaitMs, this.socket).unref();
  }

  onMessage(data: Buffer): void {
    this.flags |= ALIVE;
    this.client?.handleFrame(data);
  }

  onPing(payload: Buffer): void {
    this.flags |= ALIVE;
    if ((this.flags & CLOSE_SENT) === 0) this.socket.write(pongFrame(payload));
  }

  onPong(): void {
    this.flags |= ALIVE;
  }

  /** The peer's close frame: echo its code (or an empty close frame) unless ours went out already, then end TCP. */
  onClose(code: number | undefined): void {
    this.finish(code, '');
  }

  onFrameError(code: number, reason: string): void {
    this.client?.node.logger.debug({ client: this.client.id, code, reason }, 'websocket protocol error');
    this.finish(code, reason);
  }

  private finish(code: number | undefined, reason: string): void {
    const first = (this.flags & CLOSE_SENT) === 0;
    this.flags |= CLOSE_SENT | READ_DONE;
    this.pending = undefined;
    this.fragments = undefined;
    if (first) {
      this.socket.write(closeFrame(code, reason));
      setTimeout(destroySocket, closeWaitMs, this.socket).unref();
    }
    this.socket.end();
  }

  sendPing(): void {
    if ((this.flags & CLOSE_SENT) === 0) this.socket.write(pingFrame);
  }

  terminate(): void {
    this.socket.destroy();
  }

  socketClosed(): void {
    this.flags |= CLOSE_SENT | READ_DONE;
    this.pending = undefined;
    this.fragments = undefined;
    if ((this.flags & FRAME_PING) !== 0) this.handler.pinger.remove(this);
    this.client?.transportClosed();
  }
}

function destroySocket(socket: Socket): void {
  socket.destroy();
}

function onLeanData(this: LeanSocket, chunk: Buffer): void {
  const c = this[kConnection];
  if (c !== undefined) readFrames(c, chunk);
}

function onLeanClose(this: LeanSocket): void {
  this[kConnection]?.socketClosed();
}

function onLeanError(this: LeanSocket, err: Error): void {
  const client = this[kConnection]?.client;
  client?.node.logger.debug({ client: client.id, err: err.message }, 'websocket error');
}

function ignoreError(): void {
  // The socket of a refused handshake: nothing to do but let it close.
}

function destroyThis(this: Duplex): void {
  this.destroy();
}

/** Answers a handshake that cannot be accepted with an HTTP error, then drops the socket. */
function refuse(socket: Duplex, status: number, extraHeaders = ''): void {
  const body = STATUS_CODES[status] ?? 'Error';
  socket.on('error', ignoreError);
  socket.once('finish', destroyThis);
  socket.end(
    `HTTP/1.1 ${status} ${body}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extraHeaders}\r\n${body}`,
  );
}

/** RFC 6455 §1.3: the accept value is derived from the key and this GUID. */
const acceptGuid = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** A Sec-WebSocket-Key: 16 bytes in base64. */
const keyPattern = /^[A-Za-z0-9+/]{22}==$/;

/** True when a comma-separated header value holds `token` (lower case), ignoring case. */
function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  for (const part of value.split(',')) if (part.trim().toLowerCase() === token) return true;
  return false;
}

/** True when a Sec-WebSocket-Extensions value offers permessage-deflate (with any parameters). */
function offersDeflate(value: string | undefined): boolean {
  if (value === undefined) return false;
  for (const offer of value.split(',')) if (offer.split(';')[0]!.trim().toLowerCase() === 'permessage-deflate') return true;
  return false;
}

/** The subprotocol to answer: centrifuge-protobuf, else centrifuge-json, else none. */
function subprotocolOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const offered = header.split(',').map((s) => s.trim());
  if (offered.includes('centrifuge-protobuf')) return 'centrifuge-protobuf';
  if (offered.includes('centrifuge-json')) return 'centrifuge-json';
  return undefined;
}

/** The query of a request path, undefined when there is none. */
function queryOf(url: string | undefined): URLSearchParams | undefined {
  const q = url === undefined ? -1 : url.indexOf('?');
  return q < 0 ? undefined : new URLSearchParams(url!.slice(q + 1));
}

/**
 * Accepts WebSocket upgrades and binds each socket to a client session of the node.
 * Connections without compression run on Gyre's own handshake and frame reader; when
 * `compression` is on and the client offers permessage-deflate, ws handles them.
 */
export class WebSocketHandler {
  /** ws, for compressed connections only. */
  private readonly wss: WebSocketServer | undefined;
  readonly pinger: FramePinger;
  readonly maxMessageBytes: number;

  constructor(
    private readonly node: Node,
    opts: WebSocketOptions = {},
  ) {
    this.maxMessageBytes = opts.messageSizeLimit || 65536;
    this.wss = opts.compression
      ? new WebSocketServer({
          noServer: true,
          maxPayload: this.maxMessageBytes,
          perMessageDeflate: { threshold: 0 },
          clientTracking: false,
          WebSocket: GyreWebSocket,
          handleProtocols: (protocols) => {
            if (protocols.has('centrifuge-protobuf')) return 'centrifuge-protobuf';
            if (protocols.has('centrifuge-json')) return 'centrifuge-json';
            return false;
          },
        })
      : undefined;
    this.pinger = new FramePinger(opts.pingIntervalMs || 25_000);
  }

  /**
   * Completes an upgrade request that the server routed to this transport. A request that
   * is not a valid WebSocket handshake gets an HTTP error (405, 400, or 426 for another
   * protocol version) and its socket is dropped.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const h = req.headers;
    if (req.method !== 'GET') return refuse(socket, 405);
    if (h.upgrade?.toLowerCase() !== 'websocket' || !hasToken(h.connection, 'upgrade')) return refuse(socket, 400);
    if (h['sec-websocket-version'] !== '13') return refuse(socket, 426, 'Sec-WebSocket-Version: 13\r\n');
    const key = h['sec-websocket-key'];
    if (key === undefined || !keyPattern.test(key)) return refuse(socket, 400);
    const subprotocol = subprotocolOf(h['sec-websocket-protocol']);
    const query = queryOf(req.url);
    const format = query?.get('cf_protocol') ?? query?.get('format');
    const protocol: ProtocolType = subprotocol === 'centrifuge-protobuf' || format === 'protobuf' ? 'protobuf' : 'json';
    const framePingPong = query?.get('cf_ws_frame_ping_pong') === 'true';
    if (this.wss !== undefined && offersDeflate(h['sec-websocket-extensions'])) {
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws as GyreWebSocket, req, protocol, framePingPong));
      return;
    }
    const s = socket as LeanSocket;
    if (s.destroyed || !s.writable) {
      s.destroy();
      return;
    }
    const accept = createHash('sha1').update(key + acceptGuid).digest('base64');
    s.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ' +
        accept +
        (subprotocol === undefined ? '\r\n\r\n' : '\r\nSec-WebSocket-Protocol: ' + subprotocol + '\r\n\r\n'),
    );
    // Only when a timeout was set: setTimeout(0) adds a property to every socket otherwise.
    if (s.timeout) s.setTimeout(0);
    if (typeof s.setNoDelay === 'function') s.setNoDelay(true);
    const conn = new LeanWebSocket(s, this, sessionHeaders(h), (protocol === 'protobuf' ? PROTOBUF : 0) | (framePingPong ? FRAME_PING : 0));
    s[kConnection] = conn;
    // node:http sockets allow half-open connections; here the peer ending its side ends ours
    // too (Node does it, so no 'end' listener of our own).
    s.allowHalfOpen = false;
    s.on('data', onLeanData);
    s.on('close', onLeanClose);
    s.on('error', onLeanError);
    conn.client = this.node.createClient(conn, conn);
    if (framePingPong) this.pinger.add(conn);
    if (head.length > 0) readFrames(conn, head);
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
    this.wss?.close();
  }
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}
