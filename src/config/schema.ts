import {
  CHANNEL_OPTIONS,
  NAME_PATTERN,
  NAMESPACE,
  PG_BROKER,
  PG_MAP_BROKER,
  PROXY,
  REDIS_BROKER_KEYS,
  REDIS_PREFIXED,
  REDIS_PRESENCE_KEYS,
  TOKEN,
  nats,
  switchableProxy,
  tls,
} from './schema-blocks.js';
import { CONSUMER } from './schema-consumers.js';
import { arr, bool, dur, int, obj, str, strs, type Fields, type FieldSpec } from './schema-dsl.js';
import { workersCheck } from './workers.js';

function endpoint(doc: string, prefix: string): Fields {
  return { enabled: bool(doc), handler_prefix: str('Path of the endpoint.', prefix) };
}

const WEBSOCKET_TUNING: Fields = {
  compression: bool('permessage-deflate compression.'),
  compression_min_size: int('Min message size to compress (bytes).'),
  compression_level: int('Compression level 1..9.', 1),
  read_buffer_size: int('Read buffer size (0 = library default).'),
  use_write_buffer_pool: bool('Pool write buffers.'),
  write_buffer_size: int('Write buffer size (0 = library default).'),
  write_timeout: dur('Per-write timeout.', '1000ms'),
  message_size_limit: int('Max inbound message size (bytes).', 65536),
  decompressed_message_size_limit: int('Max size after inflate (0 = 10 x message_size_limit).'),
};

function connectCodeToHttpResponse(): FieldSpec {
  return obj('Answer connect errors with a plain HTTP status and body.', {
    enabled: bool('Enable the transforms.'),
    transforms: arr('Connect error code to HTTP response mapping.', {
      code: int('Connect error code to match.'),
      to: obj('HTTP response to send.', {
        status_code: int('HTTP status code.'),
        body: str('HTTP response body.'),
      }),
    }),
  });
}


/**
 * The whole Centrifugo v6 configuration tree, in defaultconfig order. Every key has a kind,
 * a default (durations in ms) and a one-line doc; this is the single source for loading,
 * env names, defaults, unknown-key detection and defaultconfig/defaultenv output.
 */
export const CONFIG_SCHEMA: Fields = {
  http_server: obj('Main HTTP server: addresses, ports, TLS.', {
    address: str('Bind host for the external server ("" = all interfaces).'),
    port: int('External HTTP port.', 8000),
    internal_address: str('Bind host for internal endpoints ("" = address).'),
    internal_port: str('Port for internal endpoints ("" = same as port).'),
    tls: tls('TLS for the HTTP server(s).'),
    tls_autocert: obj('ACME (Let\'s Encrypt) certificates.', {
      enabled: bool('Obtain certificates via ACME (wins over tls).'),
      host_whitelist: strs('Hosts allowed for issuance (empty = any).'),
      cache_dir: str('Certificate cache directory.'),
      email: str('ACME account contact.'),
      server_name: str('SNI to assume when a client sends none.'),
      http: bool('Also run an HTTP-01 challenge server.'),
      http_addr: str('Listen address of the challenge server.', ':80'),
      acme_directory_url: str('ACME directory URL (Gyre; "" = Let\'s Encrypt production).'),
      acme_ca_file: str('CA bundle file trusted for the ACME server\'s HTTPS endpoint (Gyre).'),
    }),
    tls_external: bool('Apply tls only to the external port.'),
    internal_tls: tls('Separate TLS for the internal port.'),
    http3: obj('Experimental HTTP/3.', { enabled: bool('Serve HTTP/3 (needs TLS, not autocert).') }),
    h2c_external: bool('Cleartext HTTP/2 on the external port (needs a distinct internal_port).'),
  }),
  log: obj('Logging.', {
    level: str('none, trace, debug, info, warn, error (fatal accepted).', 'info'),
    file: str('Append logs to this file instead of the console.'),
  }),
  engine: obj('Combined broker + presence manager.', {
    type: str('memory or redis.', 'memory', { choices: ['memory', 'redis'] }),
    redis: obj('Redis engine.', {
      ...REDIS_PREFIXED,
      ...REDIS_BROKER_KEYS,
      ...REDIS_PRESENCE_KEYS,
      channel_state: obj('Channel state events (PRO-compatible spelling).', {
        vacated_event_delay: dur('Alias of channel_state.vacated_event_delay; wins when non-zero.'),
      }),
    }),
  }),
  channel_state: obj('Channel state events (occupied / vacated) sent through channel.proxy.state.', {
    vacated_event_delay: dur('Wait before a vacated event; a resubscribe within it cancels the event.', '5s'),
  }),
  broker: obj('Separate broker overriding the engine\'s.', {
    enabled: bool('Use broker.* instead of the engine broker.'),
    type: str('memory, redis, nats, postgres or redisnats.', 'memory', {
      choices: ['memory', 'redis', 'nats', 'postgres', 'redisnats'],
    }),
    redis: obj('Redis broker.', { ...REDIS_PREFIXED, ...REDIS_BROKER_KEYS }),
    nats: nats('NATS broker.'),
    postgres: obj('Postgres stream broker.', PG_BROKER),
    redisnats: obj(
      'Experimental Redis history + NATS PUB/SUB broker.',
      {
        redis: obj('Redis part.', { ...REDIS_PREFIXED, ...REDIS_BROKER_KEYS }),
        nats: nats('NATS part.'),
      },
      { hidden: true },
    ),
  }),
  presence_manager: obj('Separate presence manager overriding the engine\'s.', {
    enabled: bool('Use presence_manager.* instead of the engine presence manager.'),
    type: str('memory or redis.', 'memory', { choices: ['memory', 'redis'] }),
    redis: obj('Redis presence manager.', { ...REDIS_PREFIXED, ...REDIS_PRESENCE_KEYS }),
  }),
  map_broker: obj('Broker for map subscription types.', {
    type: str('memory, redis or postgres.', 'memory', { choices: ['memory', 'redis', 'postgres'] }),
    redis: obj('Redis map broker.', {
      ...REDIS_PREFIXED,
      cleanup_interval: dur('Expired-entry cleanup period (-1s disables).', '1s'),
      cleanup_batch_size: int('Max entries per channel per cleanup cycle.', 100),
      idempotent_result_ttl: dur('Idempotency cache lifetime.', '5m'),
      skip_pub_sub: bool('Update state only, do not publish.'),
    }),
    postgres: obj('Postgres map broker.', PG_MAP_BROKER),
  }),
  controller: obj('Dedicated inter-node control channel.', {
    enabled: bool('Use a dedicated controller.'),
    type: str('Controller type (OSS: postgres).'),
    postgres: obj('Postgres controller.', {
      dsn: str('PostgreSQL connection string.'),
      tls: tls('TLS for all pools.'),
      pool_size: int('Pool size.', 8),
      num_shards: int('Shards for serialized publishing.', 1),
      table_prefix: str('Table and function name prefix.', 'cf'),
      poll_interval: dur('Idle poll period.', '50ms'),
      use_notify: bool('LISTEN/NOTIFY wake-up.'),
      notify_dsn: str('Separate direct DSN for LISTEN.'),
      partition_retention_days: int('Days a partition is kept.', 1),
      partition_lookahead_days: int('Future daily partitions to pre-create.', 2),
      partition_cleanup_interval: dur('Partition worker period.', '1m'),
      batch_size: int('Rows per poll.', 1000),
      skip_schema_init: bool('Do not create the schema at startup.'),
    }),
  }),
  shared_poll: obj('Global shared-poll settings.', {
    hmac_secret_key: str('HMAC key of track signatures (required when a namespace uses shared_poll).'),
    hmac_previous_secret_key: str('Previous HMAC key still accepted (rotation).'),
    hmac_previous_secret_key_valid_until: int('Unix seconds after which the previous key is rejected.'),
    concurrency_limit: int('Node-wide cap on concurrent backend poll calls (<= 0 means 64).'),
  }),
  client: obj('Real-time connections: tokens, origins, limits, proxies.', {
    proxy: obj('Connection-level proxies.', {
      connect: switchableProxy('Connect proxy (connections without token).'),
      refresh: switchableProxy('Refresh proxy.'),
      disconnect: switchableProxy('Disconnect notifications: every closed connection, batched (Gyre extension).'),
    }),
    allowed_origins: strs('Allowed Origin globs ([] = only requests without Origin, ["*"] = all).'),
    token: obj('Connection (and default subscription) JWT verification.', TOKEN),
    subscription_token: obj('Separate subscription JWT verification.', {
      enabled: bool('Use this block for subscription tokens.'),
      ...TOKEN,
    }),
    allow_anonymous_connect_without_token: bool('Accept connections without token as anonymous.'),
    disallow_anonymous_connection_tokens: bool('Reject connection tokens with an empty user ID.'),
    ping_interval: dur('Server ping period (negative disables); must exceed pong_timeout.', '25s'),
    pong_timeout: dur('Pong wait (negative disables the check).', '8s'),
    expired_close_delay: dur('Grace before closing a connection with expired credentials.', '25s'),
    expired_sub_close_delay: dur('Grace before closing an expired subscription.', '25s'),
    stale_close_delay: dur('Close connections that sent no connect command in this time.', '10s'),
    channel_limit: int('Max subscriptions per connection.', 128),
    queue_max_size: int('Outgoing queue cap in bytes (exceeding disconnects as slow).', 1048576),
    presence_update_interval: dur('Presence re-announcement period.', '27s'),
    concurrency: int('Commands of one connection processed concurrently (0/1 = sequential).'),
    channel_position_check_delay: dur('Stream position check period of positioned subscriptions.', '40s'),
    channel_position_max_time_lag: dur('Max PUB/SUB lag of positioned subscribers (0 = off).'),
    connection_limit: int('Per-node max connections (0 = unlimited).'),
    user_connection_limit: int('Per-node max connections per user (0 = unlimited).'),
    connection_rate_limit: int('Per-node new connections per second (0 = unlimited).'),
    connect_include_server_time: bool('Add server time to the connect reply.'),
    history_max_publication_limit: int('Cap of publications per client history call.', 300),
    recovery_max_publication_limit: int('Cap of publications recovered on resubscribe.', 300),
    insecure_skip_token_signature_verify: bool('Do not check token signatures (testing only).'),
    user_id_http_header: str('Take the user ID from this request header (no token or proxy).'),
    insecure: bool('Insecure client mode: anonymous access to everything.'),
    subscribe_to_user_personal_channel: obj('Auto-subscribe users to their personal channel.', {
      enabled: bool('Enable personal channel subscription.'),
      personal_channel_namespace: str('Namespace of the personal channel (must exist).'),
      single_connection: bool('Keep one connection per user (needs presence).'),
    }),
    connect_code_to_unidirectional_disconnect: obj('Translate connect error codes for uni transports.', {
      enabled: bool('Enable the transforms.'),
      transforms: arr('Connect error code to disconnect mapping.', {
        code: int('Connect error code to match.'),
        to: obj('Disconnect to send.', {
          code: int('Disconnect code.'),
          reason: str('Disconnect reason (ASCII).'),
        }),
      }),
    }),
  }),
  channel: obj('Channels and namespaces.', {
    proxy: obj('Proxies referenced by the name "default".', {
      subscribe: obj('Subscribe proxy.', PROXY),
      publish: obj('Publish proxy.', PROXY),
      sub_refresh: obj('Subscription refresh proxy.', PROXY),
      subscribe_stream: obj('Subscribe stream proxy (GRPC).', PROXY),
      map_publish: obj('Map publish proxy.', PROXY),
      map_remove: obj('Map remove proxy.', PROXY),
      shared_poll_refresh: obj('Shared poll refresh proxy.', PROXY),
      state: obj('Channel state events (occupied / vacated), batched (Gyre extension, PRO-compatible).', PROXY),
      unsubscribe: obj('Unsubscribe notifications, batched (Gyre extension).', PROXY),
    }),
    without_namespace: obj('Options of channels without namespace.', CHANNEL_OPTIONS),
    namespaces: arr('Channel namespaces.', NAMESPACE, true),
    history_meta_ttl: dur('Default stream meta lifetime (whole seconds).', '720h'),
    publication_data_format: str('Default publication data validation.', '', {
      choices: ['', 'json', 'json_object', 'binary'],
    }),
    max_length: int('Max channel length in bytes for client subscribe requests.', 255),
    private_prefix: str('Prefix of channels that require a subscription token.', '$'),
    namespace_boundary: str('Separator between namespace and the rest of the channel.', ':'),
    user_boundary: str('Marks user-limited channels.', '#'),
    user_separator: str('Separates user IDs after the user boundary.', ','),
    client_channel_boundary: str(
      'Gyre extension: marks client-limited channels ("" = off; "&" as in Centrifugo v1). A channel ending with the boundary plus a client ID (news&<client>) can be subscribed to only by that client.',
    ),
  }),
  rpc: obj('Client RPC.', {
    proxy: obj('RPC proxy named "default".', PROXY),
    without_namespace: obj('RPC options of methods without namespace.', {
      proxy_enabled: bool('Proxy RPC methods without namespace.'),
      proxy_name: str('Proxy to use.', 'default'),
    }),
    namespaces: arr(
      'RPC namespaces.',
      {
        name: str('Unique RPC namespace name (^[-a-zA-Z0-9_.]{2,}$).', '', { pattern: NAME_PATTERN }),
        proxy_enabled: bool('Proxy RPC methods of this namespace.'),
        proxy_name: str('Proxy to use.', 'default'),
      },
      true,
    ),
    ping: obj('Built-in ping RPC.', {
      enabled: bool('Answer the ping method with empty data.'),
      method: str('Name of the ping method.', 'ping'),
    }),
    namespace_boundary: str('Method namespace separator.', ':'),
  }),
  proxies: arr('Named proxies referenced from namespaces.', { name: str('Unique proxy name (not "default").'), ...PROXY }, true),
  http_api: obj('Server HTTP API.', {
    disabled: bool('Do not serve the HTTP API.'),
    handler_prefix: str('Base path.', '/api'),
    key: str('API key ("" and not insecure: every request gets 401).'),
    error_mode: str('"" or transport.', '', { choices: ['', 'transport'] }),
    external: bool('Serve on the external port.'),
    insecure: bool('No API key check.'),
  }),
  grpc_api: obj('Server GRPC API.', {
    enabled: bool('Start the GRPC API server.'),
    error_mode: str('"" or transport.', '', { choices: ['', 'transport'] }),
    address: str('Bind host.'),
    port: int('Port.', 10000),
    key: str('API key ("" = no auth).'),
    tls: tls('TLS.'),
    reflection: bool('Register GRPC reflection.'),
    max_receive_message_size: int('Max request size (0 = 4 MiB).'),
  }),
  consumers: arr('Async consumers.', CONSUMER, true),
  websocket: obj('Bidirectional WebSocket transport.', {
    disabled: bool('Disable WebSocket.'),
    handler_prefix: str('Path.', '/connection/websocket'),
    ...WEBSOCKET_TUNING,
  }),
  sse: obj('Bidirectional SSE (with emulation).', {
    ...endpoint('Enable bidirectional SSE.', '/connection/sse'),
    max_request_body_size: int('Max connect request body (bytes).', 65536),
  }),
  http_stream: obj('Bidirectional HTTP streaming (with emulation).', {
    ...endpoint('Enable bidirectional HTTP streaming.', '/connection/http_stream'),
    max_request_body_size: int('Max connect request body (bytes).', 65536),
  }),
  webtransport: obj('Experimental WebTransport.', {
    ...endpoint('Enable WebTransport (needs http_server.http3).', '/connection/webtransport'),
    message_size_limit: int('Max message size (bytes).', 65536),
  }),
  uni_sse: obj('Unidirectional SSE.', {
    ...endpoint('Enable unidirectional SSE.', '/connection/uni_sse'),
    max_request_body_size: int('Max connect request body (bytes).', 65536),
    connect_code_to_http_response: connectCodeToHttpResponse(),
  }),
  uni_http_stream: obj('Unidirectional HTTP streaming.', {
    ...endpoint('Enable unidirectional HTTP streaming.', '/connection/uni_http_stream'),
    max_request_body_size: int('Max connect request body (bytes).', 65536),
    connect_code_to_http_response: connectCodeToHttpResponse(),
  }),
  uni_websocket: obj('Unidirectional WebSocket.', {
    ...endpoint('Enable unidirectional WebSocket.', '/connection/uni_websocket'),
    ...WEBSOCKET_TUNING,
    disable_closing_handshake: bool('Do not send a close frame (pre-6.5.1 behaviour).'),
    disable_disconnect_push: bool('Do not send a disconnect push before closing.'),
    join_push_messages: bool('Pack several pushes per frame, newline-delimited.'),
  }),
  uni_grpc: obj('Unidirectional GRPC.', {
    enabled: bool('Enable unidirectional GRPC.'),
    address: str('Bind host.'),
    port: int('Port.', 11000),
    max_receive_message_size: int('Max request size (0 = 4 MiB).'),
    tls: tls('TLS.'),
  }),
  sockjs: obj('SockJS transport (JSON protocol), with its WebSocket endpoint and HTTP fallbacks.', {
    ...endpoint('Enable SockJS.', '/connection/sockjs'),
    url: str('sockjs-client script URL for the iframe-based transports.', 'https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js'),
    heartbeat_delay: dur('Interval of SockJS heartbeat frames on an idle session.', '25s'),
    disconnect_delay: dur('How long a session with no receiving request open lives on.', '5s'),
  }),
  emulation: obj('Emulation endpoint for SSE / HTTP streaming commands.', {
    handler_prefix: str('Path.', '/emulation'),
    max_request_body_size: int('Max request body (bytes).', 65536),
  }),
  admin: obj('Admin web UI.', {
    enabled: bool('Serve the admin UI and endpoints.'),
    handler_prefix: str('Mount prefix.'),
    password: str('Login password.'),
    secret: str('Key for admin session tokens.'),
    insecure: bool('No admin auth.'),
    web_path: str('Serve UI files from this directory.'),
    web_proxy_address: str('Reverse-proxy UI requests to a dev server.'),
    external: bool('Serve admin on the external port.'),
  }),
  prometheus: obj('Prometheus metrics.', {
    ...endpoint('Expose Prometheus metrics.', '/metrics'),
    instrument_http_handlers: bool('Count HTTP requests per path, method and status.'),
    recovered_publications_histogram: bool('Histogram of recovered publication counts.'),
    native_histograms: bool('Serve histograms as native (sparse, exponential) histograms, without classic buckets, to scrapes asking for protobuf; drops the deprecated summaries.'),
  }),
  health: obj('Health endpoint.', endpoint('Serve the health endpoint.', '/health')),
  swagger: obj('Swagger UI of the HTTP API.', endpoint('Serve Swagger UI.', '/swagger')),
  debug: obj('Debug endpoints.', endpoint('Serve debug endpoints.', '/debug/pprof')),
  init: obj('Connection warm-up endpoint.', endpoint('Serve the init endpoint.', '/connection/init')),
  opentelemetry: obj('OpenTelemetry tracing.', {
    enabled: bool('Enable the OTLP trace exporter.'),
    api: bool('Spans for server API requests.'),
    consuming: bool('Spans for consumer processing.'),
    google_cloud_adc_auth: bool('Authenticate the exporter with Google ADC.'),
  }),
  graphite: obj('Graphite metrics export.', {
    enabled: bool('Push metrics to Graphite.'),
    host: str('Graphite host.', 'localhost'),
    port: int('Graphite port.', 2003),
    prefix: str('Metric path prefix.', 'centrifugo'),
    interval: dur('Push period.', '10s'),
    tags: bool('Tagged Graphite format.'),
  }),
  usage_stats: obj('Anonymous usage statistics (Gyre never sends them).', {
    disabled: bool('Disable usage statistics.'),
  }),
  node: obj('This node.', {
    name: str('Human-readable node name ("" = <hostname>_<port>).'),
    info_metrics_aggregate_interval: dur('Period of the metrics snapshot in node info.', '60s'),
  }),
  shutdown: obj('Graceful shutdown.', {
    timeout: dur('Hard exit (status 1) if graceful shutdown takes longer.', '30s'),
  }),
  pid_file: str('Write the PID to this file on start, remove it on shutdown.'),
  workers: str(
    'Gyre: worker processes sharing the listening ports ("1" = one process, "0" or "auto" = one per core); more than one needs a broker that spans processes.',
    '1',
    { check: workersCheck },
  ),
  enable_unreleased_features: bool('Gate for experimental features (redisnats broker).'),
};

/** Looks up the spec of a dotted path of plain keys (no array indices); undefined if unknown. */
export function fieldAt(path: string): FieldSpec | undefined {
  let fields: Fields | undefined = CONFIG_SCHEMA;
  let spec: FieldSpec | undefined;
  for (const key of path.split('.')) {
    if (fields === undefined || !Object.hasOwn(fields, key)) return undefined;
    spec = fields[key];
    fields = spec?.kind === 'object' ? spec.fields : undefined;
  }
  return spec;
}
