/**
 * Sends lifecycle notification batches over HTTP: `POST {"events":[...]}` with
 * `Content-Type: application/json`. Success is status 200 with a JSON object answer that has
 * no `error` (the documented answer is `{"result":{}}`); anything else throws, and the
 * EventSink retries.
 */
import { Pool } from 'undici';
import type { HttpProxyTlsOptions } from './http-proxy.js';

export interface HttpEventPosterOptions {
  endpoint: string;
  /** Whole-request timeout, ms. */
  timeoutMs: number;
  staticHeaders?: Readonly<Record<string, string>>;
  tls?: HttpProxyTlsOptions;
}

/** Largest answer read, bytes; the answer is expected to be tiny. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** One keep-alive pool per endpoint; post() throws on any failure. */
export class HttpEventPoster {
  private readonly pool: Pool;
  private readonly path: string;
  private readonly headers: Record<string, string>;

  constructor(private readonly opts: HttpEventPosterOptions) {
    const url = new URL(opts.endpoint);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`event endpoint ${opts.endpoint} is not http(s)`);
    this.path = `${url.pathname}${url.search}`;
    this.pool = new Pool(url.origin, {
      connections: 4,
      connectTimeout: opts.timeoutMs,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      connect: opts.tls ? { ...opts.tls } : undefined,
    });
    this.headers = { ...(opts.staticHeaders ?? {}), 'content-type': 'application/json' };
  }

  /** POSTs one batch. */
  async post(events: readonly object[]): Promise<void> {
    const body = JSON.stringify({ events });
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new Error(`timed out after ${this.opts.timeoutMs} ms`)), this.opts.timeoutMs);
    try {
      const res = await this.pool.request({ path: this.path, method: 'POST', headers: this.headers, body, signal: abort.signal });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`unexpected HTTP status ${res.statusCode}`);
      if (text.length > MAX_ANSWER_BYTES) throw new Error('answer too large');
      let answer: unknown;
      try {
        answer = JSON.parse(text);
      } catch {
        throw new Error('answer is not valid JSON');
      }
      if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) throw new Error('answer is not a JSON object');
      const error = (answer as { error?: unknown }).error;
      if (error !== undefined && error !== null) throw new Error(`backend error: ${JSON.stringify(error).slice(0, 200)}`);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.pool.close().catch(() => undefined);
  }
}
