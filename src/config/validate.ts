import { ConfigError, throwConfigProblems } from './config-error.js';
import { compileGoRegex } from './go-regex.js';
import { CLAIM_PATTERN, NAME_PATTERN } from './schema-blocks.js';
import { CONSUMER_NAME_PATTERN, CONSUMER_TYPES } from './schema-consumers.js';
import type { Fields } from './schema-dsl.js';
import { CONFIG_SCHEMA } from './schema.js';
import type {
  ChannelOptionsConfig,
  ConnectCodeToHttpResponseConfig,
  GyreConfig,
  ProxyConfig,
  StatusToCodeTransform,
  TokenConfig,
} from './types.js';
import { isPlainObject, joinPath, type Tree } from './values.js';
import { workersProblems } from './workers.js';

const DEFAULT_PROXY = 'default';
const MAX_REASON = 123; // WebSocket close reason limit.

/**
 * Problems found by the running validateConfig call. Validation is synchronous and not
 * reentrant, so one module-level list serves every helper without threading it through.
 */
let problems: ConfigError[] = [];

/** Records one problem at `path` (the first per path: later rules would repeat it) and lets validation go on. */
function report(path: string, message: string): void {
  if (problems.some((p) => p.path === path)) return;
  problems.push(new ConfigError(path, message));
}

function isAscii(s: string): boolean {
  return /^[\x00-\x7f]*$/.test(s);
}

/** Per-key checks declared in the schema: choices, patterns, custom checks. */
function validateFields(fields: Fields, value: Tree, path: string): void {
  for (const [key, spec] of Object.entries(fields)) {
    const v = value[key];
    const p = joinPath(path, key);
    if (spec.kind === 'object' && isPlainObject(v)) {
      validateFields(spec.fields ?? {}, v, p);
      continue;
    }
    if (spec.kind === 'object[]' && Array.isArray(v)) {
      v.forEach((item, i) => {
        if (isPlainObject(item)) validateFields(spec.fields ?? {}, item, `${p}[${i}]`);
      });
      continue;
    }
    if (typeof v === 'string') {
      if (spec.choices !== undefined && !spec.choices.includes(v)) {
        const allowed = spec.choices.map((c) => (c === '' ? '""' : c)).join(', ');
        report(p, `invalid value "${v}", must be one of: ${allowed}`);
        continue;
      }
      if (spec.pattern !== undefined && v !== '' && !spec.pattern.test(v)) {
        report(p, `invalid value "${v}", must match ${spec.pattern.source} regular expression`);
      }
    }
    const problem = spec.check?.(v);
    if (problem !== undefined) report(p, problem);
  }
}

function wholeSeconds(ms: number, path: string): void {
  if (ms > 0 && ms % 1000 !== 0) {
    report(path, `malformed duration ${ms}ms, sub-second precision is not supported for this key`);
  }
}

function validateStatusTransforms(list: readonly StatusToCodeTransform[], path: string): void {
  list.forEach((t, i) => {
    const p = `${path}[${i}]`;
    if (t.status_code === 0) report(`${p}.status_code`, 'status_code should be set');
    if (t.to_disconnect.code === 0 && t.to_error.code === 0) report(p, 'no error or disconnect code set');
    if (t.to_disconnect.code > 0 && t.to_error.code > 0) {
      report(p, 'only error or disconnect code can be set, but not both');
    }
    if (!isAscii(t.to_disconnect.reason)) report(`${p}.to_disconnect.reason`, 'disconnect reason must be ASCII');
    if (!isAscii(t.to_error.message)) report(`${p}.to_error.message`, 'error message must be ASCII');
    if (t.to_error.message.length > MAX_REASON) {
      report(`${p}.to_error.message`, `error message can be up to ${MAX_REASON} characters long`);
    }
    if (t.to_disconnect.reason.length > MAX_REASON) {
      report(`${p}.to_disconnect.reason`, `disconnect reason can be up to ${MAX_REASON} characters long`);
    }
  });
}

function validateProxy(p: ProxyConfig, path: string): void {
  if (p.timeout === 0) report(`${path}.timeout`, 'timeout not set');
  if (p.endpoint === '') report(`${path}.endpoint`, 'endpoint not set');
  validateStatusTransforms(p.http.status_to_code_transforms, `${path}.http.status_to_code_transforms`);
}

function validateToken(t: TokenConfig, path: string): void {
  if (t.user_id_claim !== '' && !CLAIM_PATTERN.test(t.user_id_claim)) {
    report(
      `${path}.user_id_claim`,
      `invalid token custom user ID claim: ${t.user_id_claim}, must match ${CLAIM_PATTERN.source} regular expression`,
    );
  }
  if (t.audience !== '' && t.audience_regex !== '') {
    report(`${path}.audience_regex`, 'can not use both audience and audience_regex');
  }
  if (t.issuer !== '' && t.issuer_regex !== '') {
    report(`${path}.issuer_regex`, 'can not use both issuer and issuer_regex');
  }
  for (const key of ['audience_regex', 'issuer_regex'] as const) {
    if (t[key] === '') continue;
    try {
      compileGoRegex(t[key]);
    } catch (err) {
      report(`${path}.${key}`, `invalid regular expression: ${(err as Error).message}`);
    }
  }
}

interface OptionsContext {
  readonly config: GyreConfig;
  readonly proxyNames: ReadonlySet<string>;
}

function checkProxyRef(
  ctx: OptionsContext,
  what: string,
  name: string,
  enabled: boolean,
  defaultProxy: ProxyConfig,
  defaultPath: string,
  path: string,
): void {
  if (name !== '' && !ctx.proxyNames.has(name)) report(path, `${what} proxy with name "${name}" not found`);
  if (enabled && name === DEFAULT_PROXY) validateProxy(defaultProxy, defaultPath);
}

function validateMapOptions(o: ChannelOptionsConfig, path: string): void {
  const m = o.map;
  const mp = `${path}.map`;
  if (m.client_key !== '' && m.publish_proxy_enabled) {
    report(`${mp}.client_key`, 'map.client_key is not compatible with map.publish_proxy_enabled');
  }
  if (m.client_key !== '' && m.remove_proxy_enabled) {
    report(`${mp}.client_key`, 'map.client_key is not compatible with map.remove_proxy_enabled');
  }
  const mapType = ['map', 'map_clients', 'map_users'].includes(o.subscription_type);
  if (mapType && m.mode === '') report(`${mp}.mode`, 'map.mode is required when subscription_type is a map type');
  if (m.mode === 'ephemeral' || m.mode === 'recoverable') {
    if (m.key_ttl === 0) report(`${mp}.key_ttl`, `map.key_ttl is required when map.mode is "${m.mode}"`);
    if (m.key_ttl < 0) report(`${mp}.key_ttl`, 'map.key_ttl must be positive');
  }
  if (m.mode === 'persistent') {
    if (m.key_ttl !== 0) report(`${mp}.key_ttl`, 'map.key_ttl must not be set when map.mode is "persistent"');
    if (o.subscription_type === 'map_clients' || o.subscription_type === 'map_users') {
      report(`${mp}.mode`, `map.mode "persistent" is not allowed with subscription_type "${o.subscription_type}"`);
    }
  }
  if (m.mode === 'ephemeral') {
    if (m.stream_size > 0) report(`${mp}.stream_size`, 'map.stream_size must be 0 for map.mode "ephemeral"');
    if (m.stream_ttl !== 0) report(`${mp}.stream_ttl`, 'map.stream_ttl must be 0 for map.mode "ephemeral"');
    if (m.meta_ttl !== 0) report(`${mp}.meta_ttl`, 'map.meta_ttl must be 0 for map.mode "ephemeral"');
  }
  if (m.mode === 'recoverable' || m.mode === 'persistent') {
    if (m.stream_size < 0) report(`${mp}.stream_size`, 'map.stream_size must be non-negative');
    if (m.stream_ttl < 0) report(`${mp}.stream_ttl`, 'map.stream_ttl must be non-negative');
    if (m.meta_ttl < 0) report(`${mp}.meta_ttl`, 'map.meta_ttl must be non-negative');
    const streamTtl = m.stream_ttl === 0 ? 60_000 : m.stream_ttl;
    if (m.meta_ttl !== 0 && m.meta_ttl < streamTtl) {
      report(`${mp}.meta_ttl`, 'map.meta_ttl must be >= map.stream_ttl (metadata must outlive stream)');
    }
  }
  if (m.remove_client_on_unsubscribe && !mapType) {
    report(`${mp}.remove_client_on_unsubscribe`, 'requires subscription_type to be a map type');
  }
  for (const key of ['min_page_size', 'max_page_size', 'default_page_size'] as const) {
    if (m[key] < 0) report(`${mp}.${key}`, `map.${key} must not be negative`);
  }
  if (m.min_page_size > 0 && m.max_page_size > 0 && m.min_page_size > m.max_page_size) {
    report(`${mp}.min_page_size`, 'map.min_page_size must not exceed map.max_page_size');
  }
  if (m.default_page_size > 0 && m.max_page_size > 0 && m.default_page_size > m.max_page_size) {
    report(`${mp}.default_page_size`, 'map.default_page_size must not exceed map.max_page_size');
  }
  if (m.default_page_size > 0 && m.min_page_size > 0 && m.default_page_size < m.min_page_size) {
    report(`${mp}.default_page_size`, 'map.default_page_size must not be below map.min_page_size');
  }
}

function validatePresencePrefix(ctx: OptionsContext, prefix: string, expected: string, path: string): void {
  const boundary = ctx.config.channel.namespace_boundary === '' ? ':' : ctx.config.channel.namespace_boundary;
  const idx = prefix.indexOf(boundary);
  const ns = idx >= 0 ? prefix.slice(0, idx) : prefix;
  const target = ctx.config.channel.namespaces.find((n) => n.name === ns);
  if (target === undefined) {
    report(path, `"${prefix}" resolves to namespace "${ns}" which does not exist`);
    return;
  }
  if (target.subscription_type !== expected) {
    report(
      path,
      `"${prefix}": target namespace "${ns}" must have subscription_type="${expected}" (got "${target.subscription_type}")`,
    );
  }
}

function validateChannelOptions(o: ChannelOptionsConfig, path: string, ctx: OptionsContext): void {
  const { config } = ctx;
  wholeSeconds(o.history_ttl, `${path}.history_ttl`);
  wholeSeconds(o.history_meta_ttl, `${path}.history_meta_ttl`);
  if ((o.history_size !== 0) !== (o.history_ttl !== 0)) {
    report(`${path}.${o.history_size === 0 ? 'history_size' : 'history_ttl'}`, 'both history size and history ttl required for history');
  }
  const metaTtl = o.history_meta_ttl !== 0 ? o.history_meta_ttl : config.channel.history_meta_ttl;
  if (metaTtl < o.history_ttl) {
    report(`${path}.history_ttl`, 'history ttl can not be greater than history meta ttl');
  }
  if (o.force_recovery && (o.history_size === 0 || o.history_ttl === 0)) {
    report(`${path}.force_recovery`, 'both history size and history ttl required for recovery');
  }
  if (o.auto_cache_recover && (!o.force_recovery || o.force_recovery_mode !== 'cache')) {
    report(`${path}.auto_cache_recover`, 'auto_cache_recover requires force_recovery and force_recovery_mode set to cache');
  }
  if (o.subscribe_stream_proxy_enabled && (o.subscribe_proxy_enabled || o.publish_proxy_enabled || o.sub_refresh_proxy_enabled)) {
    report(
      `${path}.subscribe_stream_proxy_enabled`,
      "can't use subscribe stream proxy together with subscribe, publish or sub refresh proxies",
    );
  }
  o.allowed_delta_types.forEach((t, i) => {
    if (t !== 'fossil') report(`${path}.allowed_delta_types[${i}]`, `unknown allowed delta type: "${t}"`);
  });
  const dp = config.channel.proxy;
  checkProxyRef(ctx, 'subscribe', o.subscribe_proxy_name, o.subscribe_proxy_enabled, dp.subscribe, 'channel.proxy.subscribe', `${path}.subscribe_proxy_name`);
  checkProxyRef(ctx, 'publish', o.publish_proxy_name, o.publish_proxy_enabled, dp.publish, 'channel.proxy.publish', `${path}.publish_proxy_name`);
  checkProxyRef(ctx, 'sub refresh', o.sub_refresh_proxy_name, o.sub_refresh_proxy_enabled, dp.sub_refresh, 'channel.proxy.sub_refresh', `${path}.sub_refresh_proxy_name`);
  checkProxyRef(ctx, 'subscribe stream', o.subscribe_stream_proxy_name, o.subscribe_stream_proxy_enabled, dp.subscribe_stream, 'channel.proxy.subscribe_stream', `${path}.subscribe_stream_proxy_name`);
  checkProxyRef(ctx, 'map publish', o.map.publish_proxy_name, o.map.publish_proxy_enabled, dp.map_publish, 'channel.proxy.map_publish', `${path}.map.publish_proxy_name`);
  checkProxyRef(ctx, 'map remove', o.map.remove_proxy_name, o.map.remove_proxy_enabled, dp.map_remove, 'channel.proxy.map_remove', `${path}.map.remove_proxy_name`);
  checkProxyRef(ctx, 'state', o.state_proxy_name, o.state_proxy_enabled, dp.state, 'channel.proxy.state', `${path}.state_proxy_name`);
  checkProxyRef(ctx, 'unsubscribe', o.unsubscribe_proxy_name, o.unsubscribe_proxy_enabled, dp.unsubscribe, 'channel.proxy.unsubscribe', `${path}.unsubscribe_proxy_name`);
  if (o.state_proxy_enabled && !o.presence) {
    report(`${path}.state_proxy_enabled`, 'channel state events need presence enabled in the same namespace');
  }
  if (o.subscription_type === 'shared_poll') {
    const sp = o.shared_poll;
    if (config.shared_poll.hmac_secret_key === '') {
      report('shared_poll.hmac_secret_key', `required when ${path}.subscription_type is "shared_poll"`);
    }
    const name = sp.proxy_name === '' ? DEFAULT_PROXY : sp.proxy_name;
    checkProxyRef(ctx, 'shared poll', name, true, dp.shared_poll_refresh, 'channel.proxy.shared_poll_refresh', `${path}.shared_poll.proxy_name`);
    if (sp.publish_enabled && sp.mode !== 'versioned') {
      report(`${path}.shared_poll.publish_enabled`, 'publish_enabled requires shared_poll mode "versioned"');
    }
  }
  validateMapOptions(o, path);
  if (o.map_clients_presence_channel_prefix !== '') {
    validatePresencePrefix(ctx, o.map_clients_presence_channel_prefix, 'map_clients', `${path}.map_clients_presence_channel_prefix`);
  }
  if (o.map_users_presence_channel_prefix !== '') {
    validatePresencePrefix(ctx, o.map_users_presence_channel_prefix, 'map_users', `${path}.map_users_presence_channel_prefix`);
  }
}

function validateNamedList(names: readonly string[], path: string, pattern: RegExp, what: string): void {
  const seen = new Set<string>();
  names.forEach((name, i) => {
    const p = `${path}[${i}].name`;
    if (!pattern.test(name)) {
      report(p, `invalid ${what} name "${name}" (must match ${pattern.source} regular expression)`);
    }
    if (seen.has(name)) report(p, `${what} name must be unique: ${name}`);
    seen.add(name);
  });
}

function required(cond: boolean, path: string, message: string): void {
  if (!cond) report(path, message);
}

function validateConsumers(config: GyreConfig): void {
  validateNamedList(
    config.consumers.map((c) => c.name),
    'consumers',
    CONSUMER_NAME_PATTERN,
    'consumer',
  );
  config.consumers.forEach((c, i) => {
    const p = `consumers[${i}]`;
    if (!(CONSUMER_TYPES as readonly string[]).includes(c.type)) {
      report(`${p}.type`, `unknown consumer type: "${c.type}"`);
      return;
    }
    if (!c.enabled) return;
    const sub = c[c.type as (typeof CONSUMER_TYPES)[number]] as Record<string, unknown>;
    const sp = `${p}.${c.type}`;
    const has = (k: string): boolean => {
      const v = sub[k];
      return Array.isArray(v) ? v.length > 0 : v !== '' && v !== undefined;
    };
    const need = (...keys: string[]): void => {
      for (const k of keys) required(has(k), `${sp}.${k}`, `${k} is required`);
    };
    const mode = sub.publication_data_mode as Record<string, unknown> | undefined;
    switch (c.type) {
      case 'postgresql':
        need('dsn', 'outbox_table_name');
        break;
      case 'kafka':
        need('brokers', 'topics', 'consumer_group');
        if (has('assume_role_arn') && sub.sasl_mechanism !== 'aws-msk-iam') {
          report(`${sp}.assume_role_arn`, 'assume_role_arn requires sasl_mechanism aws-msk-iam');
        }
        break;
      case 'nats_jetstream':
        need('url', 'stream_name', 'durable_consumer_name');
        if (sub.use_existing_consumer !== true && sub.deliver_policy !== 'new' && sub.deliver_policy !== 'all') {
          report(`${sp}.deliver_policy`, "deliver_policy must be either 'new' or 'all'");
        }
        break;
      case 'redis_stream':
        need('address', 'streams', 'consumer_group');
        break;
      case 'google_pub_sub':
        need('project_id', 'subscriptions');
        break;
      case 'aws_sqs':
        need('queues');
        break;
      case 'azure_service_bus':
        if (sub.use_azure_identity === true) need('fully_qualified_namespace', 'tenant_id', 'client_id', 'client_secret');
        else need('connection_string');
        need('queues');
        break;
      case 'rabbitmq':
        need('url', 'queue');
        break;
    }
    if (mode?.enabled === true) {
      const key = Object.keys(mode).find((k) => k.startsWith('channels_'));
      if (key !== undefined && mode[key] === '') report(`${sp}.publication_data_mode.${key}`, `${key} is required`);
    }
  });
}

function validateConnectCodeTransforms(t: ConnectCodeToHttpResponseConfig, path: string): void {
  t.transforms.forEach((item, i) => {
    const p = `${path}.transforms[${i}]`;
    if (item.code === 0) report(`${p}.code`, 'code should be set');
    if (item.to.status_code === 0) report(`${p}.to.status_code`, 'status_code should be set');
  });
}

/**
 * Validates a complete (defaults applied) configuration, per server.md §1.6.16, and returns
 * every problem found (each a ConfigError naming its path), in config tree order; empty when
 * the configuration is valid.
 */
export function configProblemsOf(config: GyreConfig): ConfigError[] {
  problems = [];
  try {
    validateAll(config);
    return problems;
  } finally {
    problems = [];
  }
}

/**
 * Validates a complete (defaults applied) configuration. Throws the ConfigError naming the
 * path of the only problem, or ConfigErrors listing all of them when there are several.
 */
export function validateConfig(config: GyreConfig): void {
  throwConfigProblems(configProblemsOf(config));
}

function validateAll(config: GyreConfig): void {
  validateFields(CONFIG_SCHEMA, config as unknown as Tree, '');
  const hs = config.http_server;
  if (hs.h2c_external && (hs.internal_port === '' || hs.internal_port === String(hs.port))) {
    report('http_server.h2c_external', 'external_h2c requires custom separate internal_port to be configured');
  }
  if (hs.h2c_external && hs.tls.enabled) {
    report('http_server.h2c_external', 'external_h2c cannot be used together with enabled TLS for external HTTP server');
  }
  for (const key of ['tls', 'internal_tls'] as const) {
    const t = hs[key];
    const acme = key === 'tls' && hs.tls_autocert.enabled;
    if (t.enabled && !acme && (!t.cert_pem || !t.key_pem)) throw new ConfigError(`http_server.${key}`, 'cert_pem and key_pem are required for a TLS listener');
  }
  if (config.broker.type === 'redisnats' && !config.enable_unreleased_features) {
    report('broker.type', 'redisnats broker requires enable_unreleased_features: true');
  }
  if (config.controller.enabled && config.controller.type !== 'postgres') {
    report('controller.type', `unknown controller type: "${config.controller.type}" (supported: postgres)`);
  }
  if (config.webtransport.enabled && !hs.http3.enabled) {
    report('webtransport.enabled', 'webtransport requires http_server.http3.enabled');
  }
  validateToken(config.client.token, 'client.token');
  validateToken(config.client.subscription_token, 'client.subscription_token');
  if (config.client.proxy.connect.enabled) validateProxy(config.client.proxy.connect, 'client.proxy.connect');
  if (config.client.proxy.refresh.enabled) validateProxy(config.client.proxy.refresh, 'client.proxy.refresh');
  if (config.client.proxy.disconnect.enabled) validateProxy(config.client.proxy.disconnect, 'client.proxy.disconnect');
  if (config.channel_state.vacated_event_delay < 0) report('channel_state.vacated_event_delay', 'must not be negative');
  const ci = config.client;
  if (!(ci.ping_interval > ci.pong_timeout)) {
    report('client.ping_interval', 'ping_interval must be greater than pong_timeout');
  }
  wholeSeconds(config.channel.history_meta_ttl, 'channel.history_meta_ttl');
  config.client.connect_code_to_unidirectional_disconnect.transforms.forEach((t, i) => {
    const p = `client.connect_code_to_unidirectional_disconnect.transforms[${i}]`;
    if (t.code === 0) report(`${p}.code`, 'no code specified');
    if (t.to.code === 0) report(`${p}.to.code`, 'no disconnect code specified');
    if (!isAscii(t.to.reason)) report(`${p}.to.reason`, 'disconnect reason must be ASCII');
  });

  validateNamedList(config.proxies.map((p) => p.name), 'proxies', NAME_PATTERN, 'proxy');
  config.proxies.forEach((p, i) => {
    if (p.name === DEFAULT_PROXY) report(`proxies[${i}].name`, `proxy name ${DEFAULT_PROXY} is reserved`);
    validateProxy(p, `proxies[${i}]`);
  });
  const proxyNames = new Set([...config.proxies.map((p) => p.name), DEFAULT_PROXY]);
  const ctx: OptionsContext = { config, proxyNames };

  validateChannelOptions(config.channel.without_namespace, 'channel.without_namespace', ctx);
  validateNamedList(config.channel.namespaces.map((n) => n.name), 'channel.namespaces', NAME_PATTERN, 'namespace');
  config.channel.namespaces.forEach((n, i) => validateChannelOptions(n, `channel.namespaces[${i}]`, ctx));

  const personal = config.client.subscribe_to_user_personal_channel;
  if (personal.enabled && personal.personal_channel_namespace !== '') {
    const ns = config.channel.namespaces.find((n) => n.name === personal.personal_channel_namespace);
    if (ns === undefined) {
      report(
        'client.subscribe_to_user_personal_channel.personal_channel_namespace',
        `namespace for user personal channel not found: ${personal.personal_channel_namespace}`,
      );
    } else if (personal.single_connection && !ns.presence) {
      report(
        'client.subscribe_to_user_personal_channel.single_connection',
        `presence must be enabled for namespace ${ns.name} to maintain single connection`,
      );
    }
  } else if (personal.enabled && personal.single_connection && !config.channel.without_namespace.presence) {
    report(
      'client.subscribe_to_user_personal_channel.single_connection',
      'presence must be enabled on channel.without_namespace to maintain single connection',
    );
  }

  const rpc = config.rpc;
  if (rpc.without_namespace.proxy_name !== '' && !proxyNames.has(rpc.without_namespace.proxy_name)) {
    report('rpc.without_namespace.proxy_name', `proxy ${rpc.without_namespace.proxy_name} not found for rpc`);
  }
  validateNamedList(rpc.namespaces.map((n) => n.name), 'rpc.namespaces', NAME_PATTERN, 'rpc namespace');
  rpc.namespaces.forEach((n, i) => {
    if (n.proxy_name !== '' && !proxyNames.has(n.proxy_name)) {
      report(`rpc.namespaces[${i}].proxy_name`, `proxy ${n.proxy_name} not found for rpc`);
    }
  });

  validateConsumers(config);
  for (const [path, message] of workersProblems(config)) report(path, message);
  validateConnectCodeTransforms(config.uni_sse.connect_code_to_http_response, 'uni_sse.connect_code_to_http_response');
  validateConnectCodeTransforms(config.uni_http_stream.connect_code_to_http_response, 'uni_http_stream.connect_code_to_http_response');
}
