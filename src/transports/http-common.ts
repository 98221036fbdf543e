/**
 * Shared pieces of the HTTP-based client transports (HTTP-streaming, SSE, their
 * unidirectional variants, the emulation endpoint): bounded body reading, the CORS
 * preflight answer, streaming response headers, and one Transport that writes encoded
 * items into a long-lived response with a per-transport framing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Disconnect } from '../protocol/codes.js';
import type { ProtocolType } from '../protocol/types.js';
import type { Transport, TransportRequest } from '../core/index.js';

/** Default of every `max_request_body_size`. */
export const defaultMaxBodyBytes = 65536;

/** The body, or why it could not be read: over the limit, or the client went away. */
export type BodyResult = { ok: true; body: Buffer } | { ok: false; reason: 'too_large' | 'aborted' };

/** Reads a request body of at most limit bytes (0 = the default limit). */
export function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  const max = limit > 0 ? limit : defaultMaxBodyBytes;
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) return Promise.resolve({ ok: false, reason: 'too_large' });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (r: BodyResult): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      resolve(r);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) {
        finish({ ok: false, reason: 'too_large' });
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => finish({ ok: true, body: Buffer.concat(chunks, size) }));
    req.once('error', () => finish({ ok: false, reason: 'aborted' }));
    req.once('close', () => finish(req.complete ? { ok: true, body: Buffer.concat(chunks, size) } : { ok: false, reason: 'aborted' }));
  });
}

/** Answers an unusable request with a status and a short plain-text body. */
export function respond(res: ServerResponse, status: number, body = '', close = false): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
  if (close) headers.connection = 'close';
  res.writeHead(status, headers).end(body);
}

/** Answers the outcome of a failed body read (413 or nothing for an aborted request). */
export function bodyFailed(res: ServerResponse, reason: 'too_large' | 'aborted'): void {
  if (reason === 'too_large') respond(res, 413, 'Request Entity Too Large\n', true);
  else res.destroy();
}

/** Answers a CORS preflight: 204 with the allowed methods, cached for 300 s. */
export function preflight(res: ServerResponse, methods: string): void {
  res.writeHead(204, { 'access-control-max-age': '300', 'access-control-allow-methods': methods }).end();
}

/** The transport request details the core keeps for a connection. */
export function transportRequest(req: IncomingMessage): TransportRequest {
  return { headers: req.headers, remoteAddress: req.socket.remoteAddress };
}

/** How a streaming transport puts items on the wire. */
export interface StreamFormat {
  readonly contentType: string;
  /** Written right after the headers so that the client sees the stream open. */
  readonly preamble?: string;
  /** Turns the items of one flush into the bytes of one write. */
  frame(items: Uint8Array[]): Buffer;
}

const newline = Buffer.from('\n');

/** JSON items, each followed by '\n' (HTTP-streaming, uni_http_stream). */
export const jsonLines: StreamFormat = {
  contentType: 'application/json',
  frame(items) {
    const parts: Uint8Array[] = [];
    for (const item of items) parts.push(item, newline);
    return Buffer.concat(parts);
  },
};

/** Protobuf items, already varint-length-prefixed, concatenated (HTTP-streaming). */
export const protobufItems: StreamFormat = {
  contentType: 'application/octet-stream',
  frame: (items) => Buffer.concat(items),
};

const dataPrefix = Buffer.from('data: ');
const eventEnd = Buffer.from('\n\n');

/** One SSE event per JSON item: `data: <item>\n\n`; the stream opens with `\r\n` (SSE, uni_sse). */
export const sseEvents: StreamFormat = {
  contentType: 'text/event-stream; charset=utf-8',
  preamble: '\r\n',
  frame(items) {
    const parts: Uint8Array[] = [];
    for (const item of items) parts.push(dataPrefix, item, eventEnd);
    return Buffer.concat(parts);
  },
};

/** What kind of session a streaming response carries. */
export interface StreamTransportKind {
  readonly name: string;
  readonly protocol: ProtocolType;
  readonly unidirectional: boolean;
}

/**
 * A Transport over one streaming HTTP response. Items written before start() (while the
 * connect outcome decides between a stream and a plain HTTP answer) are held and go out
 * right after the headers. Disconnects always travel as a push; close() ends the response.
 */
export class HttpStreamTransport implements Transport {
  readonly name: string;
  readonly protocol: ProtocolType;
  readonly unidirectional: boolean;
  readonly emulation: boolean;
  readonly appLevelPing = true;
  readonly disconnectPush = true;
  private started = false;
  private ended = false;
  private endAfterStart = false;
  private held: Uint8Array[] = [];

  constructor(
    private readonly res: ServerResponse,
    kind: StreamTransportKind,
    private readonly format: StreamFormat,
  ) {
    this.name = kind.name;
    this.protocol = kind.protocol;
    this.unidirectional = kind.unidirectional;
    this.emulation = !kind.unidirectional;
  }

  /** True once the response ended or the client went away. */
  get isClosed(): boolean {
    return this.ended || this.res.destroyed;
  }

  /** Writes the 200 streaming headers and the preamble, then anything held. */
  start(httpVersionMajor: number): void {
    if (this.started || this.ended) return;
    this.started = true;
    const headers: Record<string, string> = {
      'content-type': this.format.contentType,
      'cache-control': 'private, no-cache, no-store, must-revalidate, max-age=0',
      pragma: 'no-cache',
      expire: '0',
      'x-accel-buffering': 'no',
    };
    if (httpVersionMajor === 1) headers.connection = 'keep-alive';
    this.res.writeHead(200, headers);
    if (this.format.preamble) this.res.write(this.format.preamble);
    else this.res.flushHeaders();
    const held = this.held;
    this.held = [];
    if (held.length > 0) this.res.write(this.format.frame(held));
    if (this.endAfterStart) this.end();
  }

  writeItems(items: Uint8Array[]): void {
    if (this.ended || this.res.destroyed) return;
    if (!this.started) {
      for (const item of items) this.held.push(item);
      return;
    }
    this.res.write(this.format.frame(items));
  }

  bufferedBytes(): number {
    return this.res.writableLength;
  }

  close(d: Disconnect): void {
    void d;
    if (!this.started) {
      this.endAfterStart = true;
      return;
    }
    this.end();
  }

  /** The client went away: nothing more is written. */
  markClosed(): void {
    this.ended = true;
    this.held = [];
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.res.end();
  }
}
