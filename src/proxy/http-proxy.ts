/**
 * The HTTP proxy client: Centrifugo's backend hooks (connect, refresh, subscribe, publish, RPC,
 * sub_refresh, map_publish, map_remove, shared_poll_refresh) as JSON POSTs to one endpoint over a pool of keep-alive connections
 * (server.md §5.1–§5.8, integrations.md §2.3–§2.5).
 */
import { type Dispatcher, Pool } from 'undici';
import type {
  ConnectProxy,
  ConnectProxyRequest,
  ConnectProxyResult,
  MapPublishProxy,
  MapPublishProxyRequest,
  MapPublishProxyResult,
  MapRemoveProxy,
  MapRemoveProxyRequest,
  MapRemoveProxyResult,
  ProxyClient,
  PublishProxy,
  PublishProxyRequest,
  PublishProxyResult,
  RefreshProxy,
  RefreshProxyResult,
  RpcProxy,
  RpcProxyRequest,
  SharedPollRefreshProxy,
  SharedPollRefreshRequest,
  SharedPollRefreshResult,
  SubRefreshProxy,
  SubRefreshProxyRequest,
  SubRefreshProxyResult,
  SubscribeProxy,
  SubscribeProxyRequest,
  SubscribeProxyResult,
} from '../core/index.js';
import { ProxyCallError } from '../core/index.js';
import { JSON_INVALID, scanJson } from '../protocol/json-scan.js';
import {
  connectResult,
  mapPublishResult,
  mapRemoveResult,
  type ProxyEnvelope,
  publishResult,
  readResult,
  rawResultFields,
  readEnvelope,
  refreshResult,
  rpcResult,
  settle,
  ShapeError,
  sharedPollRefreshResult,
  subRefreshResult,
  subscribeResult,
} from './proxy-results.js';
import { parseJsonKeepingRaw } from './raw-json.js';
import { base64Of, fixedEntries, forwarded, type ForwardingRules, nameSet } from './forwarding.js';

/** Maps one non-200 HTTP status to a protocol error or a disconnect (`status_to_code_transforms`). */
export interface HttpStatusTransform {
  statusCode: number;
  /** Used when its code is above 0. */
  toError?: { code: number; message: string; temporary?: boolean };
  /** Used when no error applies and its code is above 0. */
  toDisconnect?: { code: number; reason: string };
}

/** Client TLS for `https://` endpoints (PEM text); the system CAs are trusted when `ca` is absent. */
export interface HttpProxyTlsOptions {
  ca?: string | string[];
  cert?: string;
  key?: string;
  /** SNI and certificate name to check, when not the endpoint's host. */
  servername?: string;
  /** false skips certificate verification (`insecure_skip_verify`). Default true. */
  rejectUnauthorized?: boolean;
}

/** One proxy object of the configuration (server.md §1.6.11), as the HTTP client needs it. */
export interface HttpProxyOptions {
  /** Proxy name for error messages (`default` for the built-in ones). */
  name: string;
  /** `http://` or `https://` URL the hooks are POSTed to. */
  endpoint: string;
  /** Bound on the whole call: connecting, waiting in the pool, sending and reading the answer. */
  timeoutMs: number;
  /** Names of transport request headers to forward (case-insensitive). */
  httpHeaders?: readonly string[];
  /** Names of client-emulated headers (connect command `headers`) to forward (case-insensitive). */
  emulatedHeaders?: readonly string[];
  /** Headers on every request; forwarded headers of the same name replace them. */
  staticHeaders?: Readonly<Record<string, string>>;
  /** Payloads as base64 `b64data` with `"encoding":"binary"` instead of raw JSON `data`. */
  binaryEncoding?: boolean;
  /** Add the connection's `meta` to every request but connect. */
  includeConnectionMeta?: boolean;
  statusToCodeTransforms?: readonly HttpStatusTransform[];
  tls?: HttpProxyTlsOptions;
  /** Larger answers fail the call. Default 10 MiB. */
  maxResponseBytes?: number;
  /** Connections kept to the endpoint; calls beyond wait for a free one. Default 255. */
  maxConnections?: number;
}

const DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;
const DEFAULT_MAX_CONNECTIONS = 255;
/** What is read of a non-200 body so its connection can be reused; larger ones close it. */
const DISCARD_LIMIT = 64 * 1024;

/** Headers the HTTP client manages itself; forwarding a client's copy would corrupt the request. */
const MANAGED_HEADERS = new Set([
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'upgrade',
  'expect',
  'te',
  'trailer',
]);

type HeaderValue = string | string[];
type Hook = 'connect' | 'refresh' | 'subscribe' | 'publish' | 'rpc' | 'sub_refresh' | 'map_publish' | 'map_remove' | 'shared_poll_refresh';

/** Shared-poll refreshes are made for no connection: only static headers go with them. */
const NO_CLIENT: ProxyClient = Object.freeze({ client: '', transport: '', protocol: 'json', user: '', headers: Object.freeze({}) });

/** Builds a JSON object, splicing raw JSON values in as bytes. */
class BodyBuilder {
  private readonly parts: Uint8Array[] = [];
  private text = '{';

  str(key: string, value: string | undefined): this {
    if (value) this.text += `${this.sep()}"${key}":${JSON.stringify(value)}`;
    return this;
  }

  /** A string field sent even when empty (`user`). */
  strAlways(key: string, value: string): this {
    this.text += `${this.sep()}"${key}":${JSON.stringify(value)}`;
    return this;
  }

  /** Any JSON-serialisable value, always sent. */
  json(key: string, value: unknown): this {
    this.text += `${this.sep()}"${key}":${JSON.stringify(value)}`;
    return this;
  }

  list(key: string, value: readonly string[] | undefined): this {
    if (value && value.length > 0) this.text += `${this.sep()}"${key}":${JSON.stringify(value)}`;
    return this;
  }

  /** Embeds JSON bytes as they are; throws when they are not one JSON value. */
  raw(key: string, value: Uint8Array | undefined): this {
    if (value === undefined || value.length === 0) return this;
    if (scanJson(value) === JSON_INVALID) throw new ShapeError(`${key} is not valid JSON (enable binary_encoding for binary payloads)`);
    this.text += `${this.sep()}"${key}":`;
    this.parts.push(Buffer.from(this.text), value);
    this.text = '';
    return this;
  }

  finish(): Buffer {
    this.parts.push(Buffer.from(this.text + '}'));
    return Buffer.concat(this.parts);
  }

  private sep(): string {
    return this.text === '{' && this.parts.length === 0 ? '' : ',';
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

/** A failed exchange whose message is ready for the proxy's error (the cause kept). */
class ExchangeError extends Error {}

interface ExchangeResult {
  status: number;
  /** The whole body for 200; empty for other statuses (read up to DISCARD_LIMIT and dropped). */
  body: Buffer;
}

const CONTENT_LENGTH = 'content-length';

/**
 * One POST through the pool as a plain dispatch handler: the body is collected in a list of
 * chunks, without a response stream, an AbortController or a promise per chunk. The timer
 * bounds the whole exchange, waiting for a pooled connection included; a call that times out
 * while still queued is settled at once and aborted when the pool gets to it.
 */
class Exchange implements Dispatcher.DispatchHandlers {
  readonly done: Promise<ExchangeResult>;
  private resolve!: (r: ExchangeResult) => void;
  private reject!: (e: Error) => void;
  private abortFn: ((err: Error) => void) | undefined;
  private readonly timer: NodeJS.Timeout;
  private settled = false;
  /** Set when the exchange is to be aborted: by the timer, or a body over the bound. */
  private failure: ExchangeError | undefined;
  private status = 0;
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(
    pool: Pool,
    path: string,
    headers: Record<string, HeaderValue>,
    body: Buffer,
    private readonly timeoutMs: number,
    private readonly maxBytes: number,
  ) {
    this.done = new Promise<ExchangeResult>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.timer = setTimeout(() => this.fail(new ExchangeError(`timed out after ${this.timeoutMs} ms`)), timeoutMs);
    pool.dispatch({ path, method: 'POST', headers, body }, this);
  }

  /** Settles with `err` and aborts the request (now, or once it has a connection). */
  private fail(err: ExchangeError): void {
    if (this.failure === undefined) this.failure = err;
    this.finish(undefined, err);
    this.abortFn?.(err);
  }

  private finish(result: ExchangeResult | undefined, err?: Error): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    if (err !== undefined) this.reject(err);
    else this.resolve(result!);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
    if (this.failure !== undefined) abort(this.failure);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[] | string[] | null): boolean {
    this.status = statusCode;
    if (statusCode === 200 && rawHeaders) {
      for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
        if (rawHeaders[i]!.toString().toLowerCase() !== CONTENT_LENGTH) continue;
        const declared = Number(rawHeaders[i + 1]!.toString());
        if (declared > this.maxBytes) this.fail(new ExchangeError(`response body of ${declared} bytes exceeds ${this.maxBytes}`));
        break;
      }
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.size += chunk.length;
    if (this.status !== 200) {
      // Read a small body to completion so the connection stays usable; close it for large ones.
      if (this.size > DISCARD_LIMIT && !this.settled) {
        this.finish({ status: this.status, body: EMPTY });
        this.abortFn?.(new ExchangeError('body dropped'));
      }
      return true;
    }
    if (this.size > this.maxBytes) {
      this.fail(new ExchangeError(`response body exceeds ${this.maxBytes} bytes`));
      return true;
    }
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    const c = this.chunks;
    const result: ExchangeResult =
      this.status !== 200 ? { status: this.status, body: EMPTY } : { status: 200, body: c.length === 1 ? c[0]! : Buffer.concat(c, this.size) };
    // The pool makes the connection usable again one event-loop turn after the response (its
    // own setImmediate, queued after this callback returns); settling after that lets a
    // caller's next call reuse it rather than open a second connection.
    queueMicrotask(() => setImmediate(settleLater, this, result));
  }

  /** For settleLater. */
  complete(result: ExchangeResult): void {
    this.finish(result);
  }

  onError(err: Error): void {
    if (this.settled) return;
    const stage = this.status === 0 ? 'request failed' : 'reading response failed';
    this.finish(undefined, new ExchangeError(`${stage}: ${describe(err)}`, { cause: err }));
  }
}

const EMPTY = Buffer.alloc(0);

function settleLater(x: Exchange, result: ExchangeResult): void {
  x.complete(result);
}

/**
 * One configured HTTP proxy; it serves every hook it is bound to. Each call resolves with the
 * backend's result or throws a Disconnect / ProtocolError from the backend (or a status
 * transform), or a ProxyCallError. Refresh and sub_refresh read only `result` (missing means
 * expired), as Centrifugo does.
 */
export class HttpProxy
  implements ConnectProxy, RefreshProxy, SubscribeProxy, PublishProxy, RpcProxy, SubRefreshProxy, MapPublishProxy, MapRemoveProxy, SharedPollRefreshProxy
{
  readonly name: string;
  /** How hooks travel, for metrics. */
  readonly protocol = 'http';
  private readonly pool: Pool;
  private readonly path: string;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly encoding: 'json' | 'binary';
  private readonly binary: boolean;
  private readonly includeMeta: boolean;
  private readonly forwarding: ForwardingRules;
  private readonly basicAuth: string | undefined;
  private readonly transforms: readonly HttpStatusTransform[];
  private closed = false;

  /** Throws when the endpoint is not an http(s) URL or the timeout is not positive. */
  constructor(options: HttpProxyOptions) {
    this.name = options.name;
    let url: URL;
    try {
      url = new URL(options.endpoint);
    } catch {
      throw new Error(`proxy ${options.name}: endpoint ${JSON.stringify(options.endpoint)} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`proxy ${options.name}: endpoint must start with http:// or https://`);
    }
    if (!(options.timeoutMs > 0)) throw new Error(`proxy ${options.name}: timeout must be positive`);
    this.path = url.pathname + url.search;
    this.basicAuth =
      url.username || url.password
        ? 'Basic ' + Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')
        : undefined;
    this.timeoutMs = options.timeoutMs;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.binary = options.binaryEncoding === true;
    this.encoding = this.binary ? 'binary' : 'json';
    this.includeMeta = options.includeConnectionMeta === true;
    const refused = (name: string): boolean => MANAGED_HEADERS.has(name);
    this.forwarding = {
      fixed: fixedEntries(options.staticHeaders, refused),
      emulated: nameSet(options.emulatedHeaders),
      transport: nameSet(options.httpHeaders),
      refused,
    };
    this.transforms = options.statusToCodeTransforms ?? [];
    const tls = options.tls;
    this.pool = new Pool(url.origin, {
      connections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      keepAliveTimeout: 60_000,
      keepAliveMaxTimeout: 600_000,
      connectTimeout: options.timeoutMs,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      ...(tls
        ? {
            connect: {
              ...(tls.ca !== undefined && { ca: tls.ca }),
              ...(tls.cert !== undefined && { cert: tls.cert }),
              ...(tls.key !== undefined && { key: tls.key }),
              ...(tls.servername !== undefined && { servername: tls.servername }),
              rejectUnauthorized: tls.rejectUnauthorized ?? true,
            },
          }
        : {}),
    });
  }

  async connect(req: ConnectProxyRequest): Promise<ConnectProxyResult | undefined> {
    const env = await this.call('connect', req, (b) => {
      this.common(b, req);
      if (this.binary) b.str('b64data', base64Of(req.data));
      else b.raw('data', req.data);
      b.str('name', req.name).str('version', req.version).list('channels', req.channels);
    });
    const result = settle(env);
    return result === undefined ? undefined : this.decode('connect', () => connectResult(result));
  }

  async refresh(req: ProxyClient): Promise<RefreshProxyResult> {
    const env = await this.call('refresh', req, (b) => {
      this.common(b, req).strAlways('user', req.user);
      this.meta(b, req);
    });
    return this.decode('refresh', () => refreshResult(env.result));
  }

  async subscribe(req: SubscribeProxyRequest): Promise<SubscribeProxyResult> {
    const env = await this.call('subscribe', req, (b) => {
      this.common(b, req).strAlways('user', req.user).str('channel', req.channel).str('token', req.token);
      this.meta(b, req);
      this.data(b, req.data);
    });
    const result = settle(env);
    return this.decode('subscribe', () => subscribeResult(result));
  }

  async publish(req: PublishProxyRequest): Promise<PublishProxyResult> {
    const env = await this.call('publish', req, (b) => {
      this.common(b, req).strAlways('user', req.user).str('channel', req.channel);
      this.data(b, req.data);
      this.meta(b, req);
    });
    const result = settle(env);
    return this.decode('publish', () => publishResult(result));
  }

  async rpc(req: RpcProxyRequest): Promise<Uint8Array> {
    const env = await this.call('rpc', req, (b) => {
      this.common(b, req).strAlways('user', req.user).str('method', req.method);
      this.data(b, req.data);
      this.meta(b, req);
    });
    const result = settle(env);
    return this.decode('rpc', () => rpcResult(result));
  }

  async subRefresh(req: SubRefreshProxyRequest): Promise<SubRefreshProxyResult> {
    const env = await this.call('sub_refresh', req, (b) => {
      this.common(b, req).strAlways('user', req.user).str('channel', req.channel);
      this.meta(b, req);
    });
    return this.decode('sub_refresh', () => subRefreshResult(env.result));
  }

  /** A client map publish (`user` left out when empty, as Centrifugo does for the map hooks). */
  async mapPublish(req: MapPublishProxyRequest): Promise<MapPublishProxyResult> {
    const env = await this.call('map_publish', req, (b) => {
      this.common(b, req).str('user', req.user).str('channel', req.channel).str('key', req.key);
      this.data(b, req.data);
      this.meta(b, req);
    });
    const result = settle(env);
    return this.decode('map_publish', () => mapPublishResult(result));
  }

  /** A client map remove. */
  async mapRemove(req: MapRemoveProxyRequest): Promise<MapRemoveProxyResult> {
    const env = await this.call('map_remove', req, (b) => {
      this.common(b, req).str('user', req.user).str('channel', req.channel).str('key', req.key);
      this.meta(b, req);
    });
    const result = settle(env);
    return this.decode('map_remove', () => mapRemoveResult(result));
  }

  /**
   * Polls the backend for one batch of shared-poll keys (`{"channel","items":[{"key","version"}]}`,
   * versions of 0 left out). The backend's `error` or `disconnect` fails the call like a
   * transport error: it only fails that poll.
   */
  async sharedPollRefresh(req: SharedPollRefreshRequest): Promise<SharedPollRefreshResult> {
    const env = await this.call('shared_poll_refresh', NO_CLIENT, (b) => {
      b.strAlways('channel', req.channel).json(
        'items',
        req.items.map((it) => (it.version > 0 ? { key: it.key, version: it.version } : { key: it.key })),
      );
    });
    if (env.disconnect || env.error) {
      const what = env.error ? `backend error ${env.error.code}: ${env.error.message}` : `backend disconnect ${env.disconnect!.code}`;
      throw this.failure('shared_poll_refresh', what);
    }
    return this.decode('shared_poll_refresh', () => sharedPollRefreshResult(env.result));
  }

  /** Closes the pooled connections; calls in flight are aborted. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.destroy();
  }

  private common(b: BodyBuilder, c: ProxyClient): BodyBuilder {
    return b.str('client', c.client).str('transport', c.transport).str('protocol', c.protocol).str('encoding', this.encoding);
  }

  private data(b: BodyBuilder, data: Uint8Array | undefined): void {
    if (this.binary) b.str('b64data', base64Of(data));
    else b.raw('data', data);
  }

  private meta(b: BodyBuilder, c: ProxyClient): void {
    if (this.includeMeta) b.raw('meta', c.meta);
  }

  private decode<T>(hook: Hook, read: () => T): T {
    return readResult(read, (detail) => this.failure(hook, detail));
  }

  private failure(hook: Hook, detail: string, cause?: unknown): ProxyCallError {
    return new ProxyCallError(`http proxy ${this.name} (${hook}): ${detail}`, cause === undefined ? undefined : { cause });
  }

  /** Headers in precedence order: static, then listed emulated headers, then listed transport headers. */
  private headers(c: ProxyClient): Record<string, HeaderValue> {
    const out = forwarded(this.forwarding, c);
    if (this.basicAuth !== undefined && out.authorization === undefined) out.authorization = this.basicAuth;
    out['content-type'] = 'application/json';
    return out;
  }

  /** POSTs one request and reads the envelope; every failure becomes a ProxyCallError. */
  private async call(hook: Hook, client: ProxyClient, build: (b: BodyBuilder) => void): Promise<ProxyEnvelope> {
    if (this.closed) throw this.failure(hook, 'proxy is closed');
    let body: Buffer;
    try {
      const builder = new BodyBuilder();
      build(builder);
      body = builder.finish();
    } catch (err) {
      if (err instanceof ShapeError) throw this.failure(hook, `cannot encode request: ${err.message}`);
      throw err;
    }
    let res: ExchangeResult;
    try {
      res = await new Exchange(this.pool, this.path, this.headers(client), body, this.timeoutMs, this.maxResponseBytes).done;
    } catch (err) {
      if (err instanceof ExchangeError) throw this.failure(hook, err.message, err.cause);
      throw this.failure(hook, `request failed: ${describe(err)}`, err);
    }
    if (res.status !== 200) {
      const transformed = this.transform(res.status);
      if (transformed) return transformed;
      throw this.failure(hook, `unexpected HTTP status ${res.status}`);
    }
    const parsed = parseJsonKeepingRaw(res.body, rawResultFields);
    if (parsed === undefined) throw this.failure(hook, 'response body is not valid JSON');
    return this.decode(hook, () => readEnvelope(parsed));
  }

  private transform(status: number): ProxyEnvelope | undefined {
    for (const t of this.transforms) {
      if (t.statusCode !== status) continue;
      if (t.toError && t.toError.code > 0) {
        return { error: { code: t.toError.code, message: t.toError.message, temporary: t.toError.temporary === true } };
      }
      if (t.toDisconnect && t.toDisconnect.code > 0) {
        return { disconnect: { code: t.toDisconnect.code, reason: t.toDisconnect.reason } };
      }
    }
    return undefined;
  }
}
