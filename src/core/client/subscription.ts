/**
 * One connection's subscription to one channel, as the session sees it: a discriminated union
 * on `kind`. The fields every kind shares sit in SubscriptionBase; each kind keeps its own
 * state in its record (never in maps on the session) and its own module under kinds/ owns
 * install, positioning, live delivery, finish and removal (kinds/index.ts dispatches).
 */
import type { ClientInfo } from '../../protocol/types.js';
import type { TagsPredicate } from '../../protocol/tag-filter.js';
import type { BrokerPublication } from '../ports.js';
import type { SubscribeStream } from '../proxy-ports.js';
import type { MapChannelOptions } from '../map-broker.js';
import type { SharedPollSubscriber } from '../shared-poll/engine.js';

/** The subscription kinds (subscriptions.md §0.2); map covers map, map_clients and map_users. */
export type SubscriptionKind = 'stream' | 'map' | 'shared_poll';

/** A live publication that arrived while its subscription was being set up. */
export interface BufferedPublication {
  pub: BrokerPublication;
  /**
   * The publication already encoded for the connection, or undefined when the subscriber's
   * tags filter rejected it: it still counts for the position (§4.4) but is never sent.
   */
  item: Uint8Array | undefined;
  epoch: string;
}

/** What every kind of subscription has. */
export interface SubscriptionBase {
  readonly kind: SubscriptionKind;
  readonly channel: string;
  /** 'subscribing' buffers live publications (positioned subs) until the reply is written. */
  state: 'subscribing' | 'subscribed';
  /** Created by the server (token claims, API, personal channel) rather than a subscribe command. */
  readonly serverSide: boolean;
  /**
   * This subscriber receives join/leave pushes. Shared by every kind: map and shared-poll
   * subscriptions take join/leave from the same namespace options as streams (§5.6, §6.3).
   */
  pushJoinLeave: boolean;
  /** This subscriber's arrival and departure produce join/leave messages. */
  emitJoinLeave: boolean;
  /** This subscriber is kept in channel presence. */
  emitPresence: boolean;
  /** Unix seconds; 0 = never. */
  expireAt: number;
  /** The client refreshes this subscription with sub_refresh (token-based expiry). */
  clientSideRefresh: boolean;
  /** Presence / join / leave identity of this subscriber, with its channel info. */
  info: ClientInfo;
  /** True once the subscribe event was emitted (balances subscription gauges). */
  announced?: boolean;
}

/** A publish/subscribe subscription (type 0, subscriptions.md §1–§4). */
export interface StreamSubscription extends SubscriptionBase {
  readonly kind: 'stream';
  positioned: boolean;
  recoverable: boolean;
  /** Last delivered stream position (positioned subscriptions). */
  offset: number;
  epoch: string;
  /** Live publications held while the subscribe is in flight, delivered or merged after the reply. */
  buffer?: BufferedPublication[];
  /**
   * Delta compression (§3.1): true when `delta: "fossil"` was negotiated. The hub delivers by
   * its own copy of the flag (HubSubscriber.deltaNegotiated), set from this one when the
   * subscription is added to the hub.
   */
  delta?: boolean;
  /**
   * Tags filter (§4): the compiled `tf` of the subscribe request. The hub evaluates its own
   * copy (HubSubscriber.filter) per live publication; recovery (kinds/stream.ts position)
   * applies this one to recovered publications.
   */
  tagsFilter?: TagsPredicate;
  /** Fed by a subscribe stream proxy (stream-proxy.ts) instead of the broker: no hub entry. */
  readonly stream?: { readonly handle: SubscribeStream; readonly bidirectional: boolean };
}

/** Map subscription phases (§5.3): the client walks STATE → (STREAM) → LIVE. */
export const MapPhases = Object.freeze({ live: 0, stream: 1, state: 2 } as const);
export type MapPhase = (typeof MapPhases)[keyof typeof MapPhases];

/** What a map subscription attempt resolved from its namespace once, reused by every phase (kinds/map.ts). */
export interface MapSubscriptionSettings {
  broker: MapChannelOptions;
  defaultPageSize: number;
  minPageSize: number;
  maxPageSize: number;
  /** Most stream publications the transition to LIVE catches up (§5.6). */
  liveLimit: number;
  /** Catch-up limit of the reservation in ms; 0 = none (§5.3). */
  catchUpTimeoutMs: number;
  /** The namespace keeps channel presence: switched on once live. */
  presence: boolean;
  /** `map.remove_client_on_unsubscribe`: the key equal to the client ID goes with the subscriber (§5.11). */
  removeClientKey?: boolean;
  /** Map presence channels this subscriber is written into once live (§5.9). */
  clientsPresenceChannel?: string;
  usersPresenceChannel?: string;
}

/**
 * A map subscription (types 1, 2, 3; §5). While `state` is 'subscribing' the record is the
 * "map subscribing" reservation kept in `c.subs` between phase commands.
 */
export interface MapSubscription extends SubscriptionBase {
  readonly kind: 'map';
  /** The request type that opened it: map, map_clients or map_users (SubscribeTypes). */
  readonly mapType: 1 | 2 | 3;
  /** The phase the attempt is in; LIVE once subscribed. */
  phase: MapPhase;
  /** Stream-backed modes (recoverable / persistent) are positioned; ephemeral maps are not. */
  positioned: boolean;
  /** Position: the first STATE page's frozen position while paginating, the live position after. */
  offset: number;
  epoch: string;
  /** Unix ms the reservation started (the catch-up timeout, §5.3). */
  startedAtMs: number;
  /** Live publications held during the transition to LIVE (§5.6). */
  buffer?: BufferedPublication[];
  /** Delta negotiated (§3.1); per-key bases live in the client. */
  delta?: boolean;
  /** Compiled tags filter (§4.3): applies to state pages, stream pages and live publications. */
  tagsFilter?: TagsPredicate;
  settings: MapSubscriptionSettings;
  /** The stream top when the attempt's first STREAM request came (§5.5). */
  streamStart?: number;
  /** The hub entry and the node's map broker interest are held (from the transition to LIVE on). */
  inHub?: boolean;
  /** The transition buffer outgrew its bound: the transition answers 112 (the client starts over). */
  overflowed?: boolean;
  /** Map presence entries written for this subscriber (removed with it, refreshed by the tick). */
  mapPresence?: boolean;
}

/** A shared-poll subscription (type 4; §6). No hub entry for the channel itself. */
export interface SharedPollSubscription extends SubscriptionBase {
  readonly kind: 'shared_poll';
  /** The channel state's epoch returned in the subscribe result (§6.1). */
  epoch: string;
  /**
   * The engine's handle for this subscription: the engine keeps the tracked keys (bounded by
   * `max_keys_per_connection`) under it; release drops them all.
   */
  handle?: SharedPollSubscriber;
  /** Delta negotiated (§3.1). */
  delta?: boolean;
}

export type Subscription = StreamSubscription | MapSubscription | SharedPollSubscription;
