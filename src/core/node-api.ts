/**
 * What the server API (HTTP, GRPC, admin) may ask of a node. The node implements it;
 * api/ builds requests from wire bodies, validates them and maps thrown errors.
 * Methods throw ProtocolError (from protocol/codes) with client-protocol codes
 * 100/102/107/108/112; the API layer maps them to its own messages.
 */
import type { ClientInfo } from '../protocol/types.js';
import type { ChannelOptions } from './channel-options.js';
import type { NodeMapApi } from './map-api.js';
import type { BrokerPublication, StreamPosition } from './ports.js';

export interface ApiPublishRequest {
  channel: string;
  data: Uint8Array;
  skipHistory?: boolean;
  tags?: Record<string, string>;
  idempotencyKey?: string;
  delta?: boolean;
  version?: number;
  versionEpoch?: string;
  clientInfo?: ClientInfo;
}

/** Offset and epoch are absent when the channel keeps no history. */
export interface ApiPublishResult {
  offset?: number;
  epoch?: string;
}

export interface ApiHistoryRequest {
  channel: string;
  /** 0 = position only, -1 = all, N = at most N. */
  limit: number;
  since?: StreamPosition;
  reverse?: boolean;
}

export interface ApiHistoryResult {
  publications: BrokerPublication[];
  offset: number;
  epoch: string;
}

/** Which connections a user-targeted call affects. Empty client/session mean all of the user's. */
export interface ConnectionSelector {
  user: string;
  client?: string;
  session?: string;
}

export interface ApiSubscribeRequest extends ConnectionSelector {
  channel: string;
  /** Unix seconds; 0 = no expiry. */
  expireAt?: number;
  info?: Uint8Array;
  data?: Uint8Array;
  recoverSince?: StreamPosition;
  override?: {
    presence?: boolean;
    join_leave?: boolean;
    force_recovery?: boolean;
    force_positioning?: boolean;
    force_push_join_leave?: boolean;
  };
}

export interface ApiDisconnectRequest extends ConnectionSelector {
  whitelist?: string[];
  code: number;
  reason: string;
}

export interface ApiRefreshRequest extends ConnectionSelector {
  expired?: boolean;
  /** Unix seconds. */
  expireAt?: number;
  info?: Uint8Array;
}

export interface NodeInfo {
  uid: string;
  name: string;
  version: string;
  num_clients: number;
  num_users: number;
  num_channels: number;
  num_subs: number;
  /** Seconds since start. */
  uptime: number;
  /** The node's async consumers, when it runs any. */
  consumers?: NodeConsumerInfo[];
}

/** One async consumer as `info` shows it (wire names). */
export interface NodeConsumerInfo {
  name: string;
  type: string;
  /** `starting`, `running`, `reconnecting` or `stopped`. */
  status: string;
  processed: number;
  errors: number;
  /** Messages waiting in the source, when the source tells. */
  pending?: number;
  last_error?: string;
  /** ISO time of last_error. */
  last_error_at?: string;
}

/** shared_poll_publish (server.md §4.6): a new version of one key, pushed to this node's subscribers. */
export interface ApiSharedPollPublishRequest {
  channel: string;
  key: string;
  /** Above 0. */
  version: number;
  data: Uint8Array;
  /** The publisher's epoch; "" for none. */
  epoch: string;
}

export interface NodeApi {
  /** Options for a channel; undefined when its namespace does not exist. */
  channelOptions(channel: string): ChannelOptions | undefined;
  publish(req: ApiPublishRequest): Promise<ApiPublishResult>;
  presence(channel: string): Promise<Record<string, ClientInfo>>;
  presenceStats(channel: string): Promise<{ num_clients: number; num_users: number }>;
  history(req: ApiHistoryRequest): Promise<ApiHistoryResult>;
  historyRemove(channel: string): Promise<void>;
  subscribe(req: ApiSubscribeRequest): Promise<void>;
  unsubscribe(sel: ConnectionSelector & { channel: string }): Promise<void>;
  disconnect(req: ApiDisconnectRequest): Promise<void>;
  refresh(req: ApiRefreshRequest): Promise<void>;
  /** Channels with at least one subscriber, with subscriber counts. */
  channels(): Promise<Record<string, { num_clients: number }>>;
  info(): Promise<{ nodes: NodeInfo[] }>;
  /**
   * shared_poll_publish: 102 for an unknown namespace, 107 unless the namespace is shared_poll,
   * 108 unless it is versioned with publish_enabled. Reaches this node's subscribers only.
   */
  sharedPollPublish(req: ApiSharedPollPublishRequest): Promise<void>;
  /** The map methods (map_publish, ...); undefined when the node has no map broker (they answer 108). */
  readonly maps: NodeMapApi | undefined;
}
