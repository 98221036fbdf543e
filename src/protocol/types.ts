/**
 * Client protocol messages (Centrifugo client protocol v2). Field names keep the wire's
 * snake_case. `bytes` fields are Uint8Array: for JSON connections they hold JSON text
 * that the codec embeds raw; 64-bit integers are JS numbers.
 */

export type Bytes = Uint8Array;

export interface ClientInfo {
  user: string;
  client: string;
  conn_info?: Bytes;
  chan_info?: Bytes;
}

export interface StreamPosition {
  offset?: number;
  epoch?: string;
}

export interface FilterNode {
  op?: string;
  key?: string;
  cmp?: string;
  val?: string;
  vals?: string[];
  nodes?: FilterNode[];
}

export interface Publication {
  data?: Bytes;
  info?: ClientInfo;
  offset?: number;
  tags?: Record<string, string>;
  delta?: boolean;
  time?: number;
  channel?: string;
  key?: string;
  removed?: boolean;
  score?: number;
  epoch?: string;
  version?: number;
}

export interface ConnectRequest {
  token?: string;
  data?: Bytes;
  subs?: Record<string, SubscribeRequest>;
  name?: string;
  version?: string;
  headers?: Record<string, string>;
  flag?: number;
  /** Id of a compression dictionary the client holds (newest protocol; unused by centrifuge-js). */
  dict?: string;
  /** Untrusted application-context hint (newest protocol). */
  profile?: string;
}

export interface SubscribeRequest {
  channel?: string;
  token?: string;
  recover?: boolean;
  epoch?: string;
  offset?: number;
  data?: Bytes;
  positioned?: boolean;
  recoverable?: boolean;
  join_leave?: boolean;
  delta?: string;
  tf?: FilterNode;
  flag?: number;
  type?: number;
  phase?: number;
  cursor?: string;
  limit?: number;
  asc?: boolean;
}

export interface SubscribeResult {
  expires?: boolean;
  ttl?: number;
  recoverable?: boolean;
  epoch?: string;
  publications?: Publication[];
  recovered?: boolean;
  offset?: number;
  positioned?: boolean;
  data?: Bytes;
  was_recovering?: boolean;
  delta?: boolean;
  id?: number;
  type?: number;
  phase?: number;
  cursor?: string;
  state?: Publication[];
  publish_debounce?: number;
}

export interface ConnectResult {
  client: string;
  version?: string;
  expires?: boolean;
  ttl?: number;
  data?: Bytes;
  subs?: Record<string, SubscribeResult>;
  ping?: number;
  pong?: boolean;
  session?: string;
  node?: string;
  time?: number;
  /** Enabled subset of ConnectRequest.flag; only on ConnectResult (not in the Push.connect message). */
  flag?: number;
}

export interface UnsubscribeRequest { channel?: string }
export interface PublishRequest { channel?: string; data?: Bytes; type?: number; key?: string; removed?: boolean }
export interface PresenceRequest { channel?: string }
export interface PresenceResult { presence: Record<string, ClientInfo> }
export interface PresenceStatsRequest { channel?: string }
export interface PresenceStatsResult { num_clients: number; num_users: number }
export interface HistoryRequest { channel?: string; limit?: number; since?: StreamPosition; reverse?: boolean }
export interface HistoryResult { publications: Publication[]; epoch: string; offset: number }
export interface RPCRequest { data?: Bytes; method?: string }
export interface RPCResult { data?: Bytes }
export interface SendRequest { data?: Bytes }
export interface RefreshRequest { token?: string }
export interface RefreshResult { client?: string; version?: string; expires?: boolean; ttl?: number }
/** One item of a shared-poll track batch (KeyedItem). */
export interface KeyedItem { key?: string; version?: number }
/** One signed batch of keys a client tracks (shared poll, subscriptions.md §6.4). */
export interface TrackBatchMessage { signature?: string; items?: KeyedItem[] }
/** type 0 = token refresh; 1 = shared-poll track; 2 = shared-poll untrack. */
export interface SubRefreshRequest { channel?: string; token?: string; type?: number; track?: TrackBatchMessage[]; untrack?: string[] }
export interface SubRefreshResult { expires?: boolean; ttl?: number }

/** Empty result messages: present-but-empty on the wire. */
export type EmptyResult = Record<string, never>;

/** A client command. Exactly one request field is set, except for the pong (none, id 0). */
export interface Command {
  id?: number;
  connect?: ConnectRequest;
  subscribe?: SubscribeRequest;
  unsubscribe?: UnsubscribeRequest;
  publish?: PublishRequest;
  presence?: PresenceRequest;
  presence_stats?: PresenceStatsRequest;
  history?: HistoryRequest;
  ping?: EmptyResult;
  send?: SendRequest;
  rpc?: RPCRequest;
  refresh?: RefreshRequest;
  sub_refresh?: SubRefreshRequest;
}

export interface ProtocolErrorBody { code: number; message: string; temporary?: boolean }

export interface Join { info: ClientInfo }
export interface Leave { info: ClientInfo }
export interface UnsubscribePush { code: number; reason: string }
export interface MessagePush { data?: Bytes }
export interface SubscribePush {
  recoverable?: boolean;
  epoch?: string;
  offset?: number;
  positioned?: boolean;
  data?: Bytes;
}
export interface DisconnectPush { code: number; reason: string; reconnect?: boolean }
export interface RefreshPush { expires?: boolean; ttl?: number }
export type ConnectPush = ConnectResult;

export interface Push {
  /** Numeric channel id (channel compaction); when set, `channel` is omitted. */
  id?: number;
  channel?: string;
  pub?: Publication;
  join?: Join;
  leave?: Leave;
  unsubscribe?: UnsubscribePush;
  message?: MessagePush;
  subscribe?: SubscribePush;
  connect?: ConnectPush;
  disconnect?: DisconnectPush;
  refresh?: RefreshPush;
}

/** A server reply: one of error, push, a result named like the request, or nothing (a ping). */
export interface Reply {
  id?: number;
  error?: ProtocolErrorBody;
  push?: Push;
  connect?: ConnectResult;
  subscribe?: SubscribeResult;
  unsubscribe?: EmptyResult;
  publish?: EmptyResult;
  presence?: PresenceResult;
  presence_stats?: PresenceStatsResult;
  history?: HistoryResult;
  rpc?: RPCResult;
  refresh?: RefreshResult;
  sub_refresh?: SubRefreshResult;
}

/** Body of `POST /emulation`: commands for an HTTP-streaming or SSE session. `data` holds the command frame. */
export interface EmulationRequest { node?: string; session?: string; data?: Bytes }

/** Wire encoding of one connection, fixed for its lifetime. */
export type ProtocolType = 'json' | 'protobuf';
