import { compileGoRegex } from './go-regex.js';
import { arr, bool, dur, int, map, obj, str, strs, type Fields, type FieldSpec } from './schema-dsl.js';

/** Regex for namespace, RPC namespace and proxy names. */
export const NAME_PATTERN = /^[-a-zA-Z0-9_.]{2,}$/;
/** Regex for custom user ID claims. */
export const CLAIM_PATTERN = /^[a-zA-Z_]+$/;

/** [TLS] block: listener or outgoing-connection TLS. PEM fields take raw PEM, base64 PEM or a path. */
export function tls(doc: string): FieldSpec {
  return obj(doc, {
    enabled: bool('Turn TLS on for this connection or listener.'),
    cert_pem: str('Certificate PEM (raw, base64 or file path); used together with key_pem.'),
    key_pem: str('Private key PEM for cert_pem (raw, base64 or file path).'),
    server_ca_pem: str('Outgoing side: CA bundle PEM used to verify the remote server.'),
    client_ca_pem: str('Listener side: CA bundle PEM for client certificates (enables mTLS).'),
    insecure_skip_verify: bool('Outgoing side: do not verify the remote chain and hostname.'),
    server_name: str('Outgoing side: expected SNI / hostname.'),
  });
}

/** [REDIS] connection keys without `prefix` (the redis_stream consumer uses these). */
export const REDIS_CONNECTION: Fields = {
  address: strs('Redis addresses, one per shard (host:port or redis:// URL).', ['redis://127.0.0.1:6379']),
  connect_timeout: dur('Dial timeout.', '1s'),
  io_timeout: dur('Per-command read/write timeout.', '4s'),
  db: int('Redis DB index (PUB/SUB ignores it: use distinct prefixes).'),
  user: str('Redis ACL user.'),
  password: str('Redis password.'),
  client_name: str('CLIENT SETNAME value.'),
  force_resp2: bool('Use RESP2 instead of RESP3.'),
  cluster_address: strs('Redis Cluster seed addresses, one entry per shard (comma-separated seeds).'),
  tls: tls('TLS to Redis.'),
  sentinel_address: strs('Sentinel addresses, one entry per shard (comma-separated sentinels).'),
  sentinel_user: str('Sentinel ACL user.'),
  sentinel_password: str('Sentinel password.'),
  sentinel_master_name: str('Sentinel master name (required with sentinels).'),
  sentinel_client_name: str('Client name for sentinel connections.'),
  sentinel_tls: tls('TLS to sentinels.'),
  replica_client: obj('Read-only replica client.', {
    enabled: bool('Create a replica client (only used by the redis_stream consumer).'),
  }),
};

/** [REDIS] with key prefix. */
export const REDIS_PREFIXED: Fields = {
  prefix: str('Prefix of every Redis key and PUB/SUB channel.', 'centrifugo'),
  ...REDIS_CONNECTION,
};

/** Redis history option of brokers and engines. */
export const REDIS_BROKER_KEYS: Fields = {
  history_use_lists: bool('Store history in Redis Lists instead of Streams (full-history reads only).'),
};

/** Redis presence options of presence managers and engines. */
export const REDIS_PRESENCE_KEYS: Fields = {
  presence_ttl: dur('Presence entry lifetime (refreshed every client.presence_update_interval).', '60s'),
  presence_hash_field_ttl: bool('Use per-field hash expiration (Redis >= 7.4) instead of a side ZSET.'),
  presence_user_mapping: bool('Maintain per-user counters so presence_stats is O(1).'),
};

/** [NATS] block of the NATS broker. */
export function nats(doc: string): FieldSpec {
  return obj(doc, {
    prefix: str('Subject prefix.', 'centrifugo'),
    url: str('NATS server URL(s).', 'nats://localhost:4222'),
    dial_timeout: dur('Connect timeout.', '1s'),
    write_timeout: dur('Flush timeout.', '1s'),
    tls: tls('TLS to NATS.'),
    allow_wildcards: bool('Allow channels containing NATS wildcards (* and >).'),
    raw_mode: obj('Raw mode: raw payloads on prefix+channel subjects.', {
      enabled: bool('Enable raw mode (no tags, client info or join/leave).'),
      channel_replacements: map('Substring replacements applied to the channel before building the subject.'),
      prefix: str('Subject prefix in raw mode.'),
    }),
  });
}

const PG_OUTBOX = obj('Outbox-based delivery.', {
  poll_interval: dur('Idle poll period.', '100ms'),
  batch_size: int('Rows per batch.', 1000),
});

function pgCommon(mapBroker: boolean): Fields {
  return {
    dsn: str('PostgreSQL connection string.'),
    tls: tls('TLS for all pools.'),
    pool_size: int('Max pool connections.', 16),
    num_shards: int('Delivery worker shards; channels are hashed to shards.', 8),
    ...(mapBroker ? { ttl_check_interval: dur('Expired-key check period.', '1s') } : {}),
    cleanup_interval: dur('Cleanup / partition worker period.', '1m'),
    idempotent_result_ttl: dur('Idempotency row lifetime.', '5m'),
    binary_data: bool('Store data in BYTEA instead of JSONB (non-JSON payloads).'),
    stream_retention: dur('Stream retention / floor for channel meta TTL.', '24h'),
    use_notify: bool('LISTEN/NOTIFY wake-up of outbox workers.'),
    notify_dsn: str('Separate direct DSN for LISTEN (PgBouncer setups).'),
    table_prefix: str('Table and function name prefix.', 'cf'),
    skip_schema_init: bool('Do not create the schema at startup.'),
    outbox: PG_OUTBOX,
    partition_lookahead_days: int('Future daily partitions to pre-create (> 0).', 2),
    partition_retention_days: int('Days before a daily partition is dropped.', 7),
  };
}

/** [PG] block of the Postgres stream broker. */
export const PG_BROKER: Fields = pgCommon(false);
/** [PG] block of the Postgres map broker (adds ttl_check_interval). */
export const PG_MAP_BROKER: Fields = pgCommon(true);

const STATUS_TRANSFORM: Fields = {
  status_code: int('HTTP status returned by the proxy to match.'),
  to_error: obj('Protocol error to answer with.', {
    code: int('Protocol error code.'),
    message: str('Error message (ASCII, up to 123 chars).'),
    temporary: bool('Mark the error temporary.'),
  }),
  to_disconnect: obj('Disconnect to apply.', {
    code: int('Disconnect code.'),
    reason: str('Disconnect reason (ASCII, up to 123 chars).'),
  }),
};

/** [PROXY] keys (endpoint, timeout, forwarding and HTTP/GRPC specifics). */
export const PROXY: Fields = {
  endpoint: str('http(s):// URL for an HTTP proxy, anything else is a GRPC target.'),
  timeout: dur('Whole-request timeout (must be non-zero).', '1s'),
  http_headers: strs('Transport request headers to forward.'),
  grpc_metadata: strs('Incoming GRPC metadata keys (uni_grpc) to forward.'),
  emulated_headers: strs('Client-supplied connect headers to forward.'),
  binary_encoding: bool('Send payloads base64-encoded (b64data) instead of raw JSON.'),
  include_connection_meta: bool('Add connection meta to proxy requests (not for connect).'),
  http: obj('HTTP proxy specifics.', {
    tls: tls('TLS for the HTTP proxy client.'),
    static_headers: map('Headers added to every request; values may use ${CENTRIFUGO_VAR_*}.'),
    status_to_code_transforms: arr('Map non-200 statuses to protocol errors or disconnects.', STATUS_TRANSFORM),
  }),
  grpc: obj('GRPC proxy specifics.', {
    tls: tls('TLS for the GRPC proxy client.'),
    credentials_key: str('Per-RPC metadata key added to every call.'),
    credentials_value: str('Per-RPC metadata value added to every call.'),
    compression: bool('gzip call compression.'),
    static_metadata: map('Metadata added to every call; values may use ${CENTRIFUGO_VAR_*}.'),
  }),
};

/** A [PROXY] block that has an `enabled` switch (client.proxy.connect / refresh). */
export function switchableProxy(doc: string): FieldSpec {
  return obj(doc, { enabled: bool('Enable this proxy.'), ...PROXY });
}

/** Token verification keys shared by client.token and client.subscription_token. */
export const TOKEN: Fields = {
  hmac_secret_key: str('Secret enabling HS256/HS384/HS512 verification.'),
  hmac_previous_secret_key: str('Previous HMAC secret still accepted (rotation).'),
  hmac_previous_secret_key_valid_until: int('Unix seconds after which the previous secret is rejected; 0 = never.'),
  rsa_public_key: str('PEM public key enabling RS256/RS384/RS512.'),
  ecdsa_public_key: str('PEM public key enabling ES256/ES384/ES512.'),
  jwks_public_endpoint: str('JWKS URL (may contain {{var}}); static keys are ignored when set.'),
  audience: str('Required aud value.'),
  audience_regex: str('Regex the aud must match (named groups feed JWKS URL vars).'),
  issuer: str('Required iss value.'),
  issuer_regex: str('Regex the iss must match (named groups feed JWKS URL vars).'),
  user_id_claim: str('Take the user ID from this top-level claim instead of sub.', '', { pattern: CLAIM_PATTERN }),
  insecure_skip_jwks_endpoint_safety_check: bool('Skip the JWKS URL template safety check.'),
};

/** Map subscription options inside channel options. */
export const MAP_OPTIONS: Fields = {
  mode: str('ephemeral, recoverable or persistent; required for map types.', '', {
    choices: ['', 'ephemeral', 'recoverable', 'persistent'],
  }),
  key_ttl: dur('Entry TTL; required for ephemeral/recoverable, 0 for persistent.'),
  stream_size: int('Change-stream length (0 = 100; 0 for ephemeral).'),
  stream_ttl: dur('Change-stream retention (0 = 1m; 0 for ephemeral).'),
  meta_ttl: dur('Meta retention (0 = derived); must be >= stream_ttl.'),
  remove_client_on_unsubscribe: bool("Remove the client's key on unsubscribe (map types only)."),
  client_key: str('client_id or user_id: force the key clients write to.', '', {
    choices: ['', 'client_id', 'user_id'],
  }),
  allow_publish_for_client: bool('Authenticated clients may map_publish.'),
  allow_publish_for_subscriber: bool('Subscribed clients may map_publish.'),
  allow_publish_for_anonymous: bool('Extend map_publish permissions to anonymous users.'),
  allow_remove_for_client: bool('Authenticated clients may map_remove.'),
  allow_remove_for_subscriber: bool('Subscribed clients may map_remove.'),
  allow_remove_for_anonymous: bool('Extend map_remove permissions to anonymous users.'),
  publish_proxy_enabled: bool('Proxy map publishes to the backend.'),
  publish_proxy_name: str('Map publish proxy name (default = channel.proxy.map_publish).', 'default'),
  remove_proxy_enabled: bool('Proxy map removals to the backend.'),
  remove_proxy_name: str('Map remove proxy name (default = channel.proxy.map_remove).', 'default'),
  default_page_size: int('State page size when the client gives none (0 = 100).'),
  min_page_size: int('Lower page size clamp (0 = 100).'),
  max_page_size: int('Upper page size clamp (0 = 1000).'),
  live_transition_max_publication_limit: int('Max stream catch-up while going live (0 = max page size).'),
  subscribe_catch_up_timeout: dur('Max time for state + stream catch-up (0 = 5s, negative = none).'),
};

/** Shared-poll subscription options inside channel options. */
export const SHARED_POLL_OPTIONS: Fields = {
  proxy_name: str('Proxy used to poll the backend ("" = default = channel.proxy.shared_poll_refresh).'),
  refresh_interval: dur('Poll period (0 = 10s).'),
  refresh_batch_size: int('Keys per poll request (0 = 1000).'),
  max_keys_per_connection: int('Tracked keys per connection (0 = 5000).'),
  mode: str('versionless or versioned.', '', { choices: ['', 'versionless', 'versioned'] }),
  channel_shutdown_delay: dur('Delay before dropping a channel with no tracked keys (0 = 1s).'),
  track_expired_extra_delay: dur('Grace after a track signature expires (0 = 25s).'),
  publish_enabled: bool('Allow the shared_poll_publish API (requires versioned mode).'),
};

function regexCheck(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  try {
    compileGoRegex(value);
    return undefined;
  } catch (err) {
    return `invalid channel regex ${value}: ${(err as Error).message}`;
  }
}

/** Options of one channel namespace (also channel.without_namespace). */
export const CHANNEL_OPTIONS: Fields = {
  presence: bool('Maintain presence for subscribers.'),
  join_leave: bool('Emit join/leave events.'),
  force_push_join_leave: bool('Push join/leave to all subscribers without them asking.'),
  map_clients_presence_channel_prefix: str('Track client presence in map channel <prefix><channel> (map_clients namespace).'),
  map_users_presence_channel_prefix: str('Track user presence in map channel <prefix><channel> (map_users namespace).'),
  history_size: int('History length; set together with history_ttl.'),
  history_ttl: dur('History retention, whole seconds; set together with history_size.'),
  history_meta_ttl: dur('Stream meta retention, whole seconds (0 = channel.history_meta_ttl).'),
  force_positioning: bool('Positioning on for every subscriber.'),
  allow_positioning: bool('Clients may request positioning.'),
  force_recovery: bool('Recovery on for every subscriber (requires history).'),
  allow_recovery: bool('Clients may request recovery.'),
  force_recovery_mode: str('stream or cache ("" = stream).', '', { choices: ['', 'stream', 'cache'] }),
  auto_cache_recover: bool('Deliver the latest publication on every (re)subscribe (needs cache recovery).'),
  allowed_delta_types: strs('Delta types subscribers may negotiate (only fossil).'),
  allow_tags_filter: bool('Clients may pass a tags filter on subscribe.'),
  delta_publish: bool('Treat every publication into the namespace as delta-enabled.'),
  allow_subscribe_for_anonymous: bool('Extend allow_subscribe_for_client to anonymous users.'),
  allow_subscribe_for_client: bool('Authenticated clients may subscribe without token or proxy.'),
  allow_publish_for_anonymous: bool('Extend publish permissions to anonymous users.'),
  allow_publish_for_subscriber: bool('Subscribed clients may publish.'),
  allow_publish_for_client: bool('Authenticated clients may publish.'),
  allow_presence_for_anonymous: bool('Extend presence permissions to anonymous users.'),
  allow_presence_for_subscriber: bool('Subscribed clients may call presence and presence_stats.'),
  allow_presence_for_client: bool('Authenticated clients may call presence and presence_stats.'),
  allow_history_for_anonymous: bool('Extend history permissions to anonymous users.'),
  allow_history_for_subscriber: bool('Subscribed clients may call history.'),
  allow_history_for_client: bool('Authenticated clients may call history.'),
  allow_user_limited_channels: bool('Enable #user1,user2 channels.'),
  channel_regex: str('Regex the channel part after the namespace must match.', '', { check: regexCheck }),
  publication_data_format: str('"" (non-empty), json, json_object or binary.', '', {
    choices: ['', 'json', 'json_object', 'binary'],
  }),
  subscribe_proxy_enabled: bool('Proxy subscribe requests to the backend.'),
  subscribe_proxy_name: str('Subscribe proxy name (default = channel.proxy.subscribe).', 'default'),
  publish_proxy_enabled: bool('Proxy client publications to the backend.'),
  publish_proxy_name: str('Publish proxy name (default = channel.proxy.publish).', 'default'),
  sub_refresh_proxy_enabled: bool('Proxy subscription refresh to the backend.'),
  sub_refresh_proxy_name: str('Sub refresh proxy name (default = channel.proxy.sub_refresh).', 'default'),
  subscribe_stream_proxy_enabled: bool('GRPC subscribe stream proxy for the namespace.'),
  subscribe_stream_proxy_name: str('Subscribe stream proxy name (default = channel.proxy.subscribe_stream).', 'default'),
  subscribe_stream_proxy_bidirectional: bool('Use the bidirectional subscribe stream.'),
  state_proxy_enabled: bool('Send channel state events (occupied / vacated) of this namespace (needs presence).'),
  state_proxy_name: str('Channel state proxy name (default = channel.proxy.state).', 'default'),
  unsubscribe_proxy_enabled: bool('Send unsubscribe notifications of this namespace.'),
  unsubscribe_proxy_name: str('Unsubscribe notification proxy name (default = channel.proxy.unsubscribe).', 'default'),
  subscription_type: str('stream, map, map_clients, map_users or shared_poll ("" = stream).', '', {
    choices: ['', 'stream', 'map', 'map_clients', 'map_users', 'shared_poll'],
  }),
  map: obj('Map subscription options.', MAP_OPTIONS),
  shared_poll: obj('Shared poll subscription options.', SHARED_POLL_OPTIONS),
};

/** A namespace item: a name plus channel options. */
export const NAMESPACE: Fields = {
  name: str('Unique namespace name (^[-a-zA-Z0-9_.]{2,}$).', '', { pattern: NAME_PATTERN }),
  ...CHANNEL_OPTIONS,
};
