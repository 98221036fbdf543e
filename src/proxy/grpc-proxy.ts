/**
 * The GRPC proxy client: the backend hooks (connect, refresh, subscribe, publish, RPC,
 * sub_refresh, map_publish, map_remove, shared_poll_refresh) as unary calls of the `CentrifugoProxy` service in proto/proxy.proto, plus the
 * subscribe stream proxy's server and bidirectional streams (integrations.md §2). Requests
 * and results follow the HTTP proxy's rules; payloads travel as protobuf bytes.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
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
  SubscribeStream,
  SubscribeStreamListener,
  SubscribeStreamProxy,
  SubscribeStreamRequest,
} from '../core/index.js';
import { ProxyCallError } from '../core/index.js';
import { base64Of, fixedEntries, forwarded, type ForwardingRules, nameSet } from './forwarding.js';
import {
  connectResult,
  mapPublishResult,
  mapRemoveResult,
  type ProxyEnvelope,
  publishResult,
  readResult,
  refreshResult,
  rpcResult,
  settle,
  sharedPollRefreshResult,
  subRefreshResult,
  subscribeResult,
} from './proxy-results.js';
import { RawJson } from './raw-json.js';

/** Where proto/proxy.proto sits: the package root, three levels above dist/src/proxy (two above src/proxy). */
function findProto(): string {
  const candidates = ['../../../proto/proxy.proto', '../../proto/proxy.proto'].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
  return candidates.find((p) => existsSync(p)) ?? (candidates[0] as string);
}

/** Absolute path of the proxy service definition shipped with the package. */
export const PROXY_PROTO_PATH = findProto();

/** Options the proxy service is loaded with: wire field names, int64 as numbers, bytes as Buffers. */
export const PROXY_PROTO_LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: false };

let serviceCtor: grpc.ServiceClientConstructor | undefined;

/** The generated client constructor of `centrifugal.centrifugo.proxy.CentrifugoProxy`, loaded once. */
function proxyService(): grpc.ServiceClientConstructor {
  if (serviceCtor === undefined) {
    const def = protoLoader.loadSync(PROXY_PROTO_PATH, PROXY_PROTO_LOADER_OPTIONS);
    const pkg = grpc.loadPackageDefinition(def) as any;
    serviceCtor = pkg.centrifugal.centrifugo.proxy.CentrifugoProxy as grpc.ServiceClientConstructor;
  }
  return serviceCtor;
}

/** Client TLS (PEM text); the system CAs are trusted when `ca` is absent. */
export interface GrpcProxyTlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
  /** Name to check the server certificate against, when not the target's host. */
  servername?: string;
  /** false skips certificate verification (`insecure_skip_verify`). Default true. */
  rejectUnauthorized?: boolean;
}

/** One proxy object of the configuration, as the GRPC client needs it. */
export interface GrpcProxyOptions {
  /** Proxy name for error messages (`default` for the built-in ones). */
  name: string;
  /** `grpc://host:port` or `host:port`. */
  endpoint: string;
  /** Deadline of each unary call; for a subscribe stream, the wait for its first message. */
  timeoutMs: number;
  /** Names of transport request headers to forward as metadata (`http_headers`). */
  httpHeaders?: readonly string[];
  /** Names of transport request headers / incoming metadata to forward (`grpc_metadata`). */
  grpcMetadata?: readonly string[];
  /** Names of client-emulated headers (connect command `headers`) to forward. */
  emulatedHeaders?: readonly string[];
  /** Metadata on every call; forwarded entries of the same name replace them. */
  staticMetadata?: Readonly<Record<string, string>>;
  /** Per-call credentials: this key with `credentialsValue`, after everything else. */
  credentialsKey?: string;
  credentialsValue?: string;
  /** gzip-compress calls. */
  compression?: boolean;
  /** Payloads as base64 `b64data` with `encoding: "binary"` instead of `data` bytes. */
  binaryEncoding?: boolean;
  /** Add the connection's `meta` to every request but connect. */
  includeConnectionMeta?: boolean;
  tls?: GrpcProxyTlsOptions;
  /** Larger answers fail the call. Default 10 MiB. */
  maxResponseBytes?: number;
}

const DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;
/** Client publications queued on a bidirectional stream the backend does not read. */
const MAX_STREAM_WRITE_BACKLOG = 1024 * 1024;
/** Publications held between a stream's first message and start(). */
const MAX_HELD_MESSAGES = 64;

/** Names GRPC itself sets, pseudo headers and binary keys (which need bytes values). */
function refusedMetadata(name: string): boolean {
  return (
    name.startsWith(':') ||
    name.startsWith('grpc-') ||
    name.endsWith('-bin') ||
    !/^[0-9a-z_.-]+$/.test(name) ||
    ['content-type', 'te', 'host', 'connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'user-agent', 'content-length'].includes(name)
  );
}

type Hook = 'connect' | 'refresh' | 'subscribe' | 'publish' | 'rpc' | 'sub_refresh' | 'subscribe_stream' | 'map_publish' | 'map_remove' | 'shared_poll_refresh';

/** Shared-poll refreshes are made for no connection: only static metadata and credentials go with them. */
const NO_CLIENT: ProxyClient = Object.freeze({ client: '', transport: '', protocol: 'json', user: '', headers: Object.freeze({}) });

/** A SharedPollRefreshResult message with its items' payload bytes wrapped for the result reader. */
function wrapPollItems(result: Message | undefined): Message | undefined {
  if (!result) return undefined;
  const items = result.items;
  if (!Array.isArray(items)) return result;
  return {
    ...result,
    items: items.map((it: Message) => {
      const out: Message = { ...it };
      if (out.data instanceof Uint8Array) out.data = new RawJson(out.data);
      if (out.prev_data instanceof Uint8Array) out.prev_data = new RawJson(out.prev_data);
      return out;
    }),
  };
}
type Message = Record<string, unknown>;
type UnaryMethod = (req: Message, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Message) => void) => grpc.ClientUnaryCall;

/** Response bytes fields the result readers take as raw payloads. */
const PAYLOAD_FIELDS = ['info', 'data', 'meta'] as const;

/** Wraps a result's payload bytes (and those of `subs` entries) the way the result readers expect them. */
function wrapPayloads(result: Message): Message {
  const out: Message = { ...result };
  for (const key of PAYLOAD_FIELDS) {
    const v = out[key];
    if (v instanceof Uint8Array) out[key] = new RawJson(v);
  }
  const subs = out.subs;
  if (subs && typeof subs === 'object') {
    const wrapped: Message = {};
    for (const [channel, o] of Object.entries(subs as Message)) wrapped[channel] = o && typeof o === 'object' ? wrapPayloads(o as Message) : o;
    out.subs = wrapped;
  }
  return out;
}

/** A decoded `*Response` message as the shared envelope. */
function envelopeOf(res: Message | undefined): ProxyEnvelope {
  const env: ProxyEnvelope = {};
  if (!res) return env;
  if (res.result && typeof res.result === 'object') env.result = wrapPayloads(res.result as Message);
  const e = res.error as { code?: number; message?: string; temporary?: boolean } | undefined;
  if (e) env.error = { code: e.code ?? 0, message: e.message ?? '', temporary: e.temporary === true };
  const d = res.disconnect as { code?: number; reason?: string } | undefined;
  if (d) env.disconnect = { code: d.code ?? 0, reason: d.reason ?? '' };
  return env;
}

function describe(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as grpc.ServiceError).code === 'number') {
    const e = err as grpc.ServiceError;
    return `${grpc.status[e.code] ?? e.code}: ${e.details || e.message}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** The GRPC target of an endpoint: `grpc://host:port` loses its scheme, anything else is used as is. */
export function grpcTarget(endpoint: string): string {
  return endpoint.replace(/^grpc:\/\//i, '').replace(/\/+$/, '');
}

/**
 * One configured GRPC proxy; one channel to the backend serves every hook it is bound to.
 * Each call resolves with the backend's result or throws a Disconnect / ProtocolError from
 * the backend, or a ProxyCallError (unreachable backend, deadline, a status other than OK,
 * an answer the result readers refuse). Refresh and sub_refresh read only `result`.
 */
export class GrpcProxy
  implements
    ConnectProxy,
    RefreshProxy,
    SubscribeProxy,
    PublishProxy,
    RpcProxy,
    SubRefreshProxy,
    SubscribeStreamProxy,
    MapPublishProxy,
    MapRemoveProxy,
    SharedPollRefreshProxy
{
  readonly name: string;
  /** How hooks travel, for metrics. */
  readonly protocol = 'grpc';
  private readonly client: grpc.Client & Record<string, any>;
  private readonly timeoutMs: number;
  private readonly binary: boolean;
  private readonly encoding: 'json' | 'binary';
  private readonly includeMeta: boolean;
  private readonly forwarding: ForwardingRules;
  private readonly credentials: readonly [string, string] | undefined;
  /** Open subscribe streams, cancelled by close(). */
  private readonly streams = new Set<GrpcSubscribeStream>();
  private closed = false;

  /** Throws when the endpoint is empty or the timeout is not positive. */
  constructor(options: GrpcProxyOptions) {
    this.name = options.name;
    const target = grpcTarget(options.endpoint);
    if (target === '' || /^https?:/i.test(target)) throw new Error(`proxy ${options.name}: ${JSON.stringify(options.endpoint)} is not a GRPC endpoint`);
    if (!(options.timeoutMs > 0)) throw new Error(`proxy ${options.name}: timeout must be positive`);
    this.timeoutMs = options.timeoutMs;
    this.binary = options.binaryEncoding === true;
    this.encoding = this.binary ? 'binary' : 'json';
    this.includeMeta = options.includeConnectionMeta === true;
    const transport = new Set([...nameSet(options.httpHeaders), ...nameSet(options.grpcMetadata)]);
    this.forwarding = {
      fixed: fixedEntries(options.staticMetadata, refusedMetadata),
      emulated: nameSet(options.emulatedHeaders),
      transport,
      refused: refusedMetadata,
    };
    const key = options.credentialsKey?.toLowerCase();
    this.credentials = key && !refusedMetadata(key) ? [key, options.credentialsValue ?? ''] : undefined;
    const channelOptions: grpc.ChannelOptions = {
      'grpc.max_receive_message_length': options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    };
    if (options.compression) channelOptions['grpc.default_compression_algorithm'] = grpc.compressionAlgorithms.gzip;
    let creds: grpc.ChannelCredentials;
    const tls = options.tls;
    if (tls) {
      if (tls.servername) channelOptions['grpc.ssl_target_name_override'] = tls.servername;
      const verify: grpc.VerifyOptions = {};
      if (tls.rejectUnauthorized === false) {
        verify.rejectUnauthorized = false;
        verify.checkServerIdentity = () => undefined;
      }
      creds = grpc.credentials.createSsl(
        tls.ca ? Buffer.from(tls.ca) : null,
        tls.key ? Buffer.from(tls.key) : null,
        tls.cert ? Buffer.from(tls.cert) : null,
        verify,
      );
    } else {
      creds = grpc.credentials.createInsecure();
    }
    const Ctor = proxyService();
    this.client = new Ctor(target, creds, channelOptions) as grpc.Client & Record<string, any>;
  }

  async connect(req: ConnectProxyRequest): Promise<ConnectProxyResult | undefined> {
    const body = this.common(req);
    this.payload(body, req.data);
    if (req.name) body.name = req.name;
    if (req.version) body.version = req.version;
    if (req.channels && req.channels.length > 0) body.channels = [...req.channels];
    const result = settle(await this.unary('connect', 'Connect', req, body));
    return result === undefined ? undefined : this.decode('connect', () => connectResult(result));
  }

  async refresh(req: ProxyClient): Promise<RefreshProxyResult> {
    const body = this.common(req);
    body.user = req.user;
    this.meta(body, req);
    const env = await this.unary('refresh', 'Refresh', req, body);
    return this.decode('refresh', () => refreshResult(env.result));
  }

  async subscribe(req: SubscribeProxyRequest): Promise<SubscribeProxyResult> {
    const result = settle(await this.unary('subscribe', 'Subscribe', req, this.subscribeBody(req)));
    return this.decode('subscribe', () => subscribeResult(result));
  }

  async publish(req: PublishProxyRequest): Promise<PublishProxyResult> {
    const body = this.common(req);
    body.user = req.user;
    body.channel = req.channel;
    this.payload(body, req.data);
    this.meta(body, req);
    const result = settle(await this.unary('publish', 'Publish', req, body));
    return this.decode('publish', () => publishResult(result));
  }

  async rpc(req: RpcProxyRequest): Promise<Uint8Array> {
    const body = this.common(req);
    body.user = req.user;
    body.method = req.method;
    this.payload(body, req.data);
    this.meta(body, req);
    const result = settle(await this.unary('rpc', 'RPC', req, body));
    return this.decode('rpc', () => rpcResult(result));
  }

  async subRefresh(req: SubRefreshProxyRequest): Promise<SubRefreshProxyResult> {
    const body = this.common(req);
    body.user = req.user;
    body.channel = req.channel;
    this.meta(body, req);
    const env = await this.unary('sub_refresh', 'SubRefresh', req, body);
    return this.decode('sub_refresh', () => subRefreshResult(env.result));
  }

  /** A client map publish (MapPublish); `user` is left out when empty. */
  async mapPublish(req: MapPublishProxyRequest): Promise<MapPublishProxyResult> {
    const body = this.common(req);
    if (req.user) body.user = req.user;
    body.channel = req.channel;
    body.key = req.key;
    this.payload(body, req.data);
    this.meta(body, req);
    const result = settle(await this.unary('map_publish', 'MapPublish', req, body));
    return this.decode('map_publish', () => mapPublishResult(result));
  }

  /** A client map remove (MapRemove); `user` is left out when empty. */
  async mapRemove(req: MapRemoveProxyRequest): Promise<MapRemoveProxyResult> {
    const body = this.common(req);
    if (req.user) body.user = req.user;
    body.channel = req.channel;
    body.key = req.key;
    this.meta(body, req);
    const result = settle(await this.unary('map_remove', 'MapRemove', req, body));
    return this.decode('map_remove', () => mapRemoveResult(result));
  }

  /**
   * Polls the backend for one batch of shared-poll keys. The backend's `error` fails the call
   * like a transport error: it only fails that poll.
   */
  async sharedPollRefresh(req: SharedPollRefreshRequest): Promise<SharedPollRefreshResult> {
    const body: Message = { channel: req.channel, items: req.items.map((it) => ({ key: it.key, version: it.version })) };
    const env = await this.unary('shared_poll_refresh', 'SharedPollRefresh', NO_CLIENT, body);
    if (env.error) throw this.failure('shared_poll_refresh', `backend error ${env.error.code}: ${env.error.message}`);
    return this.decode('shared_poll_refresh', () => sharedPollRefreshResult(wrapPollItems(env.result)));
  }

  /** Opens a subscribe stream; see SubscribeStreamProxy. */
  async subscribeStream(req: SubscribeStreamRequest): Promise<SubscribeStream> {
    if (this.closed) throw this.failure('subscribe_stream', 'proxy is closed');
    const body = this.subscribeBody(req);
    const md = this.metadata(req);
    const call: grpc.ClientReadableStream<Message> | grpc.ClientDuplexStream<Message, Message> = req.bidirectional
      ? this.client.SubscribeBidirectional(md)
      : this.client.SubscribeUnidirectional(body, md);
    // The stream's failures are reported through firstMessage() and the stream object; a
    // status arriving after either gave up (CANCELLED by us) must not go unhandled.
    call.on('error', () => undefined);
    if (req.bidirectional) (call as grpc.ClientDuplexStream<Message, Message>).write({ subscribe_request: body });
    const first = await this.firstMessage(call);
    const fail = (detail: string): never => {
      call.cancel();
      throw this.failure('subscribe_stream', detail);
    };
    const response = first.subscribe_response as Message | undefined;
    if (!response || typeof response !== 'object') return fail('first stream message has no subscribe_response');
    let result: SubscribeProxyResult;
    try {
      const settled = settle(envelopeOf(response));
      result = this.decode('subscribe_stream', () => subscribeResult(settled));
    } catch (err) {
      call.cancel();
      throw err;
    }
    const stream = new GrpcSubscribeStream(call, req.bidirectional, result, (s) => this.streams.delete(s), (d) => this.failure('subscribe_stream', d));
    this.streams.add(stream);
    return stream;
  }

  /** Cancels open streams and closes the channel; later calls fail. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.streams]) s.close();
    this.client.close();
  }

  /** Waits for a stream's first message within the timeout; the stream is left paused after it. */
  private firstMessage(call: grpc.ClientReadableStream<Message>): Promise<Message> {
    return new Promise<Message>((resolve, reject) => {
      let settled = false;
      const done = (err: ProxyCallError | undefined, msg?: Message): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        call.off('data', onData);
        call.off('error', onError);
        call.off('end', onEnd);
        if (err) {
          // Swallow the CANCELLED status the cancel below produces.
          call.on('error', () => undefined);
          call.cancel();
          reject(err);
        } else resolve(msg as Message);
      };
      const onData = (msg: Message): void => {
        call.pause();
        done(undefined, msg);
      };
      const onError = (err: unknown): void => done(this.failure('subscribe_stream', `stream failed: ${describe(err)}`, err));
      const onEnd = (): void => done(this.failure('subscribe_stream', 'stream ended before its first message'));
      const timer = setTimeout(() => done(this.failure('subscribe_stream', `no first message within ${this.timeoutMs} ms`)), this.timeoutMs);
      call.on('data', onData);
      call.on('error', onError);
      call.on('end', onEnd);
    });
  }

  private subscribeBody(req: SubscribeProxyRequest): Message {
    const body = this.common(req);
    body.user = req.user;
    body.channel = req.channel;
    if (req.token) body.token = req.token;
    this.meta(body, req);
    this.payload(body, req.data);
    return body;
  }

  private common(c: ProxyClient): Message {
    return { client: c.client, transport: c.transport, protocol: c.protocol, encoding: this.encoding };
  }

  private payload(body: Message, data: Uint8Array | undefined): void {
    if (data === undefined || data.length === 0) return;
    if (this.binary) body.b64data = base64Of(data);
    else body.data = data;
  }

  private meta(body: Message, c: ProxyClient): void {
    if (this.includeMeta && c.meta && c.meta.length > 0) body.meta = c.meta;
  }

  /** Metadata of one call: forwarded entries, then the credentials. */
  private metadata(c: ProxyClient): grpc.Metadata {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(forwarded(this.forwarding, c))) {
      try {
        if (Array.isArray(v)) for (const x of v) md.add(k, x);
        else md.set(k, v);
      } catch {
        // A value GRPC refuses (control characters) is not forwarded; the call still goes out.
      }
    }
    if (this.credentials) md.set(this.credentials[0], this.credentials[1]);
    return md;
  }

  private decode<T>(hook: Hook, read: () => T): T {
    return readResult(read, (detail) => this.failure(hook, detail));
  }

  private failure(hook: Hook, detail: string, cause?: unknown): ProxyCallError {
    return new ProxyCallError(`grpc proxy ${this.name} (${hook}): ${detail}`, cause === undefined ? undefined : { cause });
  }

  /** One unary call with the timeout as its deadline; every failure becomes a ProxyCallError. */
  private unary(hook: Hook, method: string, client: ProxyClient, body: Message): Promise<ProxyEnvelope> {
    if (this.closed) return Promise.reject(this.failure(hook, 'proxy is closed'));
    const fn = this.client[method] as UnaryMethod;
    return new Promise<ProxyEnvelope>((resolve, reject) => {
      const deadline = new Date(Date.now() + this.timeoutMs);
      fn.call(this.client, body, this.metadata(client), { deadline }, (err, res) => {
        if (err) {
          const detail = err.code === grpc.status.DEADLINE_EXCEEDED ? `timed out after ${this.timeoutMs} ms` : `call failed: ${describe(err)}`;
          reject(this.failure(hook, detail, err));
          return;
        }
        resolve(envelopeOf(res));
      });
    });
  }
}

/** One open subscribe stream: its first message was read; later ones wait for start(). */
class GrpcSubscribeStream implements SubscribeStream {
  private listener: SubscribeStreamListener | undefined;
  private held: Message[] | undefined = [];
  private finished = false;
  /** close() was called: nothing is reported any more. */
  private cancelled = false;
  /** How the stream ended before start(), reported by start(). */
  private earlyEnd: { err: ProxyCallError | undefined } | undefined;

  constructor(
    private readonly call: grpc.ClientReadableStream<Message> | grpc.ClientDuplexStream<Message, Message>,
    private readonly bidirectional: boolean,
    readonly result: SubscribeProxyResult,
    private readonly forget: (s: GrpcSubscribeStream) => void,
    private readonly failure: (detail: string) => ProxyCallError,
  ) {
    call.on('data', (msg: Message) => this.onMessage(msg));
    call.on('error', (err: unknown) => this.finish(this.failure(`stream failed: ${describe(err)}`)));
    call.on('end', () => this.finish(undefined));
    // Stays paused (the first message paused it) until start().
    call.pause();
  }

  start(listener: SubscribeStreamListener): void {
    if (this.cancelled || this.listener) return;
    this.listener = listener;
    const held = this.held ?? [];
    this.held = undefined;
    for (const msg of held) this.deliver(msg);
    if (this.earlyEnd) {
      const { err } = this.earlyEnd;
      this.earlyEnd = undefined;
      this.listener = undefined;
      listener.end(err);
      return;
    }
    this.call.resume();
  }

  publish(data: Uint8Array): void {
    if (!this.bidirectional) throw this.failure('stream is not bidirectional');
    if (this.finished) throw this.failure('stream is closed');
    const duplex = this.call as grpc.ClientDuplexStream<Message, Message>;
    if (duplex.writableLength > MAX_STREAM_WRITE_BACKLOG) throw this.failure('backend is not reading the stream');
    duplex.write({ publication: { data } });
  }

  close(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.finished = true;
    this.earlyEnd = undefined;
    this.listener = undefined;
    this.held = undefined;
    this.forget(this);
    this.call.cancel();
  }

  private onMessage(msg: Message): void {
    if (this.finished) return;
    if (this.held !== undefined) {
      if (this.held.length >= MAX_HELD_MESSAGES) {
        this.finish(this.failure('too many messages before the subscription was ready'));
        this.call.cancel();
        return;
      }
      this.held.push(msg);
      return;
    }
    this.deliver(msg);
  }

  private deliver(msg: Message): void {
    const pub = msg.publication as { data?: Uint8Array; tags?: Record<string, string> } | undefined;
    // A message without a publication (a repeated subscribe_response) carries nothing for the client.
    if (!pub || !this.listener) return;
    const out: { data: Uint8Array; tags?: Record<string, string> } = { data: pub.data ?? new Uint8Array(0) };
    if (pub.tags && Object.keys(pub.tags).length > 0) out.tags = pub.tags;
    this.listener.publication(out);
  }

  private finish(err: ProxyCallError | undefined): void {
    if (this.finished) return;
    this.finished = true;
    this.forget(this);
    const listener = this.listener;
    this.listener = undefined;
    if (listener) listener.end(err);
    else this.earlyEnd = { err };
  }
}
