/**
 * Bidirectional WebSocket transport at /connection/websocket (protocol.md §11.1).
 * JSON goes in text frames, Protobuf in binary frames; each flush of the connection's
 * writer becomes one WebSocket message. Oversized incoming messages close with 1009.
 * Connections without compression use Gyre's own handshake and frame reader on the TCP
 * socket (ws-frames.ts); permessage-deflate connections go through the `ws` package.
 *
 * Bounds on what a peer can make the server hold (each past its bound closes the
 * connection, and the first of a burst is logged at warn):
 * - a message: maxMessageBytes (1009) and MAX_MESSAGE_FRAMES frames (1008), in ws-frames.ts;
 * - pongs: a ping is answered at once while nothing waits in the socket's write buffer;
 *   behind a backlog (the peer is not reading what it is sent) at most MAX_PENDING_PONGS
 *   pongs wait, and one more ping disconnects it as a slow client (3008), which also stops
 *   reading from it: a peer that pings without reading cannot grow the server's memory;
 * - pushes and replies: the session's writer bounds them (3008, core/writer.ts).
 * Pings are the only control frames the server answers; a peer's pongs are just noted and
 * its close frame ends reading, so no other control-frame flood makes the server write.
 */
import * as nodeCrypto from 'node:crypto';
import { STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { writeSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { jsonCodec, protobufCodec } from '../protocol/codec.js';
import { Disconnects, type Disconnect } from '../protocol/codes.js';
import type { ProtocolType } from '../protocol/types.js';
import type { Node } from '../core/index.js';
import type { ClientSession } from '../core/index.js';
import type { Transport, TransportRequest } from '../core/index.js';
import { FramePinger, type PingTarget } from './frame-pinger.js';
import { sessionHeaders } from './upgrade-request.js';
import { BidiWebSocketTransport } from './websocket-base.js';
import { DeflateWebSockets } from './websocket-deflate.js';
import {
  closeFrame,
  CloseCodes,
  framedItems,
  MAX_MESSAGE_FRAMES,
  MAX_PENDING_PONGS,
  pingFrame,
  inflatedMessageLimit,
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
  /** Largest message of a compressed connection after inflating; 0 = 10 x messageSizeLimit. */
  decompressedMessageSizeLimit?: number;
  /** Interval of WebSocket ping frames for `cf_ws_frame_ping_pong=true` connections. */
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
}

/** How long a closing connection waits for the peer's close frame before dropping the socket. */
const closeWaitMs = 5000;

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
/**
 * The bits above these flags hold the socket's file descriptor when frames may be written
 * straight to it (a plain TCP socket, not TLS; see writeFrame), 0 otherwise: the flags stay
 * a small integer for descriptors below 2^22, and larger ones are not kept.
 */
const FD_SHIFT = 8;
const MAX_KEPT_FD = (1 << 22) - 1;

/** Where a socket keeps its lean connection, so that socket listeners can be shared functions. */
const kConnection = Symbol('gyre.websocket');
type LeanSocket = Socket & { [kConnection]?: LeanWebSocket };

/**
 * A WebSocket connection without extensions, on the TCP socket directly: the transport of
 * one session, the state of its frame reader, its upgrade request and its ping target, all
 * in one object with few fields (constant and derived properties are getters), since one
 * lives per connection. Notifies the session once, when the socket closes.
 */
class LeanWebSocket extends BidiWebSocketTransport implements Transport, TransportRequest, FrameReader, PingTarget {
  get appLevelPing(): boolean {
    return (this.flags & FRAME_PING) === 0;
  }
  get protocol(): ProtocolType {
    return (this.flags & PROTOBUF) !== 0 ? 'protobuf' : 'json';
  }
  get maxMessageBytes(): number {
    return this.handler.maxMessageBytes;
  }
  get maxMessageFrames(): number {
    return MAX_MESSAGE_FRAMES;
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
  /** Pongs written behind a backlog whose write has not completed yet. */
  private pendingPongs = 0;

  constructor(
    private readonly socket: LeanSocket,
    private readonly handler: WebSocketHandler,
    /** The upgrade request's headers, as sessionHeaders() keeps them. */
    readonly headers: IncomingHttpHeaders,
    private flags: number,
  ) {
    super();
  }

  writeItems(items: Uint8Array[]): void {
    if ((this.flags & CLOSE_SENT) !== 0) return;
    const binary = (this.flags & PROTOBUF) !== 0;
    const frame = framedItems(items, binary, binary ? protobufCodec : jsonCodec);
    const fd = this.flags >>> FD_SHIFT;
    if (fd !== 0) writeFrame(this.socket, fd, frame);
    else this.socket.write(frame);
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
    dropAfterCloseWait(this.socket);
  }

  onMessage(data: Buffer): void {
    this.flags |= ALIVE;
    this.client?.handleFrame(data);
  }

  onPing(payload: Buffer): void {
    this.flags |= ALIVE;
    if ((this.flags & CLOSE_SENT) !== 0) return;
    const socket = this.socket;
    // The usual case: the kernel took everything written so far, so this pong goes too.
    if (socket.writableLength === 0) {
      socket.write(pongFrame(payload));
      return;
    }
    // Behind a backlog: count the pong until its write completes (handed to the kernel).
    if (this.pendingPongs >= MAX_PENDING_PONGS) {
      this.pongOverflow();
      return;
    }
    this.pendingPongs++;
    socket.write(pongFrame(payload), () => {
      this.pendingPongs--;
    });
  }

  /**
   * Too many pongs wait for a peer that does not read: disconnect it as a slow client and
   * stop reading from it (its close frame could only come after it read everything).
   */
  private pongOverflow(): void {
    this.stopReading();
    this.socket.pause();
    this.handler.logFault(this.client?.id, Disconnects.slow.code, 'too many pending pongs');
    if (this.client !== undefined) this.client.close(Disconnects.slow);
    else this.close(Disconnects.slow);
  }

  private stopReading(): void {
    this.flags |= READ_DONE;
    this.pending = undefined;
    this.fragments = undefined;
  }

  onPong(): void {
    this.flags |= ALIVE;
  }

  /** The peer's close frame: echo its code (or an empty close frame) unless ours went out already, then end TCP. */
  onClose(code: number | undefined): void {
    this.finish(code, '');
  }

  onFrameError(code: number, reason: string): void {
    this.handler.logFault(this.client?.id, code, reason);
    this.finish(code, reason);
  }

  private finish(code: number | undefined, reason: string): void {
    const first = (this.flags & CLOSE_SENT) === 0;
    this.flags |= CLOSE_SENT;
    this.stopReading();
    if (first) {
      this.socket.write(closeFrame(code, reason));
      dropAfterCloseWait(this.socket);
    }
    this.socket.end();
  }

  sendPing(): void {
    if ((this.flags & CLOSE_SENT) === 0) this.socket.write(pingFrame);
  }

  terminate(): void {
    this.socket.destroy();
  }

  /** Backpressure from the session: frames stay in the kernel (and TCP's window) while paused. */
  pauseReading(pause: boolean): void {
    if (pause) this.socket.pause();
    else this.socket.resume();
  }

  socketClosed(): void {
    this.flags |= CLOSE_SENT;
    this.stopReading();
    if ((this.flags & FRAME_PING) !== 0) this.handler.pinger.remove(this);
    this.client?.transportClosed();
  }
}

/**
 * The file descriptor of a plain TCP socket's handle (Node keeps it as `_handle.fd`); undefined
 * for TLS sockets, whose bytes must go through the TLS layer, and for anything without one.
 */
function socketFd(socket: Socket): number | undefined {
  if ((socket as Partial<TLSSocket>).encrypted === true) return undefined;
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Writes a frame to a plain TCP socket whose descriptor is `fd`. While nothing waits in the
 * socket's write queue, the bytes go to the kernel with one write(2) on the descriptor: the
 * system call socket.write() ends in, without the stream machinery and the request object it
 * allocates per write (most of a fan-out's JavaScript cost per connection). What the kernel
 * does not take at once (a full send buffer), and every error, goes through socket.write(),
 * which queues the rest or reports the error as it always does. The descriptor is the
 * socket's as long as the socket has its handle: Node drops the handle when it closes it.
 */
function writeFrame(socket: Socket, fd: number, frame: Buffer): void {
  if (socket.writableLength !== 0 || (socket as unknown as { _handle: unknown })._handle == null) {
    socket.write(frame);
    return;
  }
  let n = 0;
  try {
    n = writeSync(fd, frame);
  } catch {
    n = 0;
  }
  if (n < frame.length) socket.write(n === 0 ? frame : frame.subarray(n));
}

function destroySocket(socket: Socket): void {
  socket.destroy();
}

/**
 * Drops the socket if the peer has not closed it within the close wait. The timer goes as
 * soon as the socket closes: it must not keep a closed connection reachable for the wait.
 */
function dropAfterCloseWait(socket: Socket): void {
  const timer = setTimeout(destroySocket, closeWaitMs, socket);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
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
/** crypto.hash (Node 20.12 and later) hashes without a Hash object; older versions fall back to createHash. */
const oneShotHash = (nodeCrypto as { hash?: (algorithm: string, data: string, encoding: 'base64') => string }).hash;

/** The Sec-WebSocket-Accept value of a key. */
function acceptKey(key: string): string {
  return oneShotHash !== undefined ? oneShotHash('sha1', key + acceptGuid, 'base64') : nodeCrypto.createHash('sha1').update(key + acceptGuid).digest('base64');
}

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
  private readonly deflate: DeflateWebSockets | undefined;
  readonly pinger: FramePinger;
  readonly maxMessageBytes: number;
  /**
   * Logs a connection closed by the server for what its peer did: past a bound (1008, 1009,
   * 3008) at warn, protocol errors (1002, 1007) at debug; each reason once per burst.
   */
  logFault(client: string | undefined, code: number, reason: string): void {
    const limit = code === CloseCodes.policyViolation || code === CloseCodes.tooBig || code === Disconnects.slow.code;
    const msg = limit ? 'websocket limit exceeded' : 'websocket protocol error';
    this.node.faults.log(limit ? 'warn' : 'debug', { client, code, reason }, msg, `${msg}: ${reason}`);
  }

  constructor(
    private readonly node: Node,
    opts: WebSocketOptions = {},
  ) {
    this.maxMessageBytes = opts.messageSizeLimit || 65536;
    this.pinger = new FramePinger(opts.pingIntervalMs || 25_000);
    this.deflate = opts.compression
      ? new DeflateWebSockets(node, inflatedMessageLimit(this.maxMessageBytes, opts.decompressedMessageSizeLimit), this.pinger)
      : undefined;
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
    if (this.deflate !== undefined && offersDeflate(h['sec-websocket-extensions'])) {
      this.deflate.handleUpgrade(req, socket, head, protocol, framePingPong);
      return;
    }
    const s = socket as LeanSocket;
    if (s.destroyed || !s.writable) {
      s.destroy();
      return;
    }
    const accept = acceptKey(key);
    s.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ' +
        accept +
        (subprotocol === undefined ? '\r\n\r\n' : '\r\nSec-WebSocket-Protocol: ' + subprotocol + '\r\n\r\n'),
    );
    // Only when a timeout was set: setTimeout(0) adds a property to every socket otherwise.
    if (s.timeout) s.setTimeout(0);
    if (typeof s.setNoDelay === 'function') s.setNoDelay(true);
    const fd = socketFd(s) ?? 0;
    const kept = fd > 0 && fd <= MAX_KEPT_FD ? fd << FD_SHIFT : 0;
    const conn = new LeanWebSocket(s, this, sessionHeaders(h), (protocol === 'protobuf' ? PROTOBUF : 0) | (framePingPong ? FRAME_PING : 0) | kept);
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

  close(): void {
    this.pinger.close();
    this.deflate?.close();
  }
}
