/**
 * In-process hooks for applications that embed Gyre, in the spirit of a connect /
 * subscribe / publish / RPC proxy, without an HTTP round trip. A hook that returns
 * undefined leaves the decision to the configured rules; throwing a ProtocolError
 * answers the client with that error, throwing a Disconnect closes the connection.
 */
import type { ServerSubOptions, SubscriptionOverride } from './ports.js';

/** The connection a hook is asked about. */
export interface ClientRef {
  readonly id: string;
  readonly userId: string;
  readonly transportName: string;
}

export interface ConnectingContext {
  clientId: string;
  transport: string;
  headers: Record<string, string | string[] | undefined>;
  token?: string;
  data?: Uint8Array;
  name?: string;
  version?: string;
}

export interface ConnectingResult {
  userId: string;
  /** Unix seconds; 0 or absent = never expires. */
  expireAt?: number;
  info?: Uint8Array;
  /** Custom data returned to the client in the connect result. */
  data?: Uint8Array;
  channels?: string[];
  subs?: Record<string, ServerSubOptions>;
}

export interface SubscribeContext {
  client: ClientRef;
  channel: string;
  data?: Uint8Array;
}

export interface SubscribeDecision {
  /** Channel info stored with presence and attached to this client's publications. */
  info?: Uint8Array;
  /** Data returned to the client in the subscribe result. */
  data?: Uint8Array;
  /** Unix seconds; 0 or absent = never. */
  expireAt?: number;
  override?: SubscriptionOverride;
}

export interface PublishContext {
  client: ClientRef;
  channel: string;
  data: Uint8Array;
}

export interface RpcContext {
  client: ClientRef;
  method: string;
  data: Uint8Array;
}

/** What a server-side refresh decides: `expired` ends it, else a new expiry (Unix seconds) and info. */
export interface RefreshDecision {
  expired?: boolean;
  /** Unix seconds; 0 or absent = never expires again. */
  expireAt?: number;
  info?: Uint8Array;
}

/** Why a connection closed or a subscription ended. */
export interface EndReason {
  code: number;
  reason: string;
}

export interface NodeHandlers {
  /** Called on every connect, before token checks; a result authenticates the connection. */
  onConnecting?(ctx: ConnectingContext): Promise<ConnectingResult | undefined>;
  /** Allows a client subscription (return a decision) or defers to namespace rules (undefined). */
  onSubscribe?(ctx: SubscribeContext): Promise<SubscribeDecision | undefined>;
  /** Allows a client publish, optionally replacing the data, or defers to namespace rules. */
  onPublish?(ctx: PublishContext): Promise<{ data?: Uint8Array } | undefined>;
  /** Answers a client RPC; its result becomes the reply data (empty bytes for none); undefined means method not found (104). */
  onRpc?(ctx: RpcContext): Promise<Uint8Array | undefined>;
  /** Receives asynchronous `send` messages; without it a send disconnects with 3508. */
  onMessage?(client: ClientRef, data: Uint8Array): void;
  /**
   * Renews, at expiry, a connection onConnecting authenticated with an expireAt (the server
   * refreshes it instead of the client); undefined defers to the refresh proxy, else it expires.
   */
  onRefresh?(client: ClientRef): Promise<RefreshDecision | undefined>;
  /** Renews, at expiry, a subscription granted with an expireAt by onSubscribe or the subscribe proxy. */
  onSubRefresh?(client: ClientRef, channel: string): Promise<RefreshDecision | undefined>;
  /** A connection closed, whatever closed it (called once per connection that had connected). */
  onDisconnect?(client: ClientRef, why: EndReason): void;
  /** A subscription ended: client unsubscribe (0), connection closed (1), or the server's code (2000+). */
  onUnsubscribe?(client: ClientRef, channel: string, why: EndReason): void;
}
