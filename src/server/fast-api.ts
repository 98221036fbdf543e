/**
 * Keep-alive fast path for server API calls (`POST <prefix>/<method>`).
 *
 * Backends publish over a few keep-alive connections, one small request after another, and
 * node:http's per-request machinery (request and response streams, header objects, events)
 * costs more than the publication itself. This path sits in front of an http.Server's
 * connection handling: it reads each new connection's first bytes and serves requests of one
 * strict, common shape itself — HTTP/1.1 POST to a method path, Content-Length body, no
 * Transfer-Encoding or Expect — with the same ApiEndpoint the node:http binding uses. The
 * first request of any other shape (a WebSocket upgrade, a page, the legacy API route, a
 * chunked body, anything malformed) hands the connection, with the bytes read so far, to the
 * http.Server, which then owns it for good. Answers are byte-compatible with the node:http
 * binding's (status, Content-Type, Content-Length, Date, keep-alive headers).
 *
 * For plain-TCP listeners only: on a TLS server the connection event carries encrypted
 * bytes, and the TLS layer must see them first.
 */
import { STATUS_CODES, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { ApiAnswer, ApiEndpoint } from '../api/http-handler.js';
import type { Logger } from '../core/ports.js';

/** Longest request head (request line and headers) served here; longer ones go to node:http. */
const MAX_HEAD_BYTES = 8192;

/** Idle time after which a kept-alive connection is closed (node:http's keepAliveTimeout default). */
const KEEP_ALIVE_MS = 5000;

export interface FastApiOptions {
  /** True while per-request hooks (debug request log, tracing) are on: everything goes to node:http. */
  bypass?: () => boolean;
  /** Idle keep-alive connections close after this long (default 5 s, as node:http). */
  keepAliveMs?: number;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** One connection served by the fast path. */
interface FastConn {
  socket: Socket;
  path: FastApiPath;
  /** Bytes received and not consumed yet; undefined when none. */
  buf: Buffer | undefined;
  /** A request is being answered: later bytes wait in buf (responses stay in order). */
  busy: boolean;
  /** When bytes last came in or an answer went out (ms). */
  last: number;
  /** Whether a request was answered here yet. */
  answered: boolean;
  /** Reading is paused until the client reads the answers already written ('drain'). */
  waitingDrain: boolean;
}

const kConn = Symbol('gyre.fastApiConn');
type FastSocket = Socket & { [kConn]?: FastConn };

/** A parsed request head the fast path can serve. */
interface Head {
  method: string;
  query: string;
  headers: Map<string, string>;
  headEnd: number;
  contentLength: number;
  close: boolean;
}

export class FastApiPath {
  private readonly conns = new Set<FastConn>();
  private closing = false;
  private readonly handoff: (socket: Socket) => void;
  private readonly bypass: () => boolean;
  private readonly keepAliveMs: number;
  /** Requests answered here (not by node:http). */
  served = 0;
  private sweeper: NodeJS.Timeout | undefined;

  /**
   * Installs the fast path on `server`: its own connection listener (node:http's) is kept
   * and called for every connection handed over.
   */
  constructor(
    private readonly server: Server,
    private readonly endpoint: ApiEndpoint,
    private readonly logger: Logger,
    opts: FastApiOptions = {},
  ) {
    this.bypass = opts.bypass ?? (() => false);
    this.keepAliveMs = opts.keepAliveMs ?? KEEP_ALIVE_MS;
    // node:http's own listener must be the only one, or which one to keep would be a guess.
    const listeners = server.listeners('connection') as ((socket: Socket) => void)[];
    const original = listeners[0];
    if (original === undefined || listeners.length !== 1) throw new Error(`the HTTP server has ${listeners.length} connection listeners, not node:http's alone`);
    server.removeListener('connection', original);
    this.handoff = (socket) => original.call(server, socket);
    server.on('connection', (socket: Socket) => this.accept(socket));
  }

  /** Connections currently served here (not handed over). */
  get size(): number {
    return this.conns.size;
  }

  private accept(socket: FastSocket): void {
    if (this.closing || this.bypass()) {
      this.handoff(socket);
      return;
    }
    const conn: FastConn = { socket, path: this, buf: undefined, busy: false, last: Date.now(), answered: false, waitingDrain: false };
    socket[kConn] = conn;
    this.conns.add(conn);
    socket.setNoDelay(true);
    // No socket timer: most connections (WebSocket upgrades) leave on their first bytes, and
    // a timer would leave its object on every socket. One sweep covers the connections here.
    this.sweeper ??= setInterval(() => this.sweep(), Math.max(50, Math.floor(this.keepAliveMs / 4))).unref();
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.on('end', onEnd);
  }

  /** Consumes as many complete requests as buffered; called on data and after each answer. */
  pump(conn: FastConn): void {
    while (!conn.busy && conn.buf !== undefined && !conn.socket.destroyed) {
      if (conn.socket.writableNeedDrain) {
        // The client sends requests but does not read the answers: read no more until it does.
        if (!conn.waitingDrain) {
          conn.waitingDrain = true;
          conn.socket.pause();
          conn.socket.once('drain', onDrain);
        }
        return;
      }
      const buf = conn.buf;
      const head = this.parseHead(buf);
      if (head === 'more') return;
      if (head === 'other') {
        this.release(conn);
        return;
      }
      const total = head.headEnd + head.contentLength;
      if (buf.length < total) return;
      const body = buf.subarray(head.headEnd, total);
      conn.buf = buf.length === total ? undefined : buf.subarray(total);
      this.serve(conn, head, body);
    }
  }

  /**
   * Parses the request head at the start of buf: 'more' when it is incomplete, 'other' when
   * node:http must serve it.
   */
  private parseHead(buf: Buffer): Head | 'more' | 'other' {
    // Cheap early exit for everything that is not a POST (WebSocket upgrades, pages, ...).
    const n = Math.min(buf.length, 5);
    for (let i = 0; i < n; i++) if (buf[i] !== POST[i]) return 'other';
    const end = buf.indexOf(CRLFCRLF);
    if (end < 0) return buf.length > MAX_HEAD_BYTES ? 'other' : 'more';
    if (end > MAX_HEAD_BYTES) return 'other';
    const text = buf.toString('latin1', 0, end);
    const lines = text.split('\r\n');
    const m = REQUEST_LINE.exec(lines[0]!);
    if (m === null) return 'other';
    const target = m[1]!;
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const method = this.endpoint.methodOf(path);
    if (method === undefined) return 'other';
    const headers = new Map<string, string>();
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) return 'other';
      const name = line.slice(0, colon);
      if (!TOKEN.test(name)) return 'other';
      const value = line.slice(colon + 1).trim();
      if (!FIELD_VALUE.test(value)) return 'other';
      const key = name.toLowerCase();
      // Repeated headers, framing and protocol switches are node:http's business.
      if (headers.has(key) || key === 'transfer-encoding' || key === 'expect' || key === 'upgrade') return 'other';
      headers.set(key, value);
    }
    // node:http answers an HTTP/1.1 request without Host with 400; so does this path, through it.
    if (!headers.has('host')) return 'other';
    const cl = headers.get('content-length');
    if (cl === undefined || !DIGITS.test(cl)) return 'other';
    const contentLength = Number(cl);
    if (contentLength > this.endpoint.maxBody) return 'other';
    const connection = headers.get('connection')?.toLowerCase();
    if (connection !== undefined && connection !== 'keep-alive' && connection !== 'close') return 'other';
    return { method, query: q < 0 ? '' : target.slice(q + 1), headers, headEnd: end + 4, contentLength, close: connection === 'close' };
  }

  private serve(conn: FastConn, head: Head, body: Buffer): void {
    const endpoint = this.endpoint;
    const header = (name: string): string | undefined => head.headers.get(name);
    if (!endpoint.authorized(header, head.query)) {
      this.respond(conn, { status: 401, type: 'empty', body: '' }, head.close);
      return;
    }
    conn.busy = true;
    endpoint.callMethod(head.method, body, endpoint.transportMode(header)).then(
      (answer) => {
        conn.busy = false;
        this.respond(conn, answer, head.close);
        this.pump(conn);
      },
      (err: unknown) => {
        conn.busy = false;
        this.logger.error({ err, method: head.method }, 'server API request failed');
        this.respond(conn, { status: 500, type: 'text', body: 'Internal Server Error' }, head.close);
        this.pump(conn);
      },
    );
  }

  private respond(conn: FastConn, answer: ApiAnswer, close: boolean): void {
    const socket = conn.socket;
    if (socket.destroyed) return;
    // Also close once the client has half-closed: it sends no further request.
    const done = close || this.closing || socket.readableEnded;
    this.served++;
    conn.answered = true;
    conn.last = Date.now();
    socket.write(encodeResponse(answer, done, this.keepAliveMs));
    if (done) {
      conn.buf = undefined;
      this.forget(conn);
      socket.end();
    }
  }

  /** Hands a connection to node:http with the bytes it has not consumed. */
  private release(conn: FastConn): void {
    const socket = conn.socket as FastSocket;
    this.forget(conn);
    socket.removeListener('data', onData);
    socket.removeListener('error', onError);
    socket.removeListener('close', onClose);
    socket.removeListener('end', onEnd);
    if (conn.waitingDrain) {
      conn.waitingDrain = false;
      socket.removeListener('drain', onDrain);
      socket.resume();
    }
    const rest = conn.buf;
    conn.buf = undefined;
    if (rest !== undefined) socket.unshift(rest);
    this.handoff(socket);
  }

  /**
   * Connections quiet for the keep-alive time: an idle kept-alive one is closed (as node:http
   * does); one that has not completed a request yet goes to node:http, whose header and
   * request timeouts then apply.
   */
  private sweep(): void {
    const now = Date.now();
    for (const conn of [...this.conns]) {
      // Answering, or waiting for the client to read its answers: not idle (as in node:http).
      if (conn.busy || conn.waitingDrain || now - conn.last < this.keepAliveMs) continue;
      if (!conn.answered || conn.buf !== undefined) this.release(conn);
      else {
        this.forget(conn);
        conn.socket.destroy();
      }
    }
    if (this.conns.size === 0 && this.sweeper !== undefined) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  forget(conn: FastConn): void {
    this.conns.delete(conn);
    (conn.socket as FastSocket)[kConn] = undefined;
  }

  /**
   * Stops serving: idle connections close now; one with a request being received or
   * answered closes after its answer (or at closeAll()).
   */
  close(): void {
    this.closing = true;
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const conn of [...this.conns]) {
      if (!conn.busy && conn.buf === undefined) {
        this.forget(conn);
        conn.socket.destroy();
      }
    }
  }

  /** Drops every connection still served here. */
  closeAll(): void {
    this.closing = true;
    for (const conn of [...this.conns]) {
      this.forget(conn);
      conn.socket.destroy();
    }
  }
}

const POST = Buffer.from('POST ');
/** `POST <origin-form target> HTTP/1.1`; HTTP/1.0 and absolute-form targets go to node:http. */
const REQUEST_LINE = /^POST (\/[\x21-\x7e]*) HTTP\/1\.1$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Visible ASCII, space and tab; anything else (obs-text, controls) goes to node:http. */
const FIELD_VALUE = /^[\x20-\x7e\t]*$/;
const DIGITS = /^\d{1,15}$/;

function onData(this: Socket, chunk: Buffer): void {
  const conn = (this as FastSocket)[kConn];
  if (conn === undefined) return;
  conn.buf = conn.buf === undefined ? chunk : Buffer.concat([conn.buf, chunk]);
  conn.last = Date.now();
  conn.path.pump(conn);
}



function onError(this: Socket): void {
  // Resets from clients are routine; 'close' follows.
}

function onDrain(this: Socket): void {
  const conn = (this as FastSocket)[kConn];
  if (conn === undefined || !conn.waitingDrain) return;
  conn.waitingDrain = false;
  this.resume();
  conn.path.pump(conn);
}

function onEnd(this: Socket): void {
  const conn = (this as FastSocket)[kConn];
  // A busy connection ends after its answer (respond() sees readableEnded).
  if (conn !== undefined && !conn.busy) {
    conn.path.forget(conn);
    this.end();
  }
}

function onClose(this: Socket): void {
  const conn = (this as FastSocket)[kConn];
  if (conn !== undefined) conn.path.forget(conn);
}

/** The Date header value, recomputed at most once per second. */
let dateSecond = -1;
let dateValue = '';
function httpDate(): string {
  const now = Date.now();
  const sec = Math.floor(now / 1000);
  if (sec !== dateSecond) {
    dateSecond = sec;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
}

/** The whole response as one buffer, with the headers node:http's binding sends for the same answer. */
function encodeResponse(answer: ApiAnswer, close: boolean, keepAliveMs = KEEP_ALIVE_MS): Buffer {
  let type = '';
  let body = answer.body;
  if (answer.type === 'json') type = 'Content-Type: application/json\r\n';
  else if (answer.type === 'text') {
    type = 'Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n';
    body += '\n';
  } else body = '';
  const conn = close ? 'Connection: close\r\n' : `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.max(1, Math.floor(keepAliveMs / 1000))}\r\n`;
  const head =
    `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'Unknown'}\r\n` +
    type +
    `Content-Length: ${Buffer.byteLength(body)}\r\nDate: ${httpDate()}\r\n${conn}\r\n`;
  return Buffer.from(head + body, 'utf8');
}
