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

/**
 * Builds the request handler. It returns false, without touching the response, when the path
 * is not the API's (so the caller can route elsewhere); otherwise it answers the request.
 */
export function createApiHandler(exec: ApiExecutor, opts: ApiHandlerOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const prefix = (opts.prefix ?? '/api').replace(/\/+$/, '');
  const legacyPath = prefix === '' ? '/' : prefix;
  const maxBody = opts.maxBodyBytes ?? DEFAULT_API_MAX_BODY_BYTES;
  const keyDigest = opts.key === '' ? undefined : digest(opts.key);
  const logger = opts.logger;

  const route = (path: string): Route | undefined => {
    if (path === legacyPath) return { kind: 'legacy' };
    if (!path.startsWith(prefix + '/')) return undefined;
    const name = path.slice(prefix.length + 1);
    if (exec.has(name)) return { kind: 'method', name };
    // With an empty prefix the API owns only its own paths, not the whole server.
    return prefix === '' ? undefined : { kind: 'unknown' };
  };

  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const query = q === -1 ? '' : url.slice(q + 1);
    const r = route(path);
    if (!r) return false;
    serve(req, res, r, query).catch((err: unknown) => {
      logger?.error({ err, path }, 'server API request failed');
      if (!res.headersSent) sendText(res, 500, 'Internal Server Error');
      else res.destroy();
    });
    return true;
  };

  async function serve(req: IncomingMessage, res: ServerResponse, r: Route, query: string): Promise<void> {
    if (r.kind === 'unknown') return sendText(res, 404, '404 page not found');
    if (req.method !== 'POST') return sendEmpty(res, 405);
    if (!opts.insecure && !authorized(req, query, keyDigest)) return sendEmpty(res, 401);
    if (r.kind === 'legacy' && opts.shuttingDown?.()) return sendEmpty(res, 503);

    const body = await readBody(req, maxBody);
    if (body === 'too_large') {
      res.setHeader('Connection', 'close');
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
      return sendJson(res, 200, await runLegacyCommands(exec, commands));
    }

    let params: unknown;
    try {
      params = JSON.parse(body.toString('utf8'));
    } catch {
      return sendText(res, 400, 'Bad Request');
    }
    const call = exec.prepare(r.name, params);
    if (call.kind === 'unknown_method') return sendText(res, 404, '404 page not found');
    if (call.kind === 'bad_request') return sendText(res, 400, 'Bad Request');
    const reply = await call.run();
    if (r.name === 'batch') {
      // The batch response is `{"replies":[...]}` itself, with no result envelope, and is never in transport mode.
      return sendJson(res, 200, encodeJson('result' in reply ? reply.result : reply));
    }
    if ('error' in reply && transportMode(req)) {
      return sendJson(res, apiErrorHttpStatus(reply.error.code), encodeJson(reply.error));
    }
    return sendJson(res, 200, encodeJson(reply));
  }

  function transportMode(req: IncomingMessage): boolean {
    return opts.errorMode === 'transport' || req.headers['x-centrifugo-error-mode'] === 'transport';
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
function authorized(req: IncomingMessage, query: string, keyDigest: Buffer | undefined): boolean {
  if (!keyDigest) return false;
  let ok = false;
  const xKey = headerValue(req, 'x-api-key');
  if (xKey) {
    ok = keyMatches(xKey, keyDigest);
  } else {
    const auth = headerValue(req, 'authorization');
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

/** Reads the whole body, or reports 'too_large' as soon as it passes the limit. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too_large'> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    req.resume();
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
      if (!done) reject(err);
      done = true;
    });
    req.once('aborted', () => {
      if (!done) reject(new Error('request aborted'));
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
