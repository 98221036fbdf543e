/**
 * The events a node emits on `node.events` (a plain EventEmitter). Core emits them and never
 * listens; metrics, logs and the admin UI subscribe. Per-message traffic is not an event:
 * it is counted in TrafficCounters (traffic.ts), which is cheap enough for the fan-out path.
 */
import type { BrokerPublication } from './ports.js';
import type { ClientInfo } from '../protocol/types.js';

/** A client command finished: `method` is the command name, `error` the error code replied. */
export interface CommandEvent {
  client: string;
  method: string;
  durationMs: number;
  error?: number;
}

/** A connection finished connecting (after its connect reply was queued). */
export interface ConnectEvent {
  client: string;
  user: string;
  transport: string;
  /** Client name and version from the connect request ("" when not sent). */
  name: string;
  version: string;
}

/** A connection closed. `announced` is true when a ConnectEvent was emitted for it. */
export interface DisconnectEvent {
  client: string;
  user: string;
  code: number;
  reason: string;
  wasConnected: boolean;
  announced: boolean;
  transport: string;
  name: string;
  version: string;
}

/**
 * A subscription became live; `recover` is set when the subscriber asked for recovery, with
 * the number of publications the subscribe result carried.
 */
export interface SubscribeEvent {
  channel: string;
  client: string;
  clientName: string;
  recover?: { recovered: boolean; hasPublications: boolean; publications: number };
}

/**
 * A subscription was removed. `announced` is true when a SubscribeEvent was emitted for it;
 * `serverCode` is set when the server unsubscribed the client (with that code).
 */
export interface UnsubscribeEvent {
  channel: string;
  client: string;
  clientName: string;
  /** The connection's user ("" for anonymous). */
  user: string;
  announced: boolean;
  serverCode?: number;
  /** The unsubscribe code and reason as the client sees them (0 client, 1 connection closed, 2000+ the server's). */
  code: number;
  reason: string;
}

/** A publication from the broker was broadcast to local subscribers. */
export interface PublicationEvent {
  channel: string;
  pub: BrokerPublication;
  /**
   * Time spent fanning it out to local subscribers. Live subscribers (hub.ts) get it later in
   * the turn, with the channel's other publications of the turn, outside this time.
   */
  broadcastMs: number;
}

/** A join or leave message from the broker. */
export interface JoinLeaveEvent {
  channel: string;
  info: ClientInfo;
}

/** A call to the application backend (a proxy hook) started (`proxy_start`) or finished (`proxy`). */
export interface ProxyEvent {
  /** The hook: connect, refresh, subscribe, publish, rpc, sub_refresh. */
  type: string;
  /** The proxy's name: `default` for the built-in blocks, else the `proxies[]` name. */
  name: string;
  /** How it was called: `http` (or `grpc`). */
  protocol: string;
  /** Set on `proxy`: the call's duration. */
  durationMs?: number;
  /** Set on `proxy`: true when the backend could not be asked or answered nonsense. */
  failed?: boolean;
}

/** Lifecycle notifications (disconnect, unsubscribe, channel state) dropped by a full queue or at shutdown. */
export interface ProxyEventsDroppedEvent {
  /** disconnect, unsubscribe or state. */
  type: string;
  /** The proxy's name: `default` or a `proxies[]` name. */
  name: string;
  count: number;
}

/** A pong answered this connection's ping after `durationMs` (round trip, as the server sees it). */
export interface PingPongEvent {
  transport: string;
  durationMs: number;
}

/** A survey of the other nodes (`op`, such as `channels`) finished after `durationMs`, answered or timed out. */
export interface SurveyEvent {
  op: string;
  durationMs: number;
}

/** Event name → payload. */
export interface NodeEventMap {
  command: CommandEvent;
  connect: ConnectEvent;
  disconnect: DisconnectEvent;
  subscribe: SubscribeEvent;
  unsubscribe: UnsubscribeEvent;
  publication: PublicationEvent;
  join: JoinLeaveEvent;
  leave: JoinLeaveEvent;
  proxy_start: ProxyEvent;
  proxy: ProxyEvent;
  proxy_events_dropped: ProxyEventsDroppedEvent;
  ping_pong: PingPongEvent;
  survey: SurveyEvent;
}
