/**
 * Hints for config keys the schema does not know: the closest known key of the same object
 * ("did you mean"), and where a Centrifugo v5 flat key lives in the v6 tree.
 */
import { CHANNEL_OPTIONS } from './schema-blocks.js';
import type { FieldSpec, Fields } from './schema-dsl.js';
import { CONFIG_SCHEMA, fieldAt } from './schema.js';

/** Top-level v5 keys whose v6 place no prefix rule below finds. */
const V5_KEYS: Readonly<Record<string, string>> = {
  name: 'node.name',
  engine: 'engine.type',
  address: 'http_server.address',
  port: 'http_server.port',
  internal_address: 'http_server.internal_address',
  internal_port: 'http_server.internal_port',
  tls_external: 'http_server.tls_external',
  allowed_origins: 'client.allowed_origins',
  ping_interval: 'client.ping_interval',
  pong_timeout: 'client.pong_timeout',
  allow_anonymous_connect_without_token: 'client.allow_anonymous_connect_without_token',
  disallow_anonymous_connection_tokens: 'client.disallow_anonymous_connection_tokens',
  separate_subscription_token_config: 'client.subscription_token.enabled',
  user_subscribe_to_personal: 'client.subscribe_to_user_personal_channel.enabled',
  user_personal_channel_namespace: 'client.subscribe_to_user_personal_channel.personal_channel_namespace',
  user_personal_single_connection: 'client.subscribe_to_user_personal_channel.single_connection',
  namespaces: 'channel.namespaces',
  global_history_meta_ttl: 'channel.history_meta_ttl',
  rpc_namespaces: 'rpc.namespaces',
  rpc_ping: 'rpc.ping.enabled',
  rpc_ping_method: 'rpc.ping.method',
  api_key: 'http_api.key',
  api_insecure: 'http_api.insecure',
  api_external: 'http_api.external',
  api_disable: 'http_api.disabled',
  api_handler_prefix: 'http_api.handler_prefix',
  api_error_mode: 'http_api.error_mode',
  websocket_disable: 'websocket.disabled',
  usage_stats_disable: 'usage_stats.disabled',
  shutdown_timeout: 'shutdown.timeout',
  node_info_metrics_aggregate_interval: 'node.info_metrics_aggregate_interval',
  redis_use_lists: 'engine.redis.history_use_lists',
  global_presence_ttl: 'engine.redis.presence_ttl',
  proxy_connect_endpoint: 'client.proxy.connect.endpoint',
  proxy_connect_timeout: 'client.proxy.connect.timeout',
  proxy_refresh_endpoint: 'client.proxy.refresh.endpoint',
  proxy_refresh_timeout: 'client.proxy.refresh.timeout',
  proxy_subscribe_endpoint: 'channel.proxy.subscribe.endpoint',
  proxy_subscribe_timeout: 'channel.proxy.subscribe.timeout',
  proxy_publish_endpoint: 'channel.proxy.publish.endpoint',
  proxy_publish_timeout: 'channel.proxy.publish.timeout',
  proxy_sub_refresh_endpoint: 'channel.proxy.sub_refresh.endpoint',
  proxy_sub_refresh_timeout: 'channel.proxy.sub_refresh.timeout',
  proxy_rpc_endpoint: 'rpc.proxy.endpoint',
  proxy_rpc_timeout: 'rpc.proxy.timeout',
  proxy_subscribe: 'channel.without_namespace.subscribe_proxy_enabled',
  proxy_publish: 'channel.without_namespace.publish_proxy_enabled',
  proxy_sub_refresh: 'channel.without_namespace.sub_refresh_proxy_enabled',
  proxy_subscribe_stream: 'channel.without_namespace.subscribe_stream_proxy_enabled',
  tls: 'http_server.tls.enabled',
  tls_cert: 'http_server.tls.cert_pem',
  tls_key: 'http_server.tls.key_pem',
  http3: 'http_server.http3.enabled',
};

/** v5 key prefixes and the v6 group the rest of the key moved under (first match wins). */
const V5_PREFIXES: readonly (readonly [string, string])[] = [
  ['subscription_token_', 'client.subscription_token'],
  ['token_', 'client.token'],
  ['client_', 'client'],
  ['redis_', 'engine.redis'],
  ['nats_', 'broker.nats'],
  ['tls_autocert_', 'http_server.tls_autocert'],
  ['uni_websocket_', 'uni_websocket'],
  ['uni_http_stream_', 'uni_http_stream'],
  ['uni_sse_', 'uni_sse'],
  ['uni_grpc_', 'uni_grpc'],
  ['http_stream_', 'http_stream'],
  ['websocket_', 'websocket'],
  ['sse_', 'sse'],
  ['grpc_api_', 'grpc_api'],
  ['admin_', 'admin'],
  ['log_', 'log'],
  ['channel_', 'channel'],
  ['rpc_', 'rpc'],
  ['emulation_', 'emulation'],
  ['prometheus_', 'prometheus'],
  ['health_', 'health'],
  ['swagger_', 'swagger'],
  ['graphite_', 'graphite'],
  ['opentelemetry_', 'opentelemetry'],
];

/**
 * The v6 path of a top-level Centrifugo v5 key (`token_hmac_secret_key` →
 * `client.token.hmac_secret_key`), or undefined when the key is not a known v5 one.
 */
export function v5KeyTarget(key: string): string | undefined {
  const explicit = V5_KEYS[key];
  if (explicit !== undefined) return explicit;
  for (const [prefix, group] of V5_PREFIXES) {
    if (!key.startsWith(prefix)) continue;
    const target = `${group}.${key.slice(prefix.length)}`;
    if (fieldAt(target) !== undefined) return target;
  }
  // Channel options lived at the top level in v5 and applied to channels without namespace.
  if (Object.hasOwn(CHANNEL_OPTIONS, key)) return `channel.without_namespace.${key}`;
  return undefined;
}

/**
 * For a top-level v6 group given a scalar (v5's `"admin": true`), where the switch now
 * lives (`admin.enabled`); undefined otherwise.
 */
export function v5SwitchTarget(key: string, raw: unknown): string | undefined {
  if (typeof raw !== 'boolean' && typeof raw !== 'string' && typeof raw !== 'number') return undefined;
  const spec = Object.hasOwn(CONFIG_SCHEMA, key) ? CONFIG_SCHEMA[key] : undefined;
  if (spec?.kind !== 'object' || spec.fields?.enabled?.kind !== 'bool') return undefined;
  return `${key}.enabled`;
}

/** Optimal string alignment distance: edits, with a swap of two neighbours counting as one. */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const prev = rows[i - 1] ?? [];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, (rows[i - 2]?.[j - 2] ?? 0) + 1);
      row.push(d);
    }
    rows.push(row);
  }
  return rows[a.length]?.[b.length] ?? 0;
}

/**
 * The closest of `candidates` to `key` within a small edit distance; failing that, the
 * shortest candidate that starts with `key` or that `key` starts with (5 characters at
 * least: `hmac_secret` → `hmac_secret_key`). Undefined when none is near.
 */
export function closestKey(key: string, candidates: Iterable<string>): string | undefined {
  const limit = key.length <= 4 ? 1 : key.length <= 12 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = limit + 1;
  let prefixed: string | undefined;
  for (const c of candidates) {
    const d = editDistance(key, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
    const shorter = Math.min(c.length, key.length);
    if (shorter >= 5 && (c.startsWith(key) || key.startsWith(c)) && (prefixed === undefined || c.length < prefixed.length)) prefixed = c;
  }
  return best ?? prefixed;
}

/** The fields of the object holding the last key of a dotted path (indices ignored). */
function parentFields(segments: readonly string[]): Fields | undefined {
  let fields: Fields | undefined = CONFIG_SCHEMA;
  for (const segment of segments) {
    const key = segment.replace(/\[\d+\]$/, '');
    const spec: FieldSpec | undefined = fields !== undefined && Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (spec === undefined || (spec.kind !== 'object' && spec.kind !== 'object[]')) return undefined;
    fields = spec.fields;
  }
  return fields;
}

/** Dotted paths (arrays as `[]`) where a key of this name exists, at most `limit`. */
function placesOf(name: string, limit: number): string[] {
  const out: string[] = [];
  const walk = (fields: Fields, path: string): void => {
    for (const [key, spec] of Object.entries(fields)) {
      if (out.length >= limit) return;
      const p = path === '' ? key : `${path}.${key}`;
      if (key === name) out.push(p);
      if (spec.kind === 'object') walk(spec.fields ?? {}, p);
      if (spec.kind === 'object[]') walk(spec.fields ?? {}, `${p}[]`);
    }
  };
  walk(CONFIG_SCHEMA, '');
  return out;
}

/**
 * A one-line hint for an unknown key given by its dotted path (as loading reports it):
 * the v6 place of a v5 top-level key, else the closest sibling key, else where a key of
 * that name does exist. Undefined when nothing useful can be said.
 */
export function unknownKeyHint(path: string): string | undefined {
  const segments = path.split('.');
  const key = segments.pop() ?? '';
  if (segments.length === 0) {
    const target = v5KeyTarget(key);
    if (target !== undefined) return `Centrifugo v5 key: in v6 it moved to "${target}"`;
  }
  const fields = parentFields(segments);
  if (fields !== undefined) {
    const near = closestKey(key, Object.keys(fields));
    if (near !== undefined) return `did you mean "${near}"?`;
  }
  const places = placesOf(key, 3);
  if (places.length > 0) return `a key of this name exists at ${places.map((p) => `"${p}"`).join(', ')}`;
  return undefined;
}
