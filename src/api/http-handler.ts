/**
 * HTTP binding of the server API (server.md §4.1–§4.5): `POST <prefix>/<method>`,
 * `POST <prefix>/batch` and the legacy `POST <prefix>` stream, with API key auth and the
 * optional transport error mode.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiExecutor } from './executor.js';
import type { ApiLogger } from './method.js';
import { apiErrorHttpStatus } from './errors.js';
import { encodeJson } from './raw-json.js';
import { JsonStreamError } from './json-stream.js';
import { parseLegacyCommands, runLegacyCommands } from './legacy.js';
import { closeAfterAnswer, EARLY_ANSWER_SKIP_MAX_BYTES } from './lingering-close.js';
import { LogLimiter } from '../core/index.js';

/** Default request body limit. */
export const DEFAULT_API_MAX_BODY_BYTES = 10 * 1024 * 1024;

export interface ApiHandlerOptions {
  /** API key; empty (and not insecure) makes every request 401. */
  key: string;
  /** Skip the API key check. */
  insecure: boolean;
  /** `transport`: single-method errors get a mapped HTTP status and a bare error body. */
  errorMode?: '' | 'transport';
  /** Base path, default `/api`; a trailing `/` is trimmed. */
  prefix?: string;
  /** Larger bodies get 413. Default 10 MiB. */
  maxBodyBytes?: number;
  /** When it returns true the legacy route answers 503 (node shutting down). */
  shuttingDown?: () => boolean;
  logger?: ApiLogger;
}

type Route = { kind: 'legacy' } | { kind: 'method'; name: string } | { kind: 'unknown' };

/** A complete answer to one API request, independent of the HTTP implementation that sends it. */
export interface ApiAnswer {
  status: number;
  /** `json`, `text` (plain text like Go's http.Error) or `empty` (no body). */
  type: 'json' | 'text' | 'empty';
  body: string;
}

/** Looks up one request header by its lower-case name. */
export type HeaderLookup = (name: string) => string | undefined;

/**
 * The API's routing, key check and method calls, shared by the node:http binding below and
 * by the server's keep-alive fast path (server/fast-api.ts).
 */
export class ApiEndpoint {
  readonly prefix: string;
  readonly legacyPath: string;
  readonly maxBody: number;
  private readonly keyDigest: Buffer | undefined;

  constructor(
    readonly exec: ApiExecutor,
    readonly opts: ApiHandlerOptions,
  ) {
    this.prefix = (opts.prefix ?? '/api').replace(/\/+$/, '');
    this.legacyPath = this.prefix === '' ? '/' : this.prefix;
    this.maxBody = opts.maxBodyBytes ?? DEFAULT_API_MAX_BODY_BYTES;
    this.keyDigest = opts.key === '' ? undefined : digest(opts.key);
  }

  route(path: string): Route | undefined {
    if (path === this.legacyPath) return { kind: 'legacy' };
    const name = this.methodOf(path);
    if (name !== undefined) return { kind: 'method', name };
    if (!path.startsWith(this.prefix + '/')) return undefined;
    // With an empty prefix the API owns only its own paths, not the whole server.
    return this.prefix === '' ? undefined : { kind: 'unknown' };
  }

  /** The method a path names (`<prefix>/<method>`), or undefined. */
  methodOf(path: string): string | undefined {
    if (path.length <= this.prefix.length + 1 || !path.startsWith(this.prefix) || path.charCodeAt(this.prefix.length) !== 0x2f) return undefined;
    const name = path.slice(this.prefix.length + 1);
    return this.exec.has(name) ? name : undefined;
  }

  /** Whether the request carries the API key (or the API is insecure). */
  authorized(header: HeaderLookup, query: string): boolean {
    return this.opts.insecure || authorized(header, query, this.keyDigest);
  }

  /**
   * Whether the connection closes after an answer given before the body was read (401):
   * when the body is undeclared (chunked) or larger than a small skip, rather than reading
   * a body nobody will use. `declared` is the Content-Length, undefined when there is none.
   */
  closesAfterEarlyAnswer(declared: number | undefined): boolean {
    return declared === undefined || declared > EARLY_ANSWER_SKIP_MAX_BYTES;
  }

  /** Whether error replies use HTTP statuses (`transport` error mode) for this request. */
  transportMode(header: HeaderLookup): boolean {
    return this.opts.errorMode === 'transport' || header('x-centrifugo-error-mode') === 'transport';
  }

  /** Runs one method call (`<prefix>/<method>` or batch) on a read body. */
  async callMethod(name: string, body: Buffer, transportMode: boolean): Promise<ApiAnswer> {
    let params: unknown;
    try {
      params = JSON.parse(body.toString('utf8'));
    } catch {
      return text(400, 'Bad Request');
    }
    const call = this.exec.prepare(name, params);
    if (call.kind === 'unknown_method') return text(404, '404 page not found');
    if (call.kind === 'bad_request') return text(400, 'Bad Request');
    const reply = await call.run();
    if (name === 'batch') {
      // The batch response is `{"replies":[...]}` itself, with no result envelope, and is never in transport mode.
      return json(200, encodeJson('result' in reply ? reply.result : reply));
    }
    if ('error' in reply && transportMode) return json(apiErrorHttpStatus(reply.error.code), encodeJson(reply.error));
    return json(200, encodeJson(reply));
  }
}

const text = (status: number, body: string): ApiAnswer => ({ status, type: 'text', body });
const json = (status: number, body: string): ApiAnswer => ({ status, type: 'json', body });

/**
 * The node:http request handler of an endpoint. It returns false, without touching the
 * response, when the path is not the API's (so the caller can route elsewhere); otherwise
 * it answers the request.
 */
export function apiHandlerOf(endpoint: ApiEndpoint): (req: IncomingMessage, res: ServerResponse) => boolean {
  const logger = endpoint.opts.logger;
  const limiter = new LogLimiter();
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const query = q === -1 ? '' : url.slice(q + 1);
    const r = endpoint.route(path);
    if (!r) return false;
    serve(req, res, r, query).catch((err: unknown) => {
      if (err instanceof ClientGone) {
        // The client closed or broke the connection mid-body: its doing, nothing to answer.
        const repeated = limiter.allow('gone');
        if (repeated !== undefined) logger?.debug?.({ path, reason: err.message, ...(repeated > 0 ? { repeated } : {}) }, 'server API request aborted by the client');
        res.destroy();
        return;
      }
      const repeated = limiter.allow(`failed\u0000${err instanceof Error ? err.message : String(err)}`);
      if (repeated !== undefined) logger?.error({ err, path, ...(repeated > 0 ? { repeated } : {}) }, 'server API request failed');
      if (!res.headersSent) sendText(res, 500, 'Internal Server Error');
      else res.destroy();
    });
    return true;
  };

  async function serve(req: IncomingMessage, res: ServerResponse, r: Route, query: string): Promise<void> {
    if (r.kind === 'unknown') return sendText(res, 404, '404 page not found');
    if (req.method !== 'POST') return sendEmpty(res, 405);
    const header: HeaderLookup = (name) => headerValue(req, name);
    if (!endpoint.authorized(header, query)) {
      // Answered from the head; a body worth more than a small skip is not read but the connection closed.
      if (endpoint.closesAfterEarlyAnswer(declaredLength(req))) closeAfterAnswer(req, res);
      return sendEmpty(res, 401);
    }
    if (r.kind === 'legacy' && endpoint.opts.shuttingDown?.()) return sendEmpty(res, 503);

    const body = await readBody(req, endpoint.maxBody);
    if (body === 'too_large') {
      closeAfterAnswer(req, res);
      return sendText(res, 413, 'Request Entity Too Large');
    }

    if (r.kind === 'legacy') {
      if (body.length === 0) return sendText(res, 400, 'Bad Request');
      let commands;
      try {
        commands = parseLegacyCommands(body.toString('utf8'));
      } catch (err) {
        if (err instanceof JsonStreamError) return sendText(res, 400, 'Bad Request');
        throw err;
      }
      return sendJson(res, 200, await runLegacyCommands(endpoint.exec, commands));
    }
    const answer = await endpoint.callMethod(r.name, body, endpoint.transportMode(header));
    if (answer.type === 'json') return sendJson(res, answer.status, answer.body);
    if (answer.type === 'text') return sendText(res, answer.status, answer.body);
    return sendEmpty(res, answer.status);
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Constant-time comparison (equal-length digests, so timing does not reveal the key length). */
function keyMatches(candidate: string, keyDigest: Buffer): boolean {
  return timingSafeEqual(digest(candidate), keyDigest);
}

/**
 * API key check: `X-API-Key` when present, else `Authorization: apikey <key>` (scheme
 * case-insensitive, exactly two parts); when neither is valid, the `api_key` query parameter.
 */
function authorized(header: HeaderLookup, query: string, keyDigest: Buffer | undefined): boolean {
  if (!keyDigest) return false;
  let ok = false;
  const xKey = header('x-api-key');
  if (xKey) {
    ok = keyMatches(xKey, keyDigest);
  } else {
    const auth = header('authorization');
    if (auth) {
      const parts = auth.trim().split(/\s+/);
      if (parts.length === 2 && (parts[0] as string).toLowerCase() === 'apikey') ok = keyMatches(parts[1] as string, keyDigest);
    }
  }
  if (!ok && query !== '') {
    ok = keyMatches(new URLSearchParams(query).get('api_key') ?? '', keyDigest);
  }
  return ok;
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The declared body length: 0 without a body, undefined when chunked (unknown). */
function declaredLength(req: IncomingMessage): number | undefined {
  if (req.headers['transfer-encoding'] !== undefined) return undefined;
  const cl = req.headers['content-length'];
  return cl === undefined ? 0 : Number(cl);
}

/** The client aborted the request or its connection failed while the body was read. */
class ClientGone extends Error {}

/**
 * Reads the whole body, or reports 'too_large' at once when the declared length passes the
 * limit, or as soon as the bytes read do.
 */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too_large'> {
  const declared = declaredLength(req);
  if (declared !== undefined && declared > max) {
    // Not read: node:http drops what still arrives while the connection closes.
    return Promise.resolve('too_large');
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        done = true;
        req.off('data', onData);
        req.resume();
        resolve('too_large');
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => {
      if (!done) resolve(Buffer.concat(chunks, size));
    });
    req.once('error', (err) => {
      if (!done) reject(new ClientGone((err as NodeJS.ErrnoException).code ?? err.message));
      done = true;
    });
    req.once('aborted', () => {
      if (!done) reject(new ClientGone('aborted'));
      done = true;
    });
  });
}

function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'Content-Length': '0' });
  res.end();
}

/** Plain-text answer like Go's http.Error. */
function sendText(res: ServerResponse, status: number, text: string): void {
  const body = text + '\n';
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'X-Content-Type-Options': 'nosniff',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
