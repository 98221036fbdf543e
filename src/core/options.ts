/**
 * Node options in the configuration's snake_case shape (durations in ms). The server
 * passes the loaded config sections straight through; anything absent takes the default.
 */
import type { ChannelRules } from './channels.js';
import type { CompilePattern } from './ports.js';

export interface ClientRules {
  insecure?: boolean;
  allow_anonymous_connect_without_token?: boolean;
  disallow_anonymous_connection_tokens?: boolean;
  ping_interval?: number;
  pong_timeout?: number;
  expired_close_delay?: number;
  expired_sub_close_delay?: number;
  stale_close_delay?: number;
  channel_limit?: number;
  queue_max_size?: number;
  presence_update_interval?: number;
  history_max_publication_limit?: number;
  recovery_max_publication_limit?: number;
  user_connection_limit?: number;
  connect_include_server_time?: boolean;
  user_id_http_header?: string;
  subscribe_to_user_personal_channel?: {
    enabled?: boolean;
    personal_channel_namespace?: string;
    single_connection?: boolean;
  };
}

export interface RpcRules {
  ping?: { enabled?: boolean; method?: string };
}

export interface SharedPollRules {
  hmac_secret_key?: string;
  hmac_previous_secret_key?: string;
  /** Unix seconds; 0 = no deadline for the previous key. */
  hmac_previous_secret_key_valid_until?: number;
  concurrency_limit?: number;
}

export interface NodeOptions {
  /** Human-readable node name. */
  name?: string;
  /** Version string reported to clients and in info, e.g. "0.1.0". */
  version?: string;
  client?: ClientRules;
  channel?: ChannelRules;
  rpc?: RpcRules;
  /** Top-level `shared_poll`: track signature keys and the node-wide backend call limit. */
  shared_poll?: SharedPollRules;
  /**
   * Compiles configured channel_regex patterns; the server passes its Go (RE2) compiler. Without
   * one they are read as JavaScript RegExp syntax (a backtracking engine).
   */
  compileRegex?: CompilePattern;
}

/** Client rules with every default applied. */
export interface ResolvedClientRules {
  insecure: boolean;
  allowAnonymous: boolean;
  disallowAnonymousTokens: boolean;
  pingIntervalMs: number;
  pongTimeoutMs: number;
  expiredCloseDelayMs: number;
  expiredSubCloseDelayMs: number;
  staleCloseDelayMs: number;
  channelLimit: number;
  queueMaxSize: number;
  presenceUpdateIntervalMs: number;
  historyMaxPublicationLimit: number;
  recoveryMaxPublicationLimit: number;
  userConnectionLimit: number;
  includeServerTime: boolean;
  userIdHttpHeader: string;
  personalChannel: { enabled: boolean; namespace: string; singleConnection: boolean };
}

const or = (v: number | undefined, d: number): number => (v === undefined || v === 0 ? d : v);

export function resolveClientRules(c: ClientRules = {}): ResolvedClientRules {
  return {
    insecure: !!c.insecure,
    allowAnonymous: !!c.allow_anonymous_connect_without_token,
    disallowAnonymousTokens: !!c.disallow_anonymous_connection_tokens,
    pingIntervalMs: or(c.ping_interval, 25_000),
    pongTimeoutMs: or(c.pong_timeout, 8_000),
    expiredCloseDelayMs: or(c.expired_close_delay, 25_000),
    expiredSubCloseDelayMs: or(c.expired_sub_close_delay, 25_000),
    staleCloseDelayMs: or(c.stale_close_delay, 10_000),
    channelLimit: or(c.channel_limit, 128),
    queueMaxSize: or(c.queue_max_size, 1_048_576),
    presenceUpdateIntervalMs: or(c.presence_update_interval, 27_000),
    historyMaxPublicationLimit: or(c.history_max_publication_limit, 300),
    recoveryMaxPublicationLimit: or(c.recovery_max_publication_limit, 300),
    userConnectionLimit: c.user_connection_limit ?? 0,
    includeServerTime: !!c.connect_include_server_time,
    userIdHttpHeader: c.user_id_http_header ?? '',
    personalChannel: {
      enabled: !!c.subscribe_to_user_personal_channel?.enabled,
      namespace: c.subscribe_to_user_personal_channel?.personal_channel_namespace ?? '',
      singleConnection: !!c.subscribe_to_user_personal_channel?.single_connection,
    },
  };
}
