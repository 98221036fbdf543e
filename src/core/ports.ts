/**
 * Interfaces the core needs from the outside world. Implementations live in brokers/,
 * auth/, proxy/; only server/ and brokers/index.ts name concrete ones.
 */
import type { ClientInfo } from '../protocol/types.js';

/** A position in a channel stream. Offsets start at 1; top 0 means an empty stream. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/** A publication as brokers store and deliver it. `data` is the payload bytes. */
export interface BrokerPublication {
  data: Uint8Array;
  info?: ClientInfo;
  /** Stream offset; 0 when the channel keeps no history. */
  offset: number;
  tags?: Record<string, string>;
  /** Publish time, Unix ms. */
  time: number;
  delta?: boolean;
  /** Set by the broker on delivery when the publication starts a stream (offset 1). */
  epoch?: string;
}

/** Options of one publish. History is kept only when both historySize and historyTtlMs are > 0. */
export interface PublishOptions {
  historySize?: number;
  historyTtlMs?: number;
  /** Meta (epoch + top offset) lifetime; 0 means the broker default. */
  historyMetaTtlMs?: number;
  clientInfo?: ClientInfo;
  tags?: Record<string, string>;
  /** Publishes with the same key within idempotentResultTtlMs return the first result. */
  idempotencyKey?: string;
  idempotentResultTtlMs?: number;
  delta?: boolean;
  /** When > 0 and history is on: dropped unless greater than the last version (same versionEpoch). */
  version?: number;
  versionEpoch?: string;
}

export interface PublishResult {
  position: StreamPosition;
  /** True when the publication was dropped by version suppression or was an idempotent repeat. */
  suppressed: boolean;
  /** Why, when suppressed: `idempotency` (a repeated key) or `version` (not above the last). */
  suppressReason?: 'idempotency' | 'version';
}

/**
 * History query. limit: 0 = position only, -1 = all, N > 0 = at most N.
 * since: publications after that offset (reverse: before it). An epoch in since that differs from the
 * current one is the caller's concern (the broker returns the current position for comparison).
 */
export interface HistoryFilter {
  since?: StreamPosition;
  limit: number;
  reverse?: boolean;
}

export interface HistoryOptions {
  filter: HistoryFilter;
  /** Meta lifetime to apply when the read creates or touches the stream; 0 = broker default. */
  metaTtlMs?: number;
}

export interface HistoryResult {
  publications: BrokerPublication[];
  position: StreamPosition;
}

/** What a broker calls when something arrives for a channel this node subscribed to. */
export interface BrokerEventHandler {
  /** Called in publish order per channel. `prev` is the previous publication when delta was asked. */
  handlePublication(channel: string, pub: BrokerPublication, position: StreamPosition, delta: boolean, prev?: BrokerPublication): void;
  handleJoin(channel: string, info: ClientInfo): void;
  handleLeave(channel: string, info: ClientInfo): void;
}

/**
 * Moves publications, joins and leaves between nodes and keeps channel history.
 * Delivery per channel is in publish order. A broker with reliable in-process delivery
 * sets `reliable` so positioned subscriptions may skip periodic stream checks.
 */
export interface Broker {
  readonly reliable: boolean;
  /** Starts delivering events to the handler. Called once before any other method. */
  run(handler: BrokerEventHandler): Promise<void>;
  /** Starts receiving events for a channel on this node. Idempotent. */
  subscribe(channel: string): Promise<void>;
  /** Stops receiving events for a channel on this node. Idempotent. */
  unsubscribe(channel: string): Promise<void>;
  publish(channel: string, data: Uint8Array, opts: PublishOptions): Promise<PublishResult>;
  publishJoin(channel: string, info: ClientInfo): Promise<void>;
  publishLeave(channel: string, info: ClientInfo): Promise<void>;
  /** Reads history; creates the stream (new epoch, top 0) when it does not exist. */
  history(channel: string, opts: HistoryOptions): Promise<HistoryResult>;
  /** Removes the publications of a channel, keeping its epoch and top offset. */
  removeHistory(channel: string): Promise<void>;
  close(): Promise<void>;
}

export interface PresenceStats {
  numClients: number;
  /** Distinct user ids among entries; the anonymous "" user counts as one. */
  numUsers: number;
}

/** Keeps who is subscribed to a channel, keyed by client id. */
export interface PresenceManager {
  presence(channel: string): Promise<Record<string, ClientInfo>>;
  presenceStats(channel: string): Promise<PresenceStats>;
  /** Adds or refreshes an entry. */
  addPresence(channel: string, clientId: string, info: ClientInfo): Promise<void>;
  removePresence(channel: string, clientId: string, userId: string): Promise<void>;
  close(): Promise<void>;
}

/** Time source, injected so tests control it. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Per-subscription switches that override namespace options (token `override`, proxy results). */
export interface SubscriptionOverride {
  presence?: boolean;
  join_leave?: boolean;
  force_push_join_leave?: boolean;
  force_recovery?: boolean;
  force_positioning?: boolean;
}

/** Options of one server-side subscription named in a token's `subs` claim. */
export interface ServerSubOptions {
  info?: Uint8Array;
  data?: Uint8Array;
  override?: SubscriptionOverride;
}

/** What a verified connection token grants. */
export interface ConnectCredentials {
  userId: string;
  /** Connection expiry, Unix seconds; 0 = never (from `expire_at`, else `exp`). */
  expireAt: number;
  /** Connection info (JSON text bytes, or binary from b64info). */
  info?: Uint8Array;
  /** Server-side subscriptions (`channels` claim); ignored when `subs` is present. */
  channels?: string[];
  subs?: Record<string, ServerSubOptions>;
  /** Connection meta, JSON text bytes; never sent to clients. */
  meta?: Uint8Array;
}

/** What a verified subscription token grants. */
export interface SubscribeCredentials {
  userId: string;
  channel: string;
  /** When non-empty, must equal the connection's client id. */
  client?: string;
  /** Subscription expiry, Unix seconds; 0 = never. */
  expireAt: number;
  info?: Uint8Array;
  data?: Uint8Array;
  override?: SubscriptionOverride;
}

/** Why a token was refused: `expired` (exp/nbf) or `invalid` (anything else). */
export class TokenError extends Error {
  constructor(
    readonly kind: 'expired' | 'invalid',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TokenError';
  }
}

/** Verifies connection and subscription tokens. Throws TokenError on refusal. */
export interface TokenVerifier {
  verifyConnectToken(token: string): Promise<ConnectCredentials>;
  verifySubscribeToken(token: string): Promise<SubscribeCredentials>;
}

/**
 * A compiled pattern from the config (channel_regex, issuer_regex, audience_regex). The server
 * compiles them as Go (RE2) patterns, which match in linear time; matching is unanchored.
 */
export interface PatternMatcher {
  /** True when the pattern matches somewhere in `input`. */
  test(input: string): boolean;
  /** Named groups of the leftmost match ('' for a group outside it), or undefined for no match. */
  groups(input: string): Record<string, string> | undefined;
}

/** Compiles a configured pattern; throws (with a message naming the problem) when it is invalid. */
export type CompilePattern = (source: string) => PatternMatcher;

/** Structured logger; pino's Logger satisfies it. The core logs only through this. */
export interface Logger {
  trace(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = (): void => {};
/** A logger that drops everything. */
export const nullLogger: Logger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop };

/**
 * Node-to-node control channel (cluster). Messages are opaque bytes; the node encodes
 * them. Broadcast messages reach every node including, possibly, the sender, which
 * ignores its own. Delivery is at most once.
 */
export interface Controller {
  /** Starts delivering control messages to the handler (broadcast and addressed to nodeId). */
  runControl(nodeId: string, handler: (msg: Uint8Array) => void): Promise<void>;
  /** Sends to every node, or only to `toNode` when given. */
  publishControl(msg: Uint8Array, toNode?: string): Promise<void>;
}
