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
 * Hostile input is bounded here as node:http bounds it: the head is checked byte by byte and
 * handed over at the first byte node:http would reject; a head must complete within the
 * server's headersTimeout and a request within its requestTimeout (408); the API key and the
 * declared length are checked on the head, so a body without the key (401) or over the limit
 * (413) is never buffered, and such a connection closes with a lingering close (see
 * api/lingering-close.ts). fast-api.diff.test.ts compares the outcomes with node:http's.
 *
 * For plain-TCP listeners only: on a TLS server the connection event carries encrypted
 * bytes, and the TLS layer must see them first.
 */
import { STATUS_CODES, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { ApiAnswer, ApiEndpoint } from '../api/http-handler.js';
import { LINGER_MAX_BYTES, LINGER_MS } from '../api/index.js';
import { LogLimiter } from '../core/index.js';
import type { Logger } from '../core/index.js';
import { HeadScanner, type Head } from './fast-api-head.js';

/** Idle time after which a kept-alive connection is closed (node:http's keepAliveTimeout default). */
const KEEP_ALIVE_MS = 5000;

/**
 * Bytes of pipelined requests held while one is being answered; past it the socket is paused
 * (the kernel's buffers and TCP flow control hold the rest).
 */
const MAX_BUFFERED_WHILE_BUSY = 64 * 1024;

export interface FastApiOptions {
  /** True while per-request hooks (debug request log, tracing) are on: everything goes to node:http. */
  bypass?: () => boolean;
  /** Idle keep-alive connections close after this long (default 5 s, as node:http). */
  keepAliveMs?: number;
  /** Connections closed after a rejected request drain the client's bytes this long (default 2 s). */
  lingerMs?: number;
}

/** A request whose head is parsed and whose body is still arriving. */
interface PendingBody {
  head: Head;
  /** The body bytes received so far. */
  parts: Buffer[];
  /** Body bytes still to come. */
  missing: number;
}

/** One connection served by the fast path. */
interface FastConn {
  socket: Socket;
  path: FastApiPath;
  /** Bytes received and not consumed yet (a head, or pipelined requests); undefined when none. */
  buf: Buffer | undefined;
  /** The head scanner's progress through buf. */
  scan: HeadScanner;
  /** When the first byte of the request being received came (ms); 0 between requests. */
  started: number;
  /** The request whose body is being received, if any. */
  body: PendingBody | undefined;
  /** Body bytes of a request answered from its head (401) still to drop before the next request. */
  skip: number;
  /** Closing after a rejected request: what arrives is dropped until then (ms); 0 otherwise. */
  lingerUntil: number;
  /** Bytes dropped while lingering. */
  lingerBytes: number;
  /** A request is being answered: later bytes wait in buf (responses stay in order). */
  busy: boolean;
  /** When bytes last came in or an answer went out (ms). */
  last: number;
  /** Whether a request was answered here yet. */
  answered: boolean;
  /** Reading is paused until the client reads the answers already written ('drain'). */
  waitingDrain: boolean;
  /** Reading is paused because buf holds enough pipelined bytes while busy. */
  heldBusy: boolean;
}

const kConn = Symbol('gyre.fastApiConn');
type FastSocket = Socket & { [kConn]?: FastConn };

const EMPTY_401: ApiAnswer = { status: 401, type: 'empty', body: '' };
const TOO_LARGE_413: ApiAnswer = { status: 413, type: 'text', body: 'Request Entity Too Large' };
const TIMEOUT_408: ApiAnswer = { status: 408, type: 'empty', body: '' };

export class FastApiPath {
  private readonly conns = new Set<FastConn>();
  private closing = false;
  private readonly handoff: (socket: Socket) => void;
  private readonly bypass: () => boolean;
  private readonly keepAliveMs: number;
  private readonly lingerMs: number;
  private readonly logLimiter = new LogLimiter();
  /** Requests answered here (not by node:http). */
  served = 0;
  /** The API method a request target's path names, or undefined. */
  private readonly methodOf = (path: string): string | undefined => this.endpoint.methodOf(path);
  private sweeper: NodeJS.Timeout | undefined;

  /**
   * Installs the fast path on `server`: its own connection listener (node:http's) is kept
   * and called for every connection handed over. The server's headersTimeout and
   * requestTimeout bound the requests received here as node:http bounds its own.
   */
  constructor(
    private readonly server: Server,
    private readonly endpoint: ApiEndpoint,
    private readonly logger: Logger,
    opts: FastApiOptions = {},
  ) {
    this.bypass = opts.bypass ?? (() => false);
    this.keepAliveMs = opts.keepAliveMs ?? KEEP_ALIVE_MS;
    this.lingerMs = opts.lingerMs ?? LINGER_MS;
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
    const conn: FastConn = {
      socket,
      path: this,
      buf: undefined,
      scan: new HeadScanner(),
      started: 0,
      body: undefined,
      skip: 0,
      lingerUntil: 0,
      lingerBytes: 0,
      busy: false,
      last: Date.now(),
      answered: false,
      waitingDrain: false,
      heldBusy: false,
    };
    socket[kConn] = conn;
    this.conns.add(conn);
    socket.setNoDelay(true);
    // No socket timer: most connections (WebSocket upgrades) leave on their first bytes, and
    // a timer would leave its object on every socket. One sweep covers the connections here.
    this.startSweeper();
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.on('end', onEnd);
  }

  private startSweeper(): void {
    this.sweeper ??= setInterval(() => this.sweep(), Math.max(50, Math.floor(Math.min(this.keepAliveMs, this.lingerMs) / 4))).unref();
  }

  /** Takes in bytes from the socket: a body in progress, bytes to drop, or heads to parse. */
  receive(conn: FastConn, chunk: Buffer): void {
    if (conn.lingerUntil !== 0) {
      conn.lingerBytes += chunk.length;
      if (conn.lingerBytes > LINGER_MAX_BYTES) {
        this.forget(conn);
        conn.socket.destroy();
      }
      return;
    }
    if (conn.skip > 0) {
      if (chunk.length <= conn.skip) {
        conn.skip -= chunk.length;
        return;
      }
      chunk = chunk.subarray(conn.skip);
      conn.skip = 0;
    }
    const pending = conn.body;
    if (pending !== undefined) {
      // The parts are joined once, when the body is complete.
      if (chunk.length < pending.missing) {
        pending.parts.push(chunk);
        pending.missing -= chunk.length;
        return;
      }
      pending.parts.push(chunk.subarray(0, pending.missing));
      const rest = chunk.subarray(pending.missing);
      conn.body = undefined;
      conn.buf = rest.length > 0 ? rest : undefined;
      conn.started = conn.buf === undefined ? 0 : conn.last;
      this.serve(conn, pending.head, pending.parts.length === 1 ? pending.parts[0]! : Buffer.concat(pending.parts));
      this.pump(conn);
      return;
    }
    if (conn.started === 0) conn.started = conn.last;
    conn.buf = conn.buf === undefined ? chunk : Buffer.concat([conn.buf, chunk]);
    if (conn.busy) {
      if (conn.buf.length > MAX_BUFFERED_WHILE_BUSY && !conn.heldBusy) {
        conn.heldBusy = true;
        this.updateReading(conn);
      }
      return;
    }
    this.pump(conn);
  }

  /** Pauses or resumes reading as the drain wait and the busy hold require. */
  private updateReading(conn: FastConn): void {
    if (conn.waitingDrain || conn.heldBusy) conn.socket.pause();
    else conn.socket.resume();
  }

  /** Consumes as many complete requests as buffered; called on data and after each answer. */
  pump(conn: FastConn): void {
    while (!conn.busy && conn.buf !== undefined && conn.lingerUntil === 0 && !conn.socket.destroyed) {
      if (conn.socket.writableNeedDrain) {
        // The client sends requests but does not read the answers: read no more until it does.
        if (!conn.waitingDrain) {
          conn.waitingDrain = true;
          this.updateReading(conn);
          conn.socket.once('drain', onDrain);
        }
        return;
      }
      const buf = conn.buf;
      const head = conn.scan.parse(buf, this.methodOf);
      if (head === 'more') return;
      if (head === 'other') {
        this.release(conn);
        return;
      }
      conn.scan.reset();
      const available = buf.length - head.headEnd;
      const header = (name: string): string | undefined => head.headers.get(name);
      // Both checks need only the head: the body of a rejected request is never buffered.
      if (!this.endpoint.authorized(header, head.query)) {
        this.answerEarly(conn, head, available);
        continue;
      }
      if (head.contentLength > this.endpoint.maxBody) {
        conn.buf = undefined;
        this.respond(conn, TOO_LARGE_413, true);
        return;
      }
      if (available < head.contentLength) {
        conn.body = { head, parts: available > 0 ? [buf.subarray(head.headEnd)] : [], missing: head.contentLength - available };
        conn.buf = undefined;
        return;
      }
      const total = head.headEnd + head.contentLength;
      const body = buf.subarray(head.headEnd, total);
      conn.buf = buf.length === total ? undefined : buf.subarray(total);
      conn.started = conn.buf === undefined ? 0 : Date.now();
      this.serve(conn, head, body);
    }
  }

  /**
   * Answers 401 from the head: a small body is skipped and the connection kept (as node:http
   * does), a larger one is not read and the connection closes (as the node:http binding does).
   */
  private answerEarly(conn: FastConn, head: Head, available: number): void {
    const buf = conn.buf!;
    if (head.close || this.endpoint.closesAfterEarlyAnswer(head.contentLength)) {
      conn.buf = undefined;
      this.respond(conn, EMPTY_401, true);
      return;
    }
    if (available >= head.contentLength) {
      const total = head.headEnd + head.contentLength;
      conn.buf = buf.length === total ? undefined : buf.subarray(total);
    } else {
      conn.buf = undefined;
      conn.skip = head.contentLength - available;
    }
    conn.started = conn.buf === undefined ? 0 : Date.now();
    this.respond(conn, EMPTY_401, false);
  }

  private serve(conn: FastConn, head: Head, body: Buffer): void {
    const endpoint = this.endpoint;
    const header = (name: string): string | undefined => head.headers.get(name);
    conn.busy = true;
    endpoint.callMethod(head.method, body, endpoint.transportMode(header)).then(
      (answer) => this.finish(conn, head, answer),
      (err: unknown) => {
        // Not reached by anything a client sends (callMethod answers bad input itself); still rate-limited.
        const repeated = this.logLimiter.allow(err instanceof Error ? err.message : String(err));
        if (repeated !== undefined) this.logger.error({ err, method: head.method, ...(repeated > 0 ? { repeated } : {}) }, 'server API request failed');
        this.finish(conn, head, { status: 500, type: 'text', body: 'Internal Server Error' });
      },
    );
  }

  private finish(conn: FastConn, head: Head, answer: ApiAnswer): void {
    conn.busy = false;
    if (conn.heldBusy) {
      conn.heldBusy = false;
      this.updateReading(conn);
    }
    this.respond(conn, answer, head.close);
    this.pump(conn);
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
    if (done) this.closeConn(conn);
  }

  /**
   * Half-closes after the answers written and drops what the client still sends for a while
   * (the sweep destroys the socket then), so that bytes arriving after the close do not make
   * the kernel reset the connection before the client has read its answer.
   */
  private closeConn(conn: FastConn): void {
    const socket = conn.socket;
    conn.buf = undefined;
    conn.body = undefined;
    conn.skip = 0;
    conn.started = 0;
    if (conn.waitingDrain || conn.heldBusy) {
      conn.waitingDrain = false;
      conn.heldBusy = false;
      socket.removeListener('drain', onDrain);
      socket.resume();
    }
    if (socket.readableEnded || this.closing) {
      this.forget(conn);
      socket.end();
      return;
    }
    conn.lingerUntil = Date.now() + this.lingerMs;
    this.startSweeper();
    socket.end();
  }

  /** Hands a connection to node:http with the bytes it has not consumed. */
  private release(conn: FastConn): void {
    const socket = conn.socket as FastSocket;
    this.forget(conn);
    socket.removeListener('data', onData);
    socket.removeListener('error', onError);
    socket.removeListener('close', onClose);
    socket.removeListener('end', onEnd);
    if (conn.waitingDrain || conn.heldBusy) {
      conn.waitingDrain = false;
      conn.heldBusy = false;
      socket.removeListener('drain', onDrain);
      socket.resume();
    }
    const rest = conn.buf;
    conn.buf = undefined;
    this.handoff(socket);
    // The bytes read so far go to node:http's parser now, in this tick: put back into the
    // stream's buffer instead (unshift), they would reach it only on a later tick, and the
    // parser, reading the socket natively, could see newer bytes first.
    if (rest !== undefined && !socket.destroyed) socket.emit('data', rest);
  }

  /**
   * Runs every quarter keep-alive time. A request being received must complete its head
   * within the server's headersTimeout and the whole request within its requestTimeout,
   * counted from its first byte, or it gets 408 and the connection closes (node:http's
   * bounds, so a head or body trickling in byte by byte cannot hold a connection here for
   * longer). A connection quiet for the keep-alive time between requests is closed when it
   * was kept alive (as node:http does), or goes to node:http when it has sent nothing yet.
   * A lingering connection is destroyed when its time is up.
   */
  private sweep(): void {
    const now = Date.now();
    const headersTimeout = this.server.headersTimeout;
    const requestTimeout = this.server.requestTimeout;
    for (const conn of [...this.conns]) {
      if (conn.lingerUntil !== 0) {
        if (now >= conn.lingerUntil) {
          this.forget(conn);
          conn.socket.destroy();
        }
        continue;
      }
      // Answering, or waiting for the client to read its answers: not idle (as in node:http).
      if (conn.busy || conn.waitingDrain) continue;
      if (conn.started !== 0) {
        const age = now - conn.started;
        const headPending = conn.body === undefined;
        if ((headPending && headersTimeout > 0 && age >= headersTimeout) || (requestTimeout > 0 && age >= requestTimeout)) {
          this.respond(conn, TIMEOUT_408, true);
        }
        continue;
      }
      if (now - conn.last < this.keepAliveMs) continue;
      if (!conn.answered) this.release(conn);
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
      if (conn.lingerUntil !== 0 || (!conn.busy && conn.buf === undefined && conn.body === undefined)) {
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

function onData(this: Socket, chunk: Buffer): void {
  const conn = (this as FastSocket)[kConn];
  if (conn === undefined) return;
  conn.last = Date.now();
  conn.path.receive(conn, chunk);
}

function onError(this: Socket): void {
  // Resets from clients are routine; 'close' follows.
}

function onDrain(this: Socket): void {
  const conn = (this as FastSocket)[kConn];
  if (conn === undefined || !conn.waitingDrain) return;
  conn.waitingDrain = false;
  if (!conn.heldBusy) this.resume();
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
