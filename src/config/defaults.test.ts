import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { stringify as stringifyToml } from 'smol-toml';
import { stringify as stringifyYaml } from 'yaml';
import { CONFIG_SCHEMA, defaultConfigObject, envLines, loadConfig, notSupportedWarnings, toPrintable, type Fields } from './index.js';
import { loadValues, tempDir, writeTemp } from './testing.js';

const SDK_REPO = '/work/.mirror/centrifugal+centrifuge-js/repo';

/** Written for this test: shaped like the centrifuge-js SDK test config (features Gyre lacks). */
const SDK_LIKE = {
  client: { insecure: true, concurrency: 4, token: { hmac_secret_key: 'test-secret' } },
  log: { level: 'debug' },
  sse: { enabled: true },
  http_stream: { enabled: true },
  map_broker: {},
  shared_poll: { hmac_secret_key: 'poll-secret' },
  proxies: [{ name: 'pollsrc', endpoint: 'http://127.0.0.1:4010/refresh', timeout: '2s' }],
  http_api: { key: 'api-key' },
  channel: {
    without_namespace: { presence: true, allowed_delta_types: ['fossil'], delta_publish: true, history_size: 50, history_ttl: '120s', force_recovery: true },
    namespaces: [
      { name: 'kv', subscription_type: 'map', map: { mode: 'ephemeral', key_ttl: '30s', allow_publish_for_client: true }, allow_subscribe_for_client: true },
      { name: 'kvstore', subscription_type: 'map', map: { mode: 'persistent', stream_size: 5, stream_ttl: '30s' } },
      { name: 'history', history_size: 20, history_ttl: '60s', force_recovery: true, allow_subscribe_for_client: true },
      { name: 'labels', subscription_type: 'map', map: { mode: 'persistent' }, allow_tags_filter: true },
      { name: 'members', subscription_type: 'map_clients', map: { mode: 'ephemeral', key_ttl: '30s' } },
      { name: 'watch', subscription_type: 'map', map: { mode: 'ephemeral', key_ttl: '30s' }, map_clients_presence_channel_prefix: 'members:' },
      { name: 'ticker', subscription_type: 'shared_poll', shared_poll: { proxy_name: 'pollsrc', mode: 'versioned', refresh_interval: '500ms' } },
    ],
  },
};

function expectedSdkLikeWarnings(): string[] {
  // Every subscription type is served now: map, map_clients, map_users and shared_poll.
  return [];
}

describe('not-supported warnings', () => {
  it('loads an SDK-like config and warns about each unimplemented feature', () => {
    const r = loadValues(SDK_LIKE);
    assert.deepEqual(r.unknownKeys, []);
    assert.deepEqual(notSupportedWarnings(r.config), expectedSdkLikeWarnings());
  });

  it('loads the real centrifuge-js test config when available', (t) => {
    if (!existsSync(SDK_REPO)) {
      t.skip('centrifuge-js mirror not present');
      return;
    }
    let text: string;
    try {
      text = execFileSync('git', ['-C', SDK_REPO, 'show', 'HEAD:centrifugo_test.json'], { encoding: 'utf8' });
    } catch {
      t.skip('centrifugo_test.json not readable');
      return;
    }
    const r = loadConfig({ configPath: writeTemp('config.json', text), env: {}, cwd: tempDir() });
    assert.equal(r.config.client.insecure, true);
    const warnings = notSupportedWarnings(r.config);
    assert.ok(!warnings.some((w) => /^channel\.namespaces\[\d+\]\.subscription_type: not supported yet$/.test(w)), 'every subscription type is served');
    assert.ok(warnings.every((w) => w.endsWith(': not supported yet')));
  });

  it('lists nothing for the default config', () => {
    assert.deepEqual(notSupportedWarnings(loadValues({}).config), []);
  });

  it('warns about brokers, APIs and transports Gyre lacks', () => {
    const r = loadValues({
      enable_unreleased_features: true,
      broker: { enabled: true, type: 'redisnats' },
      map_broker: { type: 'postgres' },
      grpc_api: { enabled: true },
      uni_grpc: { enabled: true },
      admin: { enabled: true },
      prometheus: { enabled: true, instrument_http_handlers: true },
      opentelemetry: { enabled: true, api: true, google_cloud_adc_auth: true },
      graphite: { enabled: true },
      http_server: { tls: { enabled: true, cert_pem: 'c.pem', key_pem: 'k.pem' }, http3: { enabled: true } },
      client: { proxy: { connect: { enabled: true, endpoint: 'grpc://a:1' } } },
      rpc: { without_namespace: { proxy_enabled: true }, proxy: { endpoint: 'grpc://a:1' } },
      consumers: [
        { name: 'c1', type: 'kafka' },
        { name: 'c2', type: 'aws_sqs', enabled: true, aws_sqs: { queues: ['q'] } },
        { name: 'c3', type: 'rabbitmq', enabled: true, rabbitmq: { url: 'amqp://localhost', queue: 'q' } },
        { name: 'c4', type: 'postgresql', enabled: true, postgresql: { dsn: 'x', outbox_table_name: 'o' } },
      ],
    });
    const paths = notSupportedWarnings(r.config).map((w) => w.replace(/: not supported yet$/, ''));
    for (const p of ['broker.type', 'opentelemetry.google_cloud_adc_auth', 'http_server.http3', 'consumers[1]']) {
      assert.ok(paths.includes(p), p);
    }
    assert.ok(!paths.includes('prometheus.instrument_http_handlers'), 'HTTP request counting is served');
    assert.ok(!paths.includes('http_server.tls'), 'TLS listeners are served');
    for (const p of ['client.proxy.connect', 'rpc.proxy', 'rpc.without_namespace.proxy_enabled']) assert.ok(!paths.includes(p), `GRPC ${p} is served`);
    assert.ok(!paths.includes('consumers[0]'), 'disabled consumers do not warn');
    assert.ok(!paths.includes('graphite'), 'graphite export is served');
    const pg = loadValues({ broker: { enabled: true, type: 'postgres', postgres: { dsn: 'postgres://x' } } });
    assert.ok(!notSupportedWarnings(pg.config).includes('broker.type: not supported yet'), 'the postgres broker is served');
    assert.ok(!paths.includes('consumers[2]'), 'rabbitmq consumers are served');
    assert.ok(!paths.includes('consumers[3]'), 'postgresql consumers are served');
    assert.ok(!paths.includes('map_broker.type'), 'the postgres map broker is served');
    for (const p of ['admin', 'prometheus', 'opentelemetry', 'grpc_api', 'uni_grpc']) assert.ok(!paths.includes(p), `${p} is supported`);
  });

  it('does not warn about HTTP or GRPC connect, refresh, subscribe, publish, sub_refresh, RPC and GRPC stream proxies; warns about an HTTP stream proxy and unserved hooks', () => {
    const r = loadValues({
      client: { proxy: { connect: { enabled: true, endpoint: 'http://a/connect' }, refresh: { enabled: true, endpoint: 'http://a/refresh' } } },
      channel: {
        proxy: {
          subscribe: { endpoint: 'http://a/subscribe' },
          publish: { endpoint: 'https://a/publish' },
          map_publish: { endpoint: 'http://a/map_publish' },
          map_remove: { endpoint: 'a:10002' },
        },
        without_namespace: { subscribe_proxy_enabled: true, publish_proxy_enabled: true },
        namespaces: [
          { name: 'named', subscribe_proxy_enabled: true, subscribe_proxy_name: 'backend' },
          { name: 'grpc', publish_proxy_enabled: true, publish_proxy_name: 'grpcbackend' },
          { name: 'sr', sub_refresh_proxy_enabled: true, sub_refresh_proxy_name: 'backend' },
          { name: 'stream', subscribe_stream_proxy_enabled: true, subscribe_stream_proxy_name: 'grpcbackend' },
          { name: 'httpstream', subscribe_stream_proxy_enabled: true, subscribe_stream_proxy_name: 'backend' },
          { name: 'mp', map: { publish_proxy_enabled: true, publish_proxy_name: 'grpcbackend' } },
          { name: 'mr', map: { remove_proxy_enabled: true, remove_proxy_name: 'backend' } },
          { name: 'mdefault', map: { publish_proxy_enabled: true, remove_proxy_enabled: true } },
        ],
      },
      rpc: { proxy: { endpoint: 'http://a/rpc' }, without_namespace: { proxy_enabled: true } },
      proxies: [
        { name: 'backend', endpoint: 'http://b/hook' },
        { name: 'grpcbackend', endpoint: 'b:10001' },
      ],
    });
    const paths = notSupportedWarnings(r.config).map((w) => w.replace(/: not supported yet$/, ''));
    // Map publish / remove proxies are served over HTTP and GRPC alike.
    assert.deepEqual(paths, ['channel.namespaces[4].subscribe_stream_proxy_enabled']);
  });

  it('does not warn about the Redis engine or the NATS broker', () => {
    const r = loadValues({ engine: { type: 'redis' }, broker: { enabled: true, type: 'nats' } });
    const paths = notSupportedWarnings(r.config).map((w) => w.replace(/: not supported yet$/, ''));
    assert.ok(!paths.includes('engine.type'));
    assert.ok(!paths.includes('broker.type'));
  });
});

function collectLeafKinds(fields: Fields, prefix: string, out: Map<string, string>): void {
  for (const [k, spec] of Object.entries(fields)) {
    const p = prefix === '' ? k : `${prefix}.${k}`;
    if (spec.kind === 'object') collectLeafKinds(spec.fields ?? {}, p, out);
    else out.set(p, spec.kind);
    if (spec.doc.trim() === '') throw new Error(`${p} has no doc`);
  }
}

describe('defaults and printing', () => {
  it('prints durations canonically and omits experimental sections', () => {
    const d = defaultConfigObject() as Record<string, Record<string, unknown>>;
    assert.equal(d.client?.ping_interval, '25s');
    assert.equal(d.client?.channel_position_max_time_lag, '0s');
    assert.equal(d.channel?.history_meta_ttl, '720h0m0s');
    assert.equal(d.websocket?.write_timeout, '1s');
    assert.equal(d.node?.info_metrics_aggregate_interval, '1m0s');
    assert.equal((d.broker?.postgres as Record<string, unknown>).cleanup_interval, '1m0s');
    assert.equal(d.client?.channel_limit, 128);
    assert.deepEqual(d.channel?.namespaces, []);
    assert.ok(!('redisnats' in (d.broker ?? {})));
  });

  it('documents every key and covers every section of server.md §1.5', () => {
    const kinds = new Map<string, string>();
    collectLeafKinds(CONFIG_SCHEMA, '', kinds);
    for (const top of [
      'http_server', 'log', 'engine', 'broker', 'presence_manager', 'map_broker', 'controller', 'shared_poll', 'client',
      'channel', 'rpc', 'proxies', 'http_api', 'grpc_api', 'consumers', 'websocket', 'sse', 'http_stream', 'webtransport',
      'emulation', 'uni_websocket', 'uni_sse', 'uni_http_stream', 'uni_grpc', 'admin', 'prometheus', 'health', 'swagger',
      'debug', 'init', 'opentelemetry', 'graphite', 'usage_stats', 'node', 'shutdown', 'pid_file', 'enable_unreleased_features',
    ]) {
      assert.ok(top in CONFIG_SCHEMA, top);
    }
    assert.equal(kinds.get('client.ping_interval'), 'duration');
    assert.equal(kinds.get('channel.namespaces'), 'object[]');
    assert.equal(kinds.get('proxies'), 'object[]');
    assert.equal(kinds.get('client.allowed_origins'), 'string[]');
    assert.equal(kinds.get('client.proxy.connect.http.static_headers'), 'map');
  });

  it('round-trips the default config through JSON, YAML and TOML', () => {
    const defaults = loadValues({}).config;
    const tree = toPrintable(defaults);
    for (const [name, text] of [
      ['d.json', JSON.stringify(tree)],
      ['d.yaml', stringifyYaml(tree)],
      ['d.toml', stringifyToml(tree)],
    ] as const) {
      const r = loadConfig({ configPath: writeTemp(name, text), env: {}, cwd: tempDir() });
      assert.deepEqual(r.unknownKeys, [], name);
      assert.deepEqual(r.config, defaults, name);
    }
  });

  it('lists env vars sorted, with per-item vars and non-zero filtering', () => {
    const r = loadValues({ client: { channel_limit: 5 }, channel: { namespaces: [{ name: 'chat', presence: true }] } });
    const lines = envLines(r.config, r.fileValues);
    assert.deepEqual(lines, [...lines].sort());
    assert.ok(lines.includes('CENTRIFUGO_CLIENT_CHANNEL_LIMIT=5'));
    assert.ok(lines.includes('CENTRIFUGO_CLIENT_PING_INTERVAL=25s'));
    assert.ok(lines.includes('CENTRIFUGO_HTTP_API_HANDLER_PREFIX="/api"'));
    assert.ok(lines.includes('CENTRIFUGO_CHANNEL_NAMESPACES="chat"'));
    assert.ok(lines.includes('CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_PRESENCE=true'));
    assert.ok(lines.includes('CENTRIFUGO_ENGINE_REDIS_ADDRESS="redis://127.0.0.1:6379"'));
    assert.ok(!lines.some((l) => l.includes('REDISNATS')));
    const nonZero = envLines(r.config, r.fileValues, true);
    assert.deepEqual(nonZero, [
      'CENTRIFUGO_CHANNEL_NAMESPACES="chat"',
      'CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_NAME="chat"',
      'CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_PRESENCE=true',
      'CENTRIFUGO_CLIENT_CHANNEL_LIMIT=5',
    ]);
  });

  it('every printed env var maps back to a known key', () => {
    const r = loadValues({ channel: { namespaces: [{ name: 'chat' }] }, proxies: [{ name: 'p1', endpoint: 'http://a' }] });
    const env: Record<string, string> = {};
    for (const line of envLines(r.config)) env[line.slice(0, line.indexOf('='))] = '';
    const again = loadValues({ channel: { namespaces: [{ name: 'chat' }] }, proxies: [{ name: 'p1', endpoint: 'http://a' }] }, { env });
    assert.deepEqual(again.unknownEnv, []);
  });
});
