/**
 * Ports for the application backend's hooks (connect, refresh, subscribe, publish, RPC,
 * sub_refresh, map publish / remove proxies). Core asks a `ProxyBindings` which proxy serves a hook, and calls it
 * with what it knows of the connection; how the call travels (HTTP, GRPC), how payloads are
 * encoded (raw JSON or base64) and which headers are forwarded is the proxy's business
 * (src/proxy/). Only server/ builds the bindings from the configuration.
 *
 * Every call resolves with the backend's result, or throws:
 * - a ProtocolError (the backend's `error`, passed to the client as is),
 * - a Disconnect (the backend's `disconnect`, 4000–4999 or any other code it chose),
 * - a ProxyCallError when the backend could not be asked or answered nonsense (transport
 *   failure, timeout, a status other than 200 without a transform, an undecodable body):
 *   each hook's caller decides what that means (protocol.md: error 100 for subscribe,
 *   publish, map publish / remove and RPC; an internal error for connect; a 60 s extension for refreshes).
 */
import type { ProtocolType } from '../protocol/types.js';
import type { ApiPublishRequest } from './node-api.js';
import type { ServerSubOptions, SubscriptionOverride } from './ports.js';
import type { MapKeyMode } from './map-broker.js';

/** The connection a proxy call is made for. */
export interface ProxyClient {
  /** Connection id. */
  readonly client: string;
  /** Transport name: websocket, http_stream, sse, uni_websocket, uni_sse, uni_http_stream. */
  readonly transport: string;
  readonly protocol: ProtocolType;
  /** User id; "" for anonymous connections and before connect. */
  readonly user: string;
  /** Headers of the HTTP request that opened the connection (upgrade, SSE or stream request). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Headers the client sent in its connect command (`ConnectRequest.headers`), client-controlled. */
  readonly emulatedHeaders?: Readonly<Record<string, string>>;
  /** Connection meta (JSON bytes) from the token or the connect proxy. */
  readonly meta?: Uint8Array;
}

/** The backend could not be asked, or its answer was not a valid proxy response. */
export class ProxyCallError extends Error {
  /** Stable code callers branch on. */
  readonly code = 'PROXY_CALL_FAILED';

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ProxyCallError';
  }
}

export interface ConnectProxyRequest extends ProxyClient {
  /** Custom data of the connect command. */
  readonly data?: Uint8Array;
  readonly name?: string;
  readonly version?: string;
  /** Channels the client listed in `ConnectRequest.subs`. */
  readonly channels?: readonly string[];
}

export interface ConnectProxyResult {
  user: string;
  /** Unix seconds; 0 = never. */
  expireAt: number;
  info?: Uint8Array;
  /** Returned to the client in the connect result. */
  data?: Uint8Array;
  /** Server-side subscriptions with namespace defaults; ignored when `subs` is present. */
  channels?: string[];
  subs?: Record<string, ServerSubOptions>;
  meta?: Uint8Array;
}

export interface RefreshProxyResult {
  /** The connection is expired: close it. */
  expired: boolean;
  /** New expiry, Unix seconds; 0 = never. */
  expireAt: number;
  info?: Uint8Array;
  meta?: Uint8Array;
}

export interface SubscribeProxyRequest extends ProxyClient {
  readonly channel: string;
  /** The client's subscription token, if any (normally empty: token subscriptions skip the proxy). */
  readonly token?: string;
  readonly data?: Uint8Array;
}

export interface SubscribeProxyResult {
  /** Unix seconds; 0 = never. */
  expireAt: number;
  /** Channel info. */
  info?: Uint8Array;
  /** Returned to the subscriber. */
  data?: Uint8Array;
  override?: SubscriptionOverride;
}

export interface PublishProxyRequest extends ProxyClient {
  readonly channel: string;
  readonly data: Uint8Array;
}

/** Publish options a publish proxy may set: those of a server API publish. */
export type PublishProxyOptions = Pick<ApiPublishRequest, 'skipHistory' | 'tags' | 'idempotencyKey' | 'delta' | 'version' | 'versionEpoch'>;

export interface PublishProxyResult extends PublishProxyOptions {
  /** Replacement payload. */
  data?: Uint8Array;
}

/** A client map publish (server.md §5.10): the key and payload the client sent. */
export interface MapPublishProxyRequest extends ProxyClient {
  readonly channel: string;
  readonly key: string;
  readonly data: Uint8Array;
}

/** What the backend may change of a client map publish; absent fields keep the client's values or the defaults. */
export interface MapPublishProxyResult {
  /** Replacement key (a non-empty one only). */
  key?: string;
  /** Replacement payload. */
  data?: Uint8Array;
  tags?: Record<string, string>;
  keyMode?: MapKeyMode;
  idempotencyKey?: string;
  delta?: boolean;
  version?: number;
  versionEpoch?: string;
}

/** A client map remove (server.md §5.10). */
export interface MapRemoveProxyRequest extends ProxyClient {
  readonly channel: string;
  readonly key: string;
}

/** What the backend may change of a client map remove. */
export interface MapRemoveProxyResult {
  /** Replacement key (a non-empty one only). */
  key?: string;
  /** Tags of the removal publication. */
  tags?: Record<string, string>;
  idempotencyKey?: string;
}

export interface RpcProxyRequest extends ProxyClient {
  readonly method: string;
  readonly data: Uint8Array;
}

export interface SubRefreshProxyRequest extends ProxyClient {
  readonly channel: string;
}

/** `result` absent counts as expired, as for the refresh proxy. */
export type SubRefreshProxyResult = Omit<RefreshProxyResult, 'meta'>;

/** What every proxy may tell about itself, for metrics and logs. */
export interface ProxyIdentity {
  /** `default` for the built-in blocks, else the `proxies[]` name. */
  readonly name?: string;
  /** `http` or `grpc`. */
  readonly protocol?: string;
}

export interface ConnectProxy extends ProxyIdentity {
  /** undefined: the backend gave no credentials (the anonymous/header rules apply next). */
  connect(req: ConnectProxyRequest): Promise<ConnectProxyResult | undefined>;
}
export interface RefreshProxy extends ProxyIdentity {
  refresh(req: ProxyClient): Promise<RefreshProxyResult>;
}
export interface SubscribeProxy extends ProxyIdentity {
  subscribe(req: SubscribeProxyRequest): Promise<SubscribeProxyResult>;
}
export interface PublishProxy extends ProxyIdentity {
  publish(req: PublishProxyRequest): Promise<PublishProxyResult>;
}
export interface MapPublishProxy extends ProxyIdentity {
  mapPublish(req: MapPublishProxyRequest): Promise<MapPublishProxyResult>;
}
export interface MapRemoveProxy extends ProxyIdentity {
  mapRemove(req: MapRemoveProxyRequest): Promise<MapRemoveProxyResult>;
}
export interface RpcProxy extends ProxyIdentity {
  /** The data returned to the client (empty for none). */
  rpc(req: RpcProxyRequest): Promise<Uint8Array>;
}
export interface SubRefreshProxy extends ProxyIdentity {
  subRefresh(req: SubRefreshProxyRequest): Promise<SubRefreshProxyResult>;
}

/** A publication the backend sends down a subscribe stream, for that one subscriber. */
export interface StreamPublication {
  data: Uint8Array;
  tags?: Record<string, string>;
}

/** What a subscribe stream reports once it is delivering. */
export interface SubscribeStreamListener {
  /** One publication for the subscriber, in stream order. */
  publication(pub: StreamPublication): void;
  /** The stream ended or broke (called at most once, never after close()). */
  end(err?: unknown): void;
}

/**
 * An open subscribe stream whose first message allowed the subscription. Messages after the
 * first are held (bounded, with backpressure on the backend) until start() is called.
 */
export interface SubscribeStream {
  /** The backend's subscribe result from the first message. */
  readonly result: SubscribeProxyResult;
  /** Begins delivering the held and later messages to `listener`. Call once. */
  start(listener: SubscribeStreamListener): void;
  /**
   * Sends a client publication up a bidirectional stream; throws a ProxyCallError when the
   * stream is not bidirectional or is gone.
   */
  publish(data: Uint8Array): void;
  /** Cancels the stream and drops anything held; idempotent. */
  close(): void;
}

export interface SubscribeStreamRequest extends SubscribeProxyRequest {
  /** Open a bidirectional stream (client publications travel on it) instead of a server stream. */
  readonly bidirectional: boolean;
}

export interface SubscribeStreamProxy extends ProxyIdentity {
  /**
   * Opens a stream and waits (within the proxy's timeout) for its first message. Throws like
   * subscribe: a ProtocolError or Disconnect from the backend's subscribe_response, or a
   * ProxyCallError when the stream could not be opened, timed out, or began with anything
   * but a subscribe_response.
   */
  subscribeStream(req: SubscribeStreamRequest): Promise<SubscribeStream>;
}

/** The stream proxy of a namespace and its direction. */
export interface SubscribeStreamBinding {
  readonly proxy: SubscribeStreamProxy;
  readonly bidirectional: boolean;
}

/**
 * Which proxy serves each hook. Namespaced hooks are asked by namespace name ("" for
 * channels without a namespace), RPC by method; undefined means no proxy for it, and the
 * chain goes on to tokens and namespace rules.
 */
export interface ProxyBindings {
  readonly connect?: ConnectProxy;
  readonly refresh?: RefreshProxy;
  subscribe(namespace: string): SubscribeProxy | undefined;
  publish(namespace: string): PublishProxy | undefined;
  subRefresh(namespace: string): SubRefreshProxy | undefined;
  rpc(method: string): RpcProxy | undefined;
  /** The subscribe stream proxy of a namespace; absent or undefined means none. */
  subscribeStream?(namespace: string): SubscribeStreamBinding | undefined;
  /** The shared-poll refresh proxy of a namespace (`shared_poll.proxy_name`); absent or undefined means none. */
  sharedPollRefresh?(namespace: string): SharedPollRefreshProxy | undefined;
  /** The map publish proxy of a namespace (`map.publish_proxy_*`); absent or undefined means none. */
  mapPublish?(namespace: string): MapPublishProxy | undefined;
  /** The map remove proxy of a namespace (`map.remove_proxy_*`); absent or undefined means none. */
  mapRemove?(namespace: string): MapRemoveProxy | undefined;
}

/** Bindings with no proxy at all. */
export const noProxies: ProxyBindings = Object.freeze({
  subscribe: () => undefined,
  publish: () => undefined,
  subRefresh: () => undefined,
  rpc: () => undefined,
  subscribeStream: () => undefined,
  sharedPollRefresh: () => undefined,
  mapPublish: () => undefined,
  mapRemove: () => undefined,
});

/** One key of a shared-poll refresh request. */
export interface SharedPollRefreshItem {
  readonly key: string;
  /** Versioned mode: the server's version of the key (0 asks for it whatever its version); else 0. */
  readonly version: number;
}

/**
 * A shared-poll refresh request (integrations.md §2.4): the keys of one channel the node
 * wants fresh data for. No connection fields: the request is made for every subscriber.
 */
export interface SharedPollRefreshRequest {
  readonly channel: string;
  readonly items: readonly SharedPollRefreshItem[];
}

/** One key of a shared-poll refresh result; keys the backend leaves out are unchanged. */
export interface SharedPollRefreshResultItem {
  key: string;
  /** The key's payload (raw JSON from an HTTP backend, bytes from a GRPC one); absent = empty. */
  data?: Uint8Array;
  /** Versioned mode: the key's version; 0 in versionless mode. */
  version: number;
  /** The key is gone: its subscribers get a removal and stop tracking it. */
  removed: boolean;
  /** The payload before this change, a delta base when the server has none. */
  prevData?: Uint8Array;
}

export interface SharedPollRefreshResult {
  items: SharedPollRefreshResultItem[];
  /** Versioned mode: the backend's epoch; "" when it sends none. */
  epoch: string;
}

/**
 * The SharedPollRefresh hook. Resolves with the backend's result (an absent `result` is an
 * empty one); throws a ProxyCallError for transport failures, timeouts, non-200 statuses,
 * undecodable answers and the backend's `error` alike: each only fails that one poll.
 */
export interface SharedPollRefreshProxy extends ProxyIdentity {
  sharedPollRefresh(req: SharedPollRefreshRequest): Promise<SharedPollRefreshResult>;
}
