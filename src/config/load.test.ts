import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, ConfigErrors, FILE_NOT_FOUND_WARNING, inspectConfig, loadConfig } from './index.js';
import { loadValues, tempDir, writeTemp } from './testing.js';

const JSON_TEXT = `{
  "client": {
    "token": { "hmac_secret_key": "s3cret" },
    "allowed_origins": ["https://a.example", "https://b.example"],
    "channel_limit": 64,
    "ping_interval": "20s"
  },
  "http_server": { "port": 9000 },
  "channel": {
    "history_meta_ttl": "48h",
    "namespaces": [
      { "name": "chat", "presence": true, "history_size": 10, "history_ttl": "300s", "force_recovery": true },
      { "name": "news", "allow_subscribe_for_client": true, "map": { "key_ttl": "1m" } }
    ]
  },
  "proxies": [{ "name": "backend", "endpoint": "http://localhost:3000", "http": { "static_headers": { "X-Api": "k" } } }]
}`;

const YAML_TEXT = `
client:
  token:
    hmac_secret_key: s3cret
  allowed_origins: ["https://a.example", "https://b.example"]
  channel_limit: 64
  ping_interval: 20s
http_server:
  port: 9000
channel:
  history_meta_ttl: 48h
  namespaces:
    - name: chat
      presence: true
      history_size: 10
      history_ttl: 300s
      force_recovery: true
    - name: news
      allow_subscribe_for_client: true
      map:
        key_ttl: 1m
proxies:
  - name: backend
    endpoint: http://localhost:3000
    http:
      static_headers:
        X-Api: k
`;

const TOML_TEXT = `
[client]
allowed_origins = ["https://a.example", "https://b.example"]
channel_limit = 64
ping_interval = "20s"

[client.token]
hmac_secret_key = "s3cret"

[http_server]
port = 9000

[channel]
history_meta_ttl = "48h"

[[channel.namespaces]]
name = "chat"
presence = true
history_size = 10
history_ttl = "300s"
force_recovery = true

[[channel.namespaces]]
name = "news"
allow_subscribe_for_client = true
map = { key_ttl = "1m" }

[[proxies]]
name = "backend"
endpoint = "http://localhost:3000"
http = { static_headers = { X-Api = "k" } }
`;

describe('loadConfig: file formats', () => {
  it('loads JSON, YAML and TOML into the same config', () => {
    const json = loadConfig({ configPath: writeTemp('c.json', JSON_TEXT), env: {}, cwd: tempDir() });
    const yaml = loadConfig({ configPath: writeTemp('c.yaml', YAML_TEXT), env: {}, cwd: tempDir() });
    const yml = loadConfig({ configPath: writeTemp('c.yml', YAML_TEXT), env: {}, cwd: tempDir() });
    const toml = loadConfig({ configPath: writeTemp('c.toml', TOML_TEXT), env: {}, cwd: tempDir() });
    assert.deepEqual(yaml.config, json.config);
    assert.deepEqual(yml.config, json.config);
    assert.deepEqual(toml.config, json.config);
    const c = json.config;
    assert.equal(c.client.token.hmac_secret_key, 's3cret');
    assert.deepEqual(c.client.allowed_origins, ['https://a.example', 'https://b.example']);
    assert.equal(c.client.channel_limit, 64);
    assert.equal(c.client.ping_interval, 20_000);
    assert.equal(c.http_server.port, 9000);
    assert.equal(c.channel.history_meta_ttl, 48 * 3600_000);
    assert.equal(c.channel.namespaces[0]?.history_ttl, 300_000);
    assert.equal(c.channel.namespaces[1]?.map.key_ttl, 60_000);
    assert.equal(c.proxies[0]?.timeout, 1000, 'proxy item gets its default timeout');
    assert.deepEqual(c.proxies[0]?.http.static_headers, { 'x-api': 'k' }, 'object-form map keys are lower-cased');
    for (const r of [json, yaml, toml]) {
      assert.deepEqual(r.unknownKeys, []);
      assert.equal(r.fileFound, true);
    }
  });

  it('tolerates a missing file with the Centrifugo warning', () => {
    const r = loadConfig({ configPath: 'nope.json', env: {}, cwd: tempDir() });
    assert.equal(r.fileFound, false);
    assert.deepEqual(r.warnings, [FILE_NOT_FOUND_WARNING]);
    assert.equal(r.config.client.channel_limit, 128);
    assert.ok(r.path.endsWith('nope.json'));
  });

  it('defaults the path to config.json in cwd', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'config.json'), '{"client":{"channel_limit":7}}');
    const r = loadConfig({ env: {}, cwd: dir });
    assert.equal(r.path, join(dir, 'config.json'));
    assert.equal(r.config.client.channel_limit, 7);
  });

  it('fails on a malformed file', () => {
    for (const [name, text] of [
      ['bad.json', '{"client": '],
      ['bad.yaml', 'client: [1, 2'],
      ['bad.toml', '[client\nx = 1'],
      ['list.json', '[1, 2]'],
      ['config.ini', 'a=1'],
    ] as const) {
      const path = writeTemp(name, text);
      assert.throws(
        () => loadConfig({ configPath: path, env: {}, cwd: tempDir() }),
        (err: unknown) => err instanceof ConfigError && err.path === '' && err.message.includes(path),
        name,
      );
    }
  });

  it('treats an empty file as an empty config', () => {
    const r = loadConfig({ configPath: writeTemp('empty.yaml', ''), env: {}, cwd: tempDir() });
    assert.equal(r.config.http_server.port, 8000);
  });
});

describe('loadConfig: values and defaults', () => {
  it('gives zero values their defaults', () => {
    const c = loadValues({
      client: { channel_limit: 0, ping_interval: '0s', allowed_origins: [] },
      http_server: { port: 0 },
      engine: { redis: { address: [], prefix: '' } },
      channel: { namespace_boundary: '' },
    }).config;
    assert.equal(c.client.channel_limit, 128);
    assert.equal(c.client.ping_interval, 25_000);
    assert.equal(c.http_server.port, 8000);
    assert.deepEqual(c.engine.redis.address, ['redis://127.0.0.1:6379']);
    assert.equal(c.engine.redis.prefix, 'centrifugo');
    assert.equal(c.channel.namespace_boundary, ':');
  });

  it('applies item defaults to namespaces and keeps zero history_meta_ttl', () => {
    const ns = loadValues({ channel: { namespaces: [{ name: 'chat' }] } }).config.channel.namespaces[0];
    assert.ok(ns !== undefined);
    assert.equal(ns.subscribe_proxy_name, 'default');
    assert.equal(ns.publish_proxy_name, 'default');
    assert.equal(ns.sub_refresh_proxy_name, 'default');
    assert.equal(ns.subscribe_stream_proxy_name, 'default');
    assert.equal(ns.map.publish_proxy_name, 'default');
    assert.equal(ns.map.remove_proxy_name, 'default');
    assert.equal(ns.history_meta_ttl, 0);
    assert.equal(ns.shared_poll.proxy_name, '');
  });

  it('has the documented defaults', () => {
    const c = loadValues({}).config;
    assert.equal(c.client.pong_timeout, 8000);
    assert.equal(c.client.queue_max_size, 1_048_576);
    assert.equal(c.client.presence_update_interval, 27_000);
    assert.equal(c.channel.history_meta_ttl, 720 * 3600_000);
    assert.equal(c.channel.max_length, 255);
    assert.equal(c.channel.private_prefix, '$');
    assert.equal(c.channel.user_boundary, '#');
    assert.equal(c.channel.user_separator, ',');
    assert.equal(c.websocket.handler_prefix, '/connection/websocket');
    assert.equal(c.websocket.write_timeout, 1000);
    assert.equal(c.websocket.message_size_limit, 65536);
    assert.equal(c.http_api.handler_prefix, '/api');
    assert.equal(c.emulation.handler_prefix, '/emulation');
    assert.equal(c.uni_grpc.port, 11000);
    assert.equal(c.grpc_api.port, 10000);
    assert.equal(c.shutdown.timeout, 30_000);
    assert.equal(c.node.info_metrics_aggregate_interval, 60_000);
    assert.equal(c.rpc.ping.method, 'ping');
    assert.equal(c.rpc.without_namespace.proxy_name, 'default');
    assert.equal(c.log.level, 'info');
    assert.equal(c.broker.postgres.outbox.poll_interval, 100);
    assert.equal(c.map_broker.redis.cleanup_interval, 1000);
    assert.equal(c.http_server.tls_autocert.http_addr, ':80');
  });

  it('reads bare numbers in files as nanoseconds', () => {
    const c = loadValues({ client: { ping_interval: 1_500_000_000, pong_timeout: 1_000_000 } }).config;
    assert.equal(c.client.ping_interval, 1500);
    assert.equal(c.client.pong_timeout, 1);
  });

  it('accepts Go-like weak typing in files', () => {
    const c = loadValues({ http_server: { port: '9001', internal_port: 9002 }, client: { insecure: 'true' } }).config;
    assert.equal(c.http_server.port, 9001);
    assert.equal(c.http_server.internal_port, '9002');
    assert.equal(c.client.insecure, true);
  });

  it('matches file keys case-insensitively', () => {
    assert.equal(loadValues({ Client: { Channel_Limit: 3 } }).config.client.channel_limit, 3);
  });

  it('reports unknown keys with dotted paths and [i] indices', () => {
    const r = loadValues({
      foo: 1,
      client: { bar: true, token: { baz: 'x' } },
      channel: { namespaces: [{ name: 'a1' }, { name: 'b2', nope: 1, map: { zzz: 1 } }] },
      proxies: [{ name: 'p1', endpoint: 'http://x', extra: 1 }],
    });
    assert.deepEqual(r.unknownKeys.sort(), [
      'channel.namespaces[1].map.zzz',
      'channel.namespaces[1].nope',
      'client.bar',
      'client.token.baz',
      'foo',
      'proxies[0].extra',
    ]);
  });

  it('names the path of an invalid value', () => {
    const cases: [unknown, string][] = [
      [{ client: { channel_limit: 'many' } }, 'client.channel_limit'],
      [{ client: { ping_interval: '5 seconds' } }, 'client.ping_interval'],
      [{ client: { insecure: 'yes please' } }, 'client.insecure'],
      [{ client: { allowed_origins: [{}] } }, 'client.allowed_origins[0]'],
      [{ channel: { namespaces: [{ name: 'ok', history_size: 1.5 }] } }, 'channel.namespaces[0].history_size'],
      [{ channel: { namespaces: 'chat' } }, 'channel.namespaces'],
      [{ channel: { namespaces: [1] } }, 'channel.namespaces[0]'],
      [{ client: 'x' }, 'client'],
      [{ proxies: [{ name: 'pp', endpoint: 'http://x', http: { static_headers: { a: 1 } } }] }, 'proxies[0].http.static_headers.a'],
    ];
    for (const [values, path] of cases) {
      assert.throws(
        () => loadValues(values),
        (err: unknown) => err instanceof ConfigError && err.path === path && err.message.startsWith(path),
        path,
      );
    }
  });

  it('supports the key/value array form of maps and ${CENTRIFUGO_VAR_*} substitution', () => {
    const r = loadValues(
      {
        proxies: [
          {
            name: 'p1',
            endpoint: 'http://x',
            http: { static_headers: [{ key: 'Authorization', value: 'Bearer ${CENTRIFUGO_VAR_TOKEN}' }] },
            grpc: { static_metadata: { key: '${GYRE_VAR_META}-${CENTRIFUGO_VAR_TOKEN}' } },
          },
        ],
      },
      { env: { CENTRIFUGO_VAR_TOKEN: 'abc', GYRE_VAR_META: 'm' } },
    );
    assert.deepEqual(r.config.proxies[0]?.http.static_headers, { Authorization: 'Bearer abc' });
    assert.deepEqual(r.config.proxies[0]?.grpc.static_metadata, { key: 'm-abc' });
    assert.deepEqual(r.unknownEnv, []);
    assert.throws(
      () => loadValues({ channel: { proxy: { subscribe: { http: { static_headers: { a: '${CENTRIFUGO_VAR_MISSING}' } } } } } }),
      (err: unknown) => err instanceof ConfigError && err.path === 'channel.proxy.subscribe.http.static_headers.a',
    );
    assert.throws(
      () => loadValues({ rpc: { proxy: { http: { static_headers: [{ key: 'a', value: '1' }, { key: 'a', value: '2' }] } } } }),
      (err: unknown) => err instanceof ConfigError && err.path === 'rpc.proxy.http.static_headers[1]',
    );
  });

  it('normalizes the log level and falls back to info with a warning', () => {
    assert.equal(loadValues({ log: { level: 'DEBUG' } }).config.log.level, 'debug');
    const r = loadValues({ log: { level: 'chatty' } });
    assert.equal(r.config.log.level, 'info');
    assert.ok(r.warnings.some((w) => w.startsWith('log.level')));
  });

  it('deep-freezes the result', () => {
    const c = loadValues({ channel: { namespaces: [{ name: 'chat' }] } }).config;
    assert.ok(Object.isFrozen(c));
    assert.ok(Object.isFrozen(c.client.token));
    assert.ok(Object.isFrozen(c.channel.namespaces));
    assert.ok(Object.isFrozen(c.channel.namespaces[0]));
    assert.throws(() => {
      (c.client as { channel_limit: number }).channel_limit = 1;
    });
  });
});

describe('loadConfig: environment', () => {
  it('maps CENTRIFUGO_ names and parses each kind', () => {
    const r = loadValues(
      {},
      {
        env: {
          CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY: 'from-env',
          CENTRIFUGO_HTTP_SERVER_PORT: '0x1F90',
          CENTRIFUGO_CLIENT_CHANNEL_LIMIT: '0o20',
          CENTRIFUGO_CLIENT_INSECURE: 'T',
          CENTRIFUGO_CLIENT_ALLOWED_ORIGINS: 'https://a.com https://b.com',
          CENTRIFUGO_CLIENT_PING_INTERVAL: '1m30s',
          CENTRIFUGO_CLIENT_PONG_TIMEOUT: '10s',
          CENTRIFUGO_CHANNEL_PROXY_PUBLISH_HTTP_STATIC_HEADERS: '{"X-A":"1"}',
          CENTRIFUGO_UNI_SSE_CONNECT_CODE_TO_HTTP_RESPONSE_TRANSFORMS: '[{"code":3501,"to":{"status_code":400,"body":"bad"}}]',
          CENTRIFUGO_ENGINE_REDIS_ADDRESS: 'redis://h1:6379 redis://h2:6379',
        },
      },
    );
    const c = r.config;
    assert.equal(c.client.token.hmac_secret_key, 'from-env');
    assert.equal(c.http_server.port, 8080);
    assert.equal(c.client.channel_limit, 16);
    assert.equal(c.client.insecure, true);
    assert.deepEqual(c.client.allowed_origins, ['https://a.com', 'https://b.com']);
    assert.equal(c.client.ping_interval, 90_000);
    assert.deepEqual(c.channel.proxy.publish.http.static_headers, { 'x-a': '1' });
    assert.deepEqual(c.uni_sse.connect_code_to_http_response.transforms, [{ code: 3501, to: { status_code: 400, body: 'bad' } }]);
    assert.deepEqual(c.engine.redis.address, ['redis://h1:6379', 'redis://h2:6379']);
    assert.deepEqual(r.unknownEnv, []);
  });

  it('accepts GYRE_ as an alias prefix; CENTRIFUGO_ wins', () => {
    const c = loadValues(
      { client: { channel_limit: 5 } },
      { env: { GYRE_CLIENT_CHANNEL_LIMIT: '10', GYRE_HTTP_API_KEY: 'g', CENTRIFUGO_HTTP_API_KEY: 'c' } },
    ).config;
    assert.equal(c.client.channel_limit, 10);
    assert.equal(c.http_api.key, 'c');
  });

  it('treats empty values as unset', () => {
    const c = loadValues({ client: { channel_limit: 5 } }, { env: { CENTRIFUGO_CLIENT_CHANNEL_LIMIT: '' } }).config;
    assert.equal(c.client.channel_limit, 5);
  });

  it('names the variable and the path of an invalid env value', () => {
    assert.throws(
      () => loadValues({}, { env: { CENTRIFUGO_CLIENT_INSECURE: 'yes' } }),
      (err: unknown) =>
        err instanceof ConfigError && err.path === 'client.insecure' && err.message.includes('CENTRIFUGO_CLIENT_INSECURE'),
    );
    assert.throws(
      () => loadValues({}, { env: { GYRE_CLIENT_PING_INTERVAL: '10' } }),
      (err: unknown) => err instanceof ConfigError && err.path === 'client.ping_interval',
    );
  });

  it('builds namespaces from names plus per-item variables', () => {
    const c = loadValues(
      {},
      {
        env: {
          CENTRIFUGO_CHANNEL_NAMESPACES: 'chat news-feed',
          CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_PRESENCE: 'true',
          CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_HISTORY_SIZE: '100',
          CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_HISTORY_TTL: '300s',
          CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_MAP_MODE: 'ephemeral',
          CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_MAP_KEY_TTL: '60s',
          GYRE_CHANNEL_NAMESPACES_NEWS_FEED_ALLOW_SUBSCRIBE_FOR_CLIENT: '1',
        },
      },
    ).config;
    assert.deepEqual(
      c.channel.namespaces.map((n) => n.name),
      ['chat', 'news-feed'],
    );
    const [chat, news] = c.channel.namespaces;
    assert.equal(chat?.presence, true);
    assert.equal(chat?.history_size, 100);
    assert.equal(chat?.history_ttl, 300_000);
    assert.equal(chat?.map.mode, 'ephemeral');
    assert.equal(chat?.subscribe_proxy_name, 'default');
    assert.equal(news?.allow_subscribe_for_client, true);
  });

  it('accepts named arrays as JSON and applies per-item vars to file items', () => {
    const r = loadValues(
      { channel: { namespaces: [{ name: 'room', presence: false }] } },
      {
        env: {
          CENTRIFUGO_CHANNEL_NAMESPACES_ROOM_PRESENCE: 'true',
          CENTRIFUGO_CHANNEL_NAMESPACES_GHOST_PRESENCE: 'true',
          CENTRIFUGO_PROXIES: '[{"name":"p1","endpoint":"http://backend","timeout":"3s"}]',
          CENTRIFUGO_PROXIES_P1_HTTP_HEADERS: 'Cookie Authorization',
          CENTRIFUGO_RPC_NAMESPACES: 'calc',
          CENTRIFUGO_RPC_NAMESPACES_CALC_PROXY_NAME: 'p1',
        },
      },
    );
    const c = r.config;
    assert.equal(c.channel.namespaces.length, 1, 'per-item vars never create items');
    assert.equal(c.channel.namespaces[0]?.presence, true);
    assert.equal(c.proxies[0]?.timeout, 3000);
    assert.deepEqual(c.proxies[0]?.http_headers, ['Cookie', 'Authorization']);
    assert.equal(c.rpc.namespaces[0]?.proxy_name, 'p1');
    assert.deepEqual(r.unknownEnv, ['CENTRIFUGO_CHANNEL_NAMESPACES_GHOST_PRESENCE']);
  });

  it('reports unknown variables except Kubernetes and VAR ones', () => {
    const r = loadValues(
      {},
      {
        env: {
          CENTRIFUGO_FOO: '1',
          GYRE_BAR: '2',
          CENTRIFUGO_PORT: 'tcp://10.0.0.1:8000',
          CENTRIFUGO_SERVICE_HOST: '10.0.0.1',
          CENTRIFUGO_API_SERVICE_PORT: '8000',
          CENTRIFUGO_VAR_SECRET: 'x',
          GYRE_VAR_OTHER: 'y',
          OTHER: 'z',
          CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY: 'known',
        },
      },
    );
    assert.deepEqual(r.unknownEnv, ['CENTRIFUGO_FOO', 'GYRE_BAR']);
  });

  it('loads .env from cwd without overriding given variables', () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, '.env'),
      '# comment\nCENTRIFUGO_CLIENT_CHANNEL_LIMIT=42\nexport CENTRIFUGO_HTTP_API_KEY="from dotenv"\nCENTRIFUGO_LOG_LEVEL=debug # inline\n',
    );
    const env = { CENTRIFUGO_HTTP_API_KEY: 'from-env' };
    const r = loadConfig({ configPath: '', env, cwd: dir });
    assert.equal(r.config.client.channel_limit, 42);
    assert.equal(r.config.http_api.key, 'from-env');
    assert.equal(r.config.log.level, 'debug');
    assert.equal(r.envFile, join(dir, '.env'));
    assert.deepEqual(env, { CENTRIFUGO_HTTP_API_KEY: 'from-env' }, 'caller env is not mutated');
    assert.equal(r.warnings.length, 0, 'configPath "" means no file and no warning');
  });
});

describe('loadConfig: flags', () => {
  it('puts explicit flags over env over file', () => {
    const r = loadValues(
      { http_server: { port: 7000, address: 'file-host' }, client: { insecure: false }, log: { level: 'warn' } },
      {
        env: { CENTRIFUGO_HTTP_SERVER_PORT: '7001', CENTRIFUGO_HTTP_SERVER_ADDRESS: 'env-host', CENTRIFUGO_LOG_LEVEL: 'error' },
        flags: { 'http_server.port': '7002', 'client.insecure': true, 'log.level': 'debug', 'grpc_api.port': 12000 },
      },
    );
    const c = r.config;
    assert.equal(c.http_server.port, 7002);
    assert.equal(c.http_server.address, 'env-host');
    assert.equal(c.client.insecure, true);
    assert.equal(c.log.level, 'debug');
    assert.equal(c.grpc_api.port, 12000);
  });

  it('rejects unknown flag keys and bad flag values with the path', () => {
    assert.throws(() => loadValues({}, { flags: { 'no.such': 1 } }), ConfigError);
    assert.throws(
      () => loadValues({}, { flags: { 'http_server.port': 'eighty' } }),
      (err: unknown) => err instanceof ConfigError && err.path === 'http_server.port',
    );
  });
});

describe('inspectConfig: every problem at once', () => {
  it('collects file, env and validation problems, each with its path and JSON position', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gyre-inspect-'));
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ client: { channel_limit: 'many', ping_interval: '1s', pong_timeout: '2s' }, http_api: { error_mode: 'x' } }, null, 1),
    );
    const r = inspectConfig({ cwd: dir, configPath: 'config.json', env: { CENTRIFUGO_GRPC_API_PORT: 'nope' } });
    assert.equal(r.loaded, undefined);
    assert.deepEqual(r.errors.map((e) => e.path).sort(), ['client.channel_limit', 'client.ping_interval', 'grpc_api.port', 'http_api.error_mode']);
    assert.match(r.errors.find((e) => e.path === 'client.channel_limit')?.message ?? '', /\(line 3, column 3\)$/);
    assert.throws(() => loadConfig({ cwd: dir, configPath: 'config.json' }), (err: unknown) => err instanceof ConfigErrors && err.errors.length === 3);
  });
});
