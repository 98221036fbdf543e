/**
 * Typed shape of a loaded Gyre configuration: the Centrifugo v6 tree with the file's own
 * snake_case keys. Every key is present after loading (defaults applied); durations are
 * numbers of milliseconds; the whole object is deep-frozen at runtime. (Array types are
 * written mutable only so the config fits other folders' option types; never mutate them.)
 */

/** [TLS] block. PEM fields hold raw PEM, base64 PEM or a file path, as written. */
export interface TlsConfig {
  readonly enabled: boolean;
  readonly cert_pem: string;
  readonly key_pem: string;
  readonly server_ca_pem: string;
  readonly client_ca_pem: string;
  readonly insecure_skip_verify: boolean;
  readonly server_name: string;
}

/** [REDIS] connection keys. */
export interface RedisConnectionConfig {
  readonly address: string[];
  readonly connect_timeout: number;
  readonly io_timeout: number;
  readonly db: number;
  readonly user: string;
  readonly password: string;
  readonly client_name: string;
  readonly force_resp2: boolean;
  readonly cluster_address: string[];
  readonly tls: TlsConfig;
  readonly sentinel_address: string[];
  readonly sentinel_user: string;
  readonly sentinel_password: string;
  readonly sentinel_master_name: string;
  readonly sentinel_client_name: string;
  readonly sentinel_tls: TlsConfig;
  readonly replica_client: { readonly enabled: boolean };
}

/** [REDIS] with key prefix. */
export interface RedisPrefixedConfig extends RedisConnectionConfig {
  readonly prefix: string;
}

/** Redis broker. */
export interface RedisBrokerConfig extends RedisPrefixedConfig {
  readonly history_use_lists: boolean;
}

/** Redis presence manager. */
export interface RedisPresenceConfig extends RedisPrefixedConfig {
  readonly presence_ttl: number;
  readonly presence_hash_field_ttl: boolean;
  readonly presence_user_mapping: boolean;
}

/** Redis engine = broker + presence keys. */
export interface RedisEngineConfig extends RedisBrokerConfig, RedisPresenceConfig {}

/** Redis map broker. */
export interface RedisMapBrokerConfig extends RedisPrefixedConfig {
  readonly cleanup_interval: number;
  readonly cleanup_batch_size: number;
  readonly idempotent_result_ttl: number;
  readonly skip_pub_sub: boolean;
}

/** [NATS] block. */
export interface NatsBrokerConfig {
  readonly prefix: string;
  readonly url: string;
  readonly dial_timeout: number;
  readonly write_timeout: number;
  readonly tls: TlsConfig;
  readonly allow_wildcards: boolean;
  readonly raw_mode: {
    readonly enabled: boolean;
    readonly channel_replacements: Readonly<Record<string, string>>;
    readonly prefix: string;
  };
}

/** [PG] block (stream broker). */
export interface PostgresBrokerConfig {
  readonly dsn: string;
  readonly tls: TlsConfig;
  readonly pool_size: number;
  readonly num_shards: number;
  readonly cleanup_interval: number;
  readonly idempotent_result_ttl: number;
  readonly binary_data: boolean;
  readonly stream_retention: number;
  readonly use_notify: boolean;
  readonly notify_dsn: string;
  readonly table_prefix: string;
  readonly skip_schema_init: boolean;
  readonly outbox: { readonly poll_interval: number; readonly batch_size: number };
  readonly partition_lookahead_days: number;
  readonly partition_retention_days: number;
}

/** [PG] block of the map broker. */
export interface PostgresMapBrokerConfig extends PostgresBrokerConfig {
  readonly ttl_check_interval: number;
}

/** One HTTP status → protocol error/disconnect transform. */
export interface StatusToCodeTransform {
  readonly status_code: number;
  readonly to_error: { readonly code: number; readonly message: string; readonly temporary: boolean };
  readonly to_disconnect: { readonly code: number; readonly reason: string };
}

/** [PROXY] block. */
export interface ProxyConfig {
  readonly endpoint: string;
  readonly timeout: number;
  readonly http_headers: string[];
  readonly grpc_metadata: string[];
  readonly emulated_headers: string[];
  readonly binary_encoding: boolean;
  readonly include_connection_meta: boolean;
  readonly http: {
    readonly tls: TlsConfig;
    readonly static_headers: Readonly<Record<string, string>>;
    readonly status_to_code_transforms: StatusToCodeTransform[];
  };
  readonly grpc: {
    readonly tls: TlsConfig;
    readonly credentials_key: string;
    readonly credentials_value: string;
    readonly compression: boolean;
    readonly static_metadata: Readonly<Record<string, string>>;
  };
}

/** A proxy with an on/off switch (client.proxy.connect / refresh). */
export interface SwitchableProxyConfig extends ProxyConfig {
  readonly enabled: boolean;
}

/** Item of `proxies`. */
export interface NamedProxyConfig extends ProxyConfig {
  readonly name: string;
}

/** Token verification block (client.token). */
export interface TokenConfig {
  readonly hmac_secret_key: string;
  readonly hmac_previous_secret_key: string;
  readonly hmac_previous_secret_key_valid_until: number;
  readonly rsa_public_key: string;
  readonly ecdsa_public_key: string;
  readonly jwks_public_endpoint: string;
  readonly audience: string;
  readonly audience_regex: string;
  readonly issuer: string;
  readonly issuer_regex: string;
  readonly user_id_claim: string;
  readonly insecure_skip_jwks_endpoint_safety_check: boolean;
}

/** client.subscription_token. */
export interface SubscriptionTokenConfig extends TokenConfig {
  readonly enabled: boolean;
}

/** A connect-code → disconnect transform for uni transports. */
export interface UniDisconnectTransform {
  readonly code: number;
  readonly to: { readonly code: number; readonly reason: string };
}

/** `client` section. */
export interface ClientConfig {
  readonly proxy: { readonly connect: SwitchableProxyConfig; readonly refresh: SwitchableProxyConfig; readonly disconnect: SwitchableProxyConfig };
  readonly allowed_origins: string[];
  readonly token: TokenConfig;
  readonly subscription_token: SubscriptionTokenConfig;
  readonly allow_anonymous_connect_without_token: boolean;
  readonly disallow_anonymous_connection_tokens: boolean;
  readonly ping_interval: number;
  readonly pong_timeout: number;
  readonly expired_close_delay: number;
  readonly expired_sub_close_delay: number;
  readonly stale_close_delay: number;
  readonly channel_limit: number;
  readonly queue_max_size: number;
  readonly presence_update_interval: number;
  readonly concurrency: number;
  readonly channel_position_check_delay: number;
  readonly channel_position_max_time_lag: number;
  readonly connection_limit: number;
  readonly user_connection_limit: number;
  readonly connection_rate_limit: number;
  readonly connect_include_server_time: boolean;
  readonly history_max_publication_limit: number;
  readonly recovery_max_publication_limit: number;
  readonly insecure_skip_token_signature_verify: boolean;
  readonly user_id_http_header: string;
  readonly insecure: boolean;
  readonly subscribe_to_user_personal_channel: {
    readonly enabled: boolean;
    readonly personal_channel_namespace: string;
    readonly single_connection: boolean;
  };
  readonly connect_code_to_unidirectional_disconnect: {
    readonly enabled: boolean;
    readonly transforms: UniDisconnectTransform[];
  };
}

/** Map subscription options of a namespace. */
export interface MapOptionsConfig {
  readonly mode: '' | 'ephemeral' | 'recoverable' | 'persistent' | (string & {});
  readonly key_ttl: number;
  readonly stream_size: number;
  readonly stream_ttl: number;
  readonly meta_ttl: number;
  readonly remove_client_on_unsubscribe: boolean;
  readonly client_key: string;
  readonly allow_publish_for_client: boolean;
  readonly allow_publish_for_subscriber: boolean;
  readonly allow_publish_for_anonymous: boolean;
  readonly allow_remove_for_client: boolean;
  readonly allow_remove_for_subscriber: boolean;
  readonly allow_remove_for_anonymous: boolean;
  readonly publish_proxy_enabled: boolean;
  readonly publish_proxy_name: string;
  readonly remove_proxy_enabled: boolean;
  readonly remove_proxy_name: string;
  readonly default_page_size: number;
  readonly min_page_size: number;
  readonly max_page_size: number;
  readonly live_transition_max_publication_limit: number;
  readonly subscribe_catch_up_timeout: number;
}

/** Shared-poll options of a namespace. */
export interface SharedPollOptionsConfig {
  readonly proxy_name: string;
  readonly refresh_interval: number;
  readonly refresh_batch_size: number;
  readonly max_keys_per_connection: number;
  readonly mode: string;
  readonly channel_shutdown_delay: number;
  readonly track_expired_extra_delay: number;
  readonly publish_enabled: boolean;
}

/** Options of a channel namespace (and of channel.without_namespace). Durations in ms. */
export interface ChannelOptionsConfig {
  readonly presence: boolean;
  readonly join_leave: boolean;
  readonly force_push_join_leave: boolean;
  readonly map_clients_presence_channel_prefix: string;
  readonly map_users_presence_channel_prefix: string;
  readonly history_size: number;
  readonly history_ttl: number;
  /** 0 means "use channel.history_meta_ttl". */
  readonly history_meta_ttl: number;
  readonly force_positioning: boolean;
  readonly allow_positioning: boolean;
  readonly force_recovery: boolean;
  readonly allow_recovery: boolean;
  readonly force_recovery_mode: '' | 'stream' | 'cache' | (string & {});
  readonly auto_cache_recover: boolean;
  readonly allowed_delta_types: string[];
  readonly allow_tags_filter: boolean;
  readonly delta_publish: boolean;
  readonly allow_subscribe_for_anonymous: boolean;
  readonly allow_subscribe_for_client: boolean;
  readonly allow_publish_for_anonymous: boolean;
  readonly allow_publish_for_subscriber: boolean;
  readonly allow_publish_for_client: boolean;
  readonly allow_presence_for_anonymous: boolean;
  readonly allow_presence_for_subscriber: boolean;
  readonly allow_presence_for_client: boolean;
  readonly allow_history_for_anonymous: boolean;
  readonly allow_history_for_subscriber: boolean;
  readonly allow_history_for_client: boolean;
  readonly allow_user_limited_channels: boolean;
  readonly channel_regex: string;
  readonly publication_data_format: '' | 'json' | 'json_object' | 'binary' | (string & {});
  readonly subscribe_proxy_enabled: boolean;
  readonly subscribe_proxy_name: string;
  readonly publish_proxy_enabled: boolean;
  readonly publish_proxy_name: string;
  readonly sub_refresh_proxy_enabled: boolean;
  readonly sub_refresh_proxy_name: string;
  readonly subscribe_stream_proxy_enabled: boolean;
  readonly subscribe_stream_proxy_name: string;
  readonly subscribe_stream_proxy_bidirectional: boolean;
  readonly state_proxy_enabled: boolean;
  readonly state_proxy_name: string;
  readonly unsubscribe_proxy_enabled: boolean;
  readonly unsubscribe_proxy_name: string;
  readonly subscription_type: '' | 'stream' | 'map' | 'map_clients' | 'map_users' | 'shared_poll' | (string & {});
  readonly map: MapOptionsConfig;
  readonly shared_poll: SharedPollOptionsConfig;
}

/** Item of channel.namespaces. */
export interface NamespaceConfig extends ChannelOptionsConfig {
  readonly name: string;
}

/** `channel` section. */
export interface ChannelConfig {
  readonly proxy: {
    readonly subscribe: ProxyConfig;
    readonly publish: ProxyConfig;
    readonly sub_refresh: ProxyConfig;
    readonly subscribe_stream: ProxyConfig;
    readonly map_publish: ProxyConfig;
    readonly map_remove: ProxyConfig;
    readonly shared_poll_refresh: ProxyConfig;
    readonly state: ProxyConfig;
    readonly unsubscribe: ProxyConfig;
  };
  readonly without_namespace: ChannelOptionsConfig;
  readonly namespaces: NamespaceConfig[];
  readonly history_meta_ttl: number;
  readonly publication_data_format: string;
  readonly max_length: number;
  readonly private_prefix: string;
  readonly namespace_boundary: string;
  readonly user_boundary: string;
  readonly user_separator: string;
  readonly client_channel_boundary: string;
}

/** RPC namespace options. */
export interface RpcOptionsConfig {
  readonly proxy_enabled: boolean;
  readonly proxy_name: string;
}

/** `rpc` section. */
export interface RpcConfig {
  readonly proxy: ProxyConfig;
  readonly without_namespace: RpcOptionsConfig;
  readonly namespaces: (RpcOptionsConfig & { readonly name: string })[];
  readonly ping: { readonly enabled: boolean; readonly method: string };
  readonly namespace_boundary: string;
}

/** `http_server` section. */
export interface HttpServerConfig {
  readonly address: string;
  readonly port: number;
  readonly internal_address: string;
  readonly internal_port: string;
  readonly tls: TlsConfig;
  readonly tls_autocert: {
    readonly enabled: boolean;
    readonly host_whitelist: string[];
    readonly cache_dir: string;
    readonly email: string;
    readonly server_name: string;
    readonly http: boolean;
    readonly http_addr: string;
    /** Gyre: ACME directory URL ("" = Let's Encrypt production). */
    readonly acme_directory_url: string;
    /** Gyre: CA bundle file trusted for the ACME server's own HTTPS endpoint. */
    readonly acme_ca_file: string;
  };
  readonly tls_external: boolean;
  readonly internal_tls: TlsConfig;
  readonly http3: { readonly enabled: boolean };
  readonly h2c_external: boolean;
}

/** `log` section. `level` is lower-cased and one of the known levels. */
export interface LogConfig {
  readonly level: 'none' | 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | (string & {});
  readonly file: string;
}

/** `engine` section. */
export interface EngineConfig {
  readonly type: 'memory' | 'redis' | (string & {});
  readonly redis: RedisEngineConfig & { readonly channel_state: { readonly vacated_event_delay: number } };
}

/** `broker` section. */
export interface BrokerConfig {
  readonly enabled: boolean;
  readonly type: 'memory' | 'redis' | 'nats' | 'postgres' | 'redisnats' | (string & {});
  readonly redis: RedisBrokerConfig;
  readonly nats: NatsBrokerConfig;
  readonly postgres: PostgresBrokerConfig;
  readonly redisnats: { readonly redis: RedisBrokerConfig; readonly nats: NatsBrokerConfig };
}

/** `presence_manager` section. */
export interface PresenceManagerConfig {
  readonly enabled: boolean;
  readonly type: 'memory' | 'redis' | (string & {});
  readonly redis: RedisPresenceConfig;
}

/** `map_broker` section. */
export interface MapBrokerConfig {
  readonly type: 'memory' | 'redis' | 'postgres' | (string & {});
  readonly redis: RedisMapBrokerConfig;
  readonly postgres: PostgresMapBrokerConfig;
}

/** `http_api` section. */
export interface HttpApiConfig {
  readonly disabled: boolean;
  readonly handler_prefix: string;
  readonly key: string;
  readonly error_mode: '' | 'transport' | (string & {});
  readonly external: boolean;
  readonly insecure: boolean;
}

/** `grpc_api` section. */
export interface GrpcApiConfig {
  readonly enabled: boolean;
  readonly error_mode: string;
  readonly address: string;
  readonly port: number;
  readonly key: string;
  readonly tls: TlsConfig;
  readonly reflection: boolean;
  readonly max_receive_message_size: number;
}

/** WebSocket tuning keys shared by websocket and uni_websocket. */
export interface WebSocketTuningConfig {
  readonly compression: boolean;
  readonly compression_min_size: number;
  readonly compression_level: number;
  readonly read_buffer_size: number;
  readonly use_write_buffer_pool: boolean;
  readonly write_buffer_size: number;
  readonly write_timeout: number;
  readonly message_size_limit: number;
  readonly decompressed_message_size_limit: number;
}

/** `websocket` section. */
export interface WebSocketConfig extends WebSocketTuningConfig {
  readonly disabled: boolean;
  readonly handler_prefix: string;
}

/** An endpoint with enabled + handler_prefix. */
export interface EndpointConfig {
  readonly enabled: boolean;
  readonly handler_prefix: string;
}

/** sse / http_stream sections. */
export interface StreamTransportConfig extends EndpointConfig {
  readonly max_request_body_size: number;
}

/** connect_code_to_http_response of uni_sse / uni_http_stream. */
export interface ConnectCodeToHttpResponseConfig {
  readonly enabled: boolean;
  readonly transforms: {
    readonly code: number;
    readonly to: { readonly status_code: number; readonly body: string };
  }[];
}

/** uni_sse / uni_http_stream sections. */
export interface UniStreamTransportConfig extends StreamTransportConfig {
  readonly connect_code_to_http_response: ConnectCodeToHttpResponseConfig;
}

/** `uni_websocket` section. */
export interface UniWebSocketConfig extends EndpointConfig, WebSocketTuningConfig {
  readonly disable_closing_handshake: boolean;
  readonly disable_disconnect_push: boolean;
  readonly join_push_messages: boolean;
}

/** `sockjs` section (durations in ms). */
export interface SockJsConfig extends EndpointConfig {
  readonly url: string;
  readonly heartbeat_delay: number;
  readonly disconnect_delay: number;
}

/** `uni_grpc` section. */
export interface UniGrpcConfig {
  readonly enabled: boolean;
  readonly address: string;
  readonly port: number;
  readonly max_receive_message_size: number;
  readonly tls: TlsConfig;
}

/** `emulation` section. */
export interface EmulationConfig {
  readonly handler_prefix: string;
  readonly max_request_body_size: number;
}

/** `webtransport` section. */
export interface WebTransportConfig extends EndpointConfig {
  readonly message_size_limit: number;
}

/** `admin` section. */
export interface AdminConfig {
  readonly enabled: boolean;
  readonly handler_prefix: string;
  readonly password: string;
  readonly secret: string;
  readonly insecure: boolean;
  readonly web_path: string;
  readonly web_proxy_address: string;
  readonly external: boolean;
}

/** `prometheus` section. */
export interface PrometheusConfig extends EndpointConfig {
  readonly instrument_http_handlers: boolean;
  readonly recovered_publications_histogram: boolean;
  readonly native_histograms: boolean;
}

/** `node` section. */
export interface NodeConfig {
  readonly name: string;
  readonly info_metrics_aggregate_interval: number;
}

/** `shutdown` section. */
export interface ShutdownConfig {
  readonly timeout: number;
}

/** Item of `consumers` (type-specific sub-objects typed loosely). */
export interface ConsumerConfig {
  readonly name: string;
  readonly enabled: boolean;
  readonly type: string;
  readonly postgresql: Readonly<Record<string, unknown>>;
  readonly kafka: Readonly<Record<string, unknown>>;
  readonly nats_jetstream: Readonly<Record<string, unknown>>;
  readonly redis_stream: Readonly<Record<string, unknown>>;
  readonly google_pub_sub: Readonly<Record<string, unknown>>;
  readonly aws_sqs: Readonly<Record<string, unknown>>;
  readonly azure_service_bus: Readonly<Record<string, unknown>>;
  readonly rabbitmq: Readonly<Record<string, unknown>>;
}

type Loose = Readonly<Record<string, unknown>>;

/** The whole loaded configuration. */
export interface GyreConfig {
  readonly http_server: HttpServerConfig;
  readonly log: LogConfig;
  readonly engine: EngineConfig;
  readonly channel_state: { readonly vacated_event_delay: number };
  readonly broker: BrokerConfig;
  readonly presence_manager: PresenceManagerConfig;
  readonly map_broker: MapBrokerConfig;
  readonly controller: Loose & { readonly enabled: boolean; readonly type: string };
  readonly shared_poll: {
    readonly hmac_secret_key: string;
    readonly hmac_previous_secret_key: string;
    readonly hmac_previous_secret_key_valid_until: number;
    readonly concurrency_limit: number;
  };
  readonly client: ClientConfig;
  readonly channel: ChannelConfig;
  readonly rpc: RpcConfig;
  readonly proxies: NamedProxyConfig[];
  readonly http_api: HttpApiConfig;
  readonly grpc_api: GrpcApiConfig;
  readonly consumers: ConsumerConfig[];
  readonly websocket: WebSocketConfig;
  readonly sse: StreamTransportConfig;
  readonly http_stream: StreamTransportConfig;
  readonly webtransport: WebTransportConfig;
  readonly uni_sse: UniStreamTransportConfig;
  readonly uni_http_stream: UniStreamTransportConfig;
  readonly uni_websocket: UniWebSocketConfig;
  readonly uni_grpc: UniGrpcConfig;
  readonly sockjs: SockJsConfig;
  readonly emulation: EmulationConfig;
  readonly admin: AdminConfig;
  readonly prometheus: PrometheusConfig;
  readonly health: EndpointConfig;
  readonly swagger: EndpointConfig;
  readonly debug: EndpointConfig;
  readonly init: EndpointConfig;
  readonly opentelemetry: {
    readonly enabled: boolean;
    readonly api: boolean;
    readonly consuming: boolean;
    readonly google_cloud_adc_auth: boolean;
  };
  readonly graphite: {
    readonly enabled: boolean;
    readonly host: string;
    readonly port: number;
    readonly prefix: string;
    readonly interval: number;
    readonly tags: boolean;
  };
  readonly usage_stats: { readonly disabled: boolean };
  readonly node: NodeConfig;
  readonly shutdown: ShutdownConfig;
  readonly pid_file: string;
  /** Gyre: "1" (one process), a number of worker processes, or "auto"/"0" (one per core). */
  readonly workers: string;
  readonly enable_unreleased_features: boolean;
}
