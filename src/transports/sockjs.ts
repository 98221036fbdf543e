/**
 * SockJS transport (the `sockjs` section): the SockJS protocol served by the `sockjs`
 * package under one path prefix, its WebSocket endpoint and its HTTP fallbacks
 * (xhr-streaming, xhr-polling, eventsource, htmlfile, jsonp, the iframe page). Each SockJS
 * session carries the JSON protocol for one client session: a SockJS message holds one
 * frame (newline-separated commands in, replies and pushes out), and a disconnect travels
 * as SockJS's close frame with Gyre's code and reason.
 *
 * Bounds: an incoming WebSocket message and an xhr_send/jsonp_send body are limited to a
 * few times `messageSizeLimit` (the frame inside is then checked by the session); what a
 * SockJS session buffers for a peer (messages waiting for the next poll, plus the socket's
 * backlog) counts toward the session writer's bound, past which it is closed with 3008.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import sockjs from 'sockjs';
import { jsonCodec } from '../protocol/codec.js';
import { Disconnects, type Disconnect } from '../protocol/codes.js';
import type { ProtocolType } from '../protocol/types.js';
import type { ClientSession, Node, Transport, TransportRequest } from '../core/index.js';
import { respond } from './http-common.js';
import { sessionHeaders } from './upgrade-request.js';

/** Options of a SockJsHandler; durations in milliseconds. */
export interface SockJsOptions {
  /** Path prefix of every SockJS endpoint (default `/connection/sockjs`). */
  prefix?: string;
  /** URL of the sockjs-client script that the iframe page loads (iframe-based transports). */
  clientUrl?: string;
  /** Interval of SockJS heartbeat frames on an idle session (default 25 s). */
  heartbeatDelayMs?: number;
  /** How long a session without an open receiving request lives on (default 5 s). */
  disconnectDelayMs?: number;
  /** Largest frame of commands in bytes (default 65536); transport messages may be a few times larger. */
  messageSizeLimit?: number;
  /** Whether one more session may open (connection limit, shutdown); always true when omitted. */
  acceptsConnection?: () => boolean;
}

/** The sockjs package's internals this transport reads: the session behind a connection and its receiver. */
interface SockJsReceiver {
  /** HTTP receivers: the request that attached it and the streaming response. */
  request?: IncomingMessage;
  response?: ServerResponse | null;
  /** WebSocket receivers: the TCP socket. */
  connection?: Socket | null;
}
interface SockJsSession {
  session_id?: string | null;
  send_buffer?: string[];
  recv?: SockJsReceiver | null;
  readyState: number;
  to_tref?: ReturnType<typeof setTimeout> | null;
  didTimeout?: () => void;
}
interface SockJsConnection extends sockjs.Connection {
  _session: SockJsSession;
}
interface SockJsListener {
  handler(req: IncomingMessage, res: ServerResponse | Duplex, head?: Buffer): boolean;
}
interface SockJsServerInternals extends sockjs.Server {
  listener(options?: object): SockJsListener;
}

/** SockJS session states (the package's Transport constants). */
const OPEN = 1;
const CLOSING = 2;

/** Requests that open (or re-attach) a receiving side of a session, by their last path segment. */
const receiverPath = /\/[^/.]+\/([^/.]+)\/(xhr|xhr_streaming|eventsource|htmlfile|jsonp)\/?$/;
/** Requests whose body carries messages. */
const sendPath = /\/[^/.]+\/[^/.]+\/(xhr_send|jsonp_send)\/?$/;

/** Transport messages may be this many times the frame limit: JSON string escaping in SockJS framing. */
const framingAllowance = 3;

/** Headers of WebSocket upgrades, by socket, until the SockJS session opens on it. */
const upgradeHeaders = new WeakMap<object, IncomingHttpHeaders>();

/**
 * The transport of one SockJS session. SockJS keeps its own outgoing buffer while no
 * request is attached to the session (between polls); bufferedBytes() counts it with the
 * socket's backlog so that the session writer's bound covers both.
 */
class SockJsTransport implements Transport, TransportRequest {
  get name(): string {
    return 'sockjs';
  }
  get protocol(): ProtocolType {
    return 'json';
  }
  get unidirectional(): boolean {
    return false;
  }
  get emulation(): boolean {
    return false;
  }
  get appLevelPing(): boolean {
    return true;
  }
  get disconnectPush(): boolean {
    return false;
  }
  get remoteAddress(): string | undefined {
    return this.conn.remoteAddress;
  }

  client: ClientSession | undefined = undefined;
  private closed = false;

  constructor(
    readonly conn: SockJsConnection,
    readonly headers: IncomingHttpHeaders,
  ) {}

  writeItems(items: Uint8Array[]): void {
    if (this.closed) return;
    const frame = items.length === 1 ? items[0]! : jsonCodec.joinFrame(items);
    this.conn.write(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('utf8'));
  }

  bufferedBytes(): number {
    const s = this.conn._session;
    let n = 0;
    const pending = s.send_buffer;
    if (pending !== undefined) for (const m of pending) n += m.length;
    const recv = s.recv;
    if (recv) n += recv.response?.writableLength ?? recv.connection?.writableLength ?? 0;
    return n;
  }

  /** Sends SockJS's close frame with the disconnect's code and reason, then ends the session. */
  close(d: Disconnect): void {
    if (this.closed) return;
    this.closed = true;
    // The package's types say string; its close frame needs the number.
    (this.conn as unknown as { close(code: number, reason: string): boolean }).close(d.code, d.reason);
  }

  markClosed(): void {
    this.closed = true;
  }
}

/**
 * Serves SockJS under a prefix and binds each SockJS session to a client session of the
 * node. Owns every path below the prefix, for requests and WebSocket upgrades alike.
 */
export class SockJsHandler {
  readonly prefix: string;
  private readonly listener: SockJsListener;
  private readonly maxMessageBytes: number;
  private readonly live = new Set<SockJsTransport>();
  /** Sessions by SockJS session id, to tell a new session's request from one of a live session. */
  private readonly bySessionId = new Map<string, SockJsTransport>();
  private readonly acceptsConnection: () => boolean;

  constructor(
    private readonly node: Node,
    opts: SockJsOptions = {},
  ) {
    this.prefix = (opts.prefix || '/connection/sockjs').replace(/\/+$/, '');
    this.maxMessageBytes = framingAllowance * (opts.messageSizeLimit || 65536) + 1024;
    this.acceptsConnection = opts.acceptsConnection ?? (() => true);
    const logger = node.logger;
    const server = sockjs.createServer({
      prefix: escapeRegExp(this.prefix),
      sockjs_url: opts.clientUrl || 'https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js',
      heartbeat_delay: opts.heartbeatDelayMs || 25_000,
      disconnect_delay: opts.disconnectDelayMs || 5_000,
      log: (severity: string, line: string) => {
        if (severity === 'error') logger.warn({ transport: 'sockjs' }, line);
        else logger.debug({ transport: 'sockjs' }, line);
      },
      faye_server_options: { maxLength: this.maxMessageBytes },
    } as sockjs.ServerOptions) as SockJsServerInternals;
    server.on('connection', (conn: sockjs.Connection) => this.accept(conn as SockJsConnection));
    this.listener = server.listener();
  }

  /** True for the prefix itself and every path below it. */
  owns(path: string): boolean {
    return path === this.prefix || path.startsWith(this.prefix + '/');
  }

  /** Serves one HTTP request on a path owns() accepted (origin already checked). */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const path = pathOf(req);
    const receiving = receiverPath.exec(path);
    if (receiving !== null && !this.bySessionId.has(receiving[1]!) && !this.acceptsConnection()) {
      respond(res, 503, 'Service Unavailable\n');
      return;
    }
    if (req.method === 'POST' && sendPath.test(path) && !this.boundBody(req, res)) return;
    this.listener.handler(req, res);
  }

  /** Completes a WebSocket upgrade on a path owns() accepted (origin and limits already checked). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    upgradeHeaders.set(socket, sessionHeaders(req.headers));
    socket.on('error', ignoreError);
    this.listener.handler(req, socket, head);
  }

  /**
   * Caps a message-carrying body at maxMessageBytes: a declared larger one gets 413 at
   * once, a chunked one that grows past it gets 413 and its connection dropped.
   */
  private boundBody(req: IncomingMessage, res: ServerResponse): boolean {
    const max = this.maxMessageBytes;
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) {
      respond(res, 413, 'Request Entity Too Large\n', true);
      req.resume();
      return false;
    }
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max && !res.headersSent) {
        respond(res, 413, 'Request Entity Too Large\n', true);
        req.socket.destroy();
      }
    });
    return true;
  }

  private accept(conn: SockJsConnection): void {
    const session = conn._session;
    const recv = session.recv;
    const headers =
      (recv?.request ? sessionHeaders(recv.request.headers) : undefined) ??
      (recv?.connection ? upgradeHeaders.get(recv.connection) : undefined) ??
      (conn.headers as IncomingHttpHeaders);
    const t = new SockJsTransport(conn, headers);
    const sid = session.session_id;
    this.live.add(t);
    if (sid) this.bySessionId.set(sid, t);
    conn.on('data', (message: unknown) => {
      if (typeof message === 'string') t.client?.handleFrame(Buffer.from(message, 'utf8'));
      else if (Buffer.isBuffer(message)) t.client?.handleFrame(message);
      else {
        // A JSON value other than a string inside SockJS framing: not a frame of commands.
        this.node.faults.log('info', { client: t.client?.id, transport: 'sockjs' }, 'malformed frame');
        t.client?.close(Disconnects.badRequest);
      }
    });
    conn.on('close', () => {
      t.markClosed();
      this.live.delete(t);
      if (sid && this.bySessionId.get(sid) === t) this.bySessionId.delete(sid);
      t.client?.transportClosed();
    });
    t.client = this.node.createClient(t, t);
  }

  /**
   * Closes every live session (3001) and ends at once those that wait out the disconnect
   * delay, so no SockJS timer outlives the handler.
   */
  close(): void {
    for (const t of [...this.live]) {
      const client = t.client;
      if (client !== undefined) client.close(Disconnects.shutdown);
      else t.close(Disconnects.shutdown);
      const s = t.conn._session;
      if (s && !s.recv && (s.readyState === CLOSING || s.readyState === OPEN) && typeof s.didTimeout === 'function') {
        if (s.to_tref) clearTimeout(s.to_tref);
        s.didTimeout();
      }
    }
  }
}

function ignoreError(): void {
  // Socket errors of an upgrade end the SockJS session through its close event.
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}
