import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, notSupportedWarnings } from './index.js';
import { loadValues } from './testing.js';

const ns = (extra: Record<string, unknown>): Record<string, unknown> => ({ channel: { namespaces: [{ name: 'chat', ...extra }] } });

/** [description, config, path the error must name, text the message must contain] */
const INVALID: [string, unknown, string, string][] = [
  ['short namespace name', { channel: { namespaces: [{ name: 'a' }] } }, 'channel.namespaces[0].name', 'must match'],
  ['namespace name chars', { channel: { namespaces: [{ name: 'chat room' }] } }, 'channel.namespaces[0].name', 'must match'],
  ['duplicate namespace', { channel: { namespaces: [{ name: 'chat' }, { name: 'chat' }] } }, 'channel.namespaces[1].name', 'unique'],
  ['history size without ttl', ns({ history_size: 10 }), 'channel.namespaces[0].history_ttl', 'both history size and history ttl'],
  ['history ttl without size', ns({ history_ttl: '10s' }), 'channel.namespaces[0].history_size', 'both history size and history ttl'],
  ['meta ttl below history ttl', ns({ history_size: 1, history_ttl: '60s', history_meta_ttl: '30s' }), 'channel.namespaces[0].history_ttl', 'meta ttl'],
  ['global meta ttl below history ttl', { channel: { history_meta_ttl: '10s', namespaces: [{ name: 'chat', history_size: 1, history_ttl: '60s' }] } }, 'channel.namespaces[0].history_ttl', 'meta ttl'],
  ['recovery without history', ns({ force_recovery: true }), 'channel.namespaces[0].force_recovery', 'required for recovery'],
  ['sub-second history ttl', ns({ history_size: 1, history_ttl: '1.5s' }), 'channel.namespaces[0].history_ttl', 'sub-second'],
  ['sub-second global meta ttl', { channel: { history_meta_ttl: '1500ms' } }, 'channel.history_meta_ttl', 'sub-second'],
  ['auto cache recover without cache mode', ns({ history_size: 1, history_ttl: '1s', force_recovery: true, auto_cache_recover: true }), 'channel.namespaces[0].auto_cache_recover', 'cache'],
  ['bad channel regex', ns({ channel_regex: '([a-z' }), 'channel.namespaces[0].channel_regex', 'invalid channel regex'],
  ['unknown delta type', { channel: { without_namespace: { allowed_delta_types: ['fossil', 'xdelta'] } } }, 'channel.without_namespace.allowed_delta_types[1]', 'xdelta'],
  ['recovery mode', ns({ force_recovery_mode: 'memory' }), 'channel.namespaces[0].force_recovery_mode', 'memory'],
  ['namespace data format', ns({ publication_data_format: 'xml' }), 'channel.namespaces[0].publication_data_format', 'xml'],
  ['global data format', { channel: { publication_data_format: 'xml' } }, 'channel.publication_data_format', 'xml'],
  ['subscription type', ns({ subscription_type: 'queue' }), 'channel.namespaces[0].subscription_type', 'queue'],
  ['unknown proxy name', ns({ subscribe_proxy_name: 'nope' }), 'channel.namespaces[0].subscribe_proxy_name', 'not found'],
  ['default proxy without endpoint', ns({ publish_proxy_enabled: true }), 'channel.proxy.publish.endpoint', 'endpoint not set'],
  ['stream proxy with subscribe proxy', { channel: { proxy: { subscribe: { endpoint: 'http://a' }, subscribe_stream: { endpoint: 'grpc://b' } }, namespaces: [{ name: 'chat', subscribe_proxy_enabled: true, subscribe_stream_proxy_enabled: true }] } }, 'channel.namespaces[0].subscribe_stream_proxy_enabled', 'subscribe stream'],
  ['state proxy without presence', { channel: { proxy: { state: { endpoint: 'http://a' } }, namespaces: [{ name: 'chat', state_proxy_enabled: true }] } }, 'channel.namespaces[0].state_proxy_enabled', 'presence'],
  ['unknown state proxy name', ns({ presence: true, state_proxy_enabled: true, state_proxy_name: 'nope' }), 'channel.namespaces[0].state_proxy_name', 'not found'],
  ['unknown unsubscribe proxy name', ns({ unsubscribe_proxy_enabled: true, unsubscribe_proxy_name: 'nope' }), 'channel.namespaces[0].unsubscribe_proxy_name', 'not found'],
  ['unsubscribe proxy without endpoint', ns({ unsubscribe_proxy_enabled: true }), 'channel.proxy.unsubscribe.endpoint', 'endpoint not set'],
  ['disconnect proxy without endpoint', { client: { proxy: { disconnect: { enabled: true } } } }, 'client.proxy.disconnect.endpoint', 'endpoint not set'],
  ['connect proxy without endpoint', { client: { proxy: { connect: { enabled: true } } } }, 'client.proxy.connect.endpoint', 'endpoint not set'],
  ['user_id_claim', { client: { token: { user_id_claim: 'user-id' } } }, 'client.token.user_id_claim', 'must match'],
  ['subscription user_id_claim', { client: { subscription_token: { user_id_claim: '1x' } } }, 'client.subscription_token.user_id_claim', 'must match'],
  ['audience and audience_regex', { client: { token: { audience: 'a', audience_regex: 'b' } } }, 'client.token.audience_regex', 'both'],
  ['issuer and issuer_regex', { client: { subscription_token: { issuer: 'a', issuer_regex: 'b' } } }, 'client.subscription_token.issuer_regex', 'both'],
  ['bad issuer regex', { client: { token: { issuer_regex: '(' } } }, 'client.token.issuer_regex', 'invalid'],
  // Valid JavaScript but not Go (RE2): config regexes are Go patterns.
  ['lookahead in issuer regex', { client: { token: { issuer_regex: '^(?=a)b' } } }, 'client.token.issuer_regex', 'invalid or unsupported Perl syntax'],
  ['backreference in audience regex', { client: { subscription_token: { audience_regex: '(a)\\1' } } }, 'client.subscription_token.audience_regex', 'invalid escape sequence'],
  ['bad flag in issuer regex', { client: { token: { issuer_regex: 'a(?z)b' } } }, 'client.token.issuer_regex', 'invalid or unsupported Perl syntax'],
  ['lookbehind in channel regex', ns({ channel_regex: '(?<!x)y' }), 'channel.namespaces[0].channel_regex', 'invalid named capture'],
  ['repeat count in channel regex', { channel: { without_namespace: { channel_regex: 'a{1001}' } } }, 'channel.without_namespace.channel_regex', 'invalid repeat count'],
  ['ping not above pong', { client: { ping_interval: '5s', pong_timeout: '5s' } }, 'client.ping_interval', 'pong_timeout'],
  ['personal namespace missing', { client: { subscribe_to_user_personal_channel: { enabled: true, personal_channel_namespace: 'personal' } } }, 'client.subscribe_to_user_personal_channel.personal_channel_namespace', 'not found'],
  ['personal single connection without presence', { client: { subscribe_to_user_personal_channel: { enabled: true, personal_channel_namespace: 'chat', single_connection: true } }, channel: { namespaces: [{ name: 'chat' }] } }, 'client.subscribe_to_user_personal_channel.single_connection', 'presence'],
  ['http api error mode', { http_api: { error_mode: 'loud' } }, 'http_api.error_mode', 'loud'],
  ['grpc api error mode', { grpc_api: { error_mode: 'loud' } }, 'grpc_api.error_mode', 'loud'],
  ['broker type', { broker: { enabled: true, type: 'kafka' } }, 'broker.type', 'kafka'],
  ['engine type', { engine: { type: 'nats' } }, 'engine.type', 'nats'],
  ['presence manager type', { presence_manager: { type: 'nats' } }, 'presence_manager.type', 'nats'],
  ['map broker type', { map_broker: { type: 'nats' } }, 'map_broker.type', 'nats'],
  ['redisnats needs unreleased features', { broker: { enabled: true, type: 'redisnats' } }, 'broker.type', 'enable_unreleased_features'],
  ['reserved proxy name', { proxies: [{ name: 'default', endpoint: 'http://a' }] }, 'proxies[0].name', 'reserved'],
  ['duplicate proxy name', { proxies: [{ name: 'p1', endpoint: 'http://a' }, { name: 'p1', endpoint: 'http://b' }] }, 'proxies[1].name', 'unique'],
  ['proxy without endpoint', { proxies: [{ name: 'p1' }] }, 'proxies[0].endpoint', 'endpoint not set'],
  ['status transform without code', { proxies: [{ name: 'p1', endpoint: 'http://a', http: { status_to_code_transforms: [{ status_code: 404 }] } }] }, 'proxies[0].http.status_to_code_transforms[0]', 'no error or disconnect code'],
  ['rpc namespace name', { rpc: { namespaces: [{ name: 'x' }] } }, 'rpc.namespaces[0].name', 'must match'],
  ['rpc proxy name', { rpc: { namespaces: [{ name: 'calc', proxy_name: 'nope' }] } }, 'rpc.namespaces[0].proxy_name', 'not found'],
  ['consumer name', { consumers: [{ name: 'bad-name', type: 'kafka' }] }, 'consumers[0].name', 'must match'],
  ['consumer type', { consumers: [{ name: 'c1', type: 'mqtt' }] }, 'consumers[0].type', 'mqtt'],
  ['enabled rabbitmq consumer without queue', { consumers: [{ name: 'c1', type: 'rabbitmq', enabled: true, rabbitmq: { url: 'amqp://localhost' } }] }, 'consumers[0].rabbitmq.queue', 'required'],
  ['enabled kafka consumer without brokers', { consumers: [{ name: 'c1', type: 'kafka', enabled: true, kafka: { topics: ['t'], consumer_group: 'g' } }] }, 'consumers[0].kafka.brokers', 'required'],
  ['map type without mode', ns({ subscription_type: 'map' }), 'channel.namespaces[0].map.mode', 'required'],
  ['persistent map with key ttl', ns({ subscription_type: 'map', map: { mode: 'persistent', key_ttl: '1m' } }), 'channel.namespaces[0].map.key_ttl', 'persistent'],
  ['ephemeral map with stream', ns({ subscription_type: 'map', map: { mode: 'ephemeral', key_ttl: '1m', stream_size: 5 } }), 'channel.namespaces[0].map.stream_size', 'ephemeral'],
  ['map client key', ns({ subscription_type: 'map', map: { mode: 'ephemeral', key_ttl: '1m', client_key: 'session' } }), 'channel.namespaces[0].map.client_key', 'session'],
  ['map client key with publish proxy', { proxies: [{ name: 'mp', endpoint: 'http://a' }], ...ns({ subscription_type: 'map', map: { mode: 'ephemeral', key_ttl: '1m', client_key: 'user_id', publish_proxy_enabled: true, publish_proxy_name: 'mp' } }) }, 'channel.namespaces[0].map.client_key', 'publish_proxy_enabled'],
  ['map client key with remove proxy', { proxies: [{ name: 'mp', endpoint: 'http://a' }], ...ns({ subscription_type: 'map', map: { mode: 'ephemeral', key_ttl: '1m', client_key: 'client_id', remove_proxy_enabled: true, remove_proxy_name: 'mp' } }) }, 'channel.namespaces[0].map.client_key', 'remove_proxy_enabled'],
  ['default map publish proxy without endpoint', ns({ subscription_type: 'map', map: { mode: 'ephemeral', key_ttl: '1m', publish_proxy_enabled: true } }), 'channel.proxy.map_publish.endpoint', 'endpoint not set'],
  ['map remove proxy name', ns({ subscription_type: 'map', map: { mode: 'ephemeral', key_ttl: '1m', remove_proxy_enabled: true, remove_proxy_name: 'nope' } }), 'channel.namespaces[0].map.remove_proxy_name', 'not found'],
  ['shared poll without key', { channel: { proxy: { shared_poll_refresh: { endpoint: 'http://a' } }, namespaces: [{ name: 'poll', subscription_type: 'shared_poll' }] } }, 'shared_poll.hmac_secret_key', 'required'],
  ['shared poll publish needs versioned', { shared_poll: { hmac_secret_key: 'k' }, channel: { proxy: { shared_poll_refresh: { endpoint: 'http://a' } }, namespaces: [{ name: 'poll', subscription_type: 'shared_poll', shared_poll: { publish_enabled: true } }] } }, 'channel.namespaces[0].shared_poll.publish_enabled', 'versioned'],
  ['presence prefix to missing namespace', ns({ subscription_type: 'map', map: { mode: 'ephemeral', key_ttl: '1m' }, map_clients_presence_channel_prefix: 'ghost:' }), 'channel.namespaces[0].map_clients_presence_channel_prefix', 'does not exist'],
  ['h2c without internal port', { http_server: { h2c_external: true } }, 'http_server.h2c_external', 'internal_port'],
  ['TLS listener without key', { http_server: { tls: { enabled: true, cert_pem: 'c.pem' } } }, 'http_server.tls', 'key_pem'],
  ['internal TLS without certificate', { http_server: { internal_port: '9001', internal_tls: { enabled: true, key_pem: 'k.pem' } } }, 'http_server.internal_tls', 'cert_pem'],
  ['webtransport without http3', { webtransport: { enabled: true } }, 'webtransport.enabled', 'http3'],
  ['uni transform without code', { uni_sse: { connect_code_to_http_response: { transforms: [{ to: { status_code: 400 } }] } } }, 'uni_sse.connect_code_to_http_response.transforms[0].code', 'code'],
  ['uni disconnect transform', { client: { connect_code_to_unidirectional_disconnect: { transforms: [{ code: 3501, to: {} }] } } }, 'client.connect_code_to_unidirectional_disconnect.transforms[0].to.code', 'disconnect code'],
];

describe('validation', () => {
  for (const [what, values, path, text] of INVALID) {
    it(`rejects ${what}`, () => {
      assert.throws(
        () => loadValues(values),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
          assert.equal(err.path, path);
          assert.ok(err.message.startsWith(path), err.message);
          assert.ok(err.message.includes(text), err.message);
          return true;
        },
      );
    });
  }

  it('accepts a rich valid configuration', () => {
    const r = loadValues({
      client: {
        token: { hmac_secret_key: 'k', audience_regex: '^(?P<tenant>acme|globex)$', user_id_claim: 'user_id' },
        subscription_token: { enabled: true, hmac_secret_key: 'k2' },
        ping_interval: '-1s',
        pong_timeout: '-2s',
        subscribe_to_user_personal_channel: { enabled: true, personal_channel_namespace: 'personal', single_connection: true },
        connect_code_to_unidirectional_disconnect: { enabled: true, transforms: [{ code: 3501, to: { code: 4501, reason: 'bad' } }] },
      },
      shared_poll: { hmac_secret_key: 'poll' },
      channel: {
        without_namespace: { presence: true, history_size: 10, history_ttl: '60s', force_recovery: true, force_recovery_mode: 'cache', auto_cache_recover: true },
        namespaces: [
          { name: 'personal', presence: true },
          { name: 'chat.room-1', channel_regex: '^[a-z]+$', allowed_delta_types: ['fossil'], publication_data_format: 'json_object' },
          { name: 'state', subscription_type: 'map', map: { mode: 'recoverable', key_ttl: '1m', stream_ttl: '2m', meta_ttl: '10m' }, map_clients_presence_channel_prefix: 'clients:' },
          { name: 'clients', subscription_type: 'map_clients', map: { mode: 'ephemeral', key_ttl: '30s' } },
          { name: 'poll', subscription_type: 'shared_poll', shared_poll: { proxy_name: 'backend', mode: 'versioned', publish_enabled: true } },
          { name: 'proxied', subscribe_proxy_enabled: true, subscribe_proxy_name: 'backend' },
        ],
      },
      proxies: [{ name: 'backend', endpoint: 'http://localhost:3000', http: { status_to_code_transforms: [{ status_code: 404, to_error: { code: 404, message: 'not found' } }] } }],
      rpc: { namespaces: [{ name: 'calc', proxy_enabled: true, proxy_name: 'backend' }] },
      consumers: [
        { name: 'outbox', type: 'postgresql', enabled: true, postgresql: { dsn: 'postgres://x', outbox_table_name: 'outbox' } },
        { name: 'disabled_kafka', type: 'kafka' },
        { name: 'rabbit', type: 'rabbitmq', enabled: true, rabbitmq: { url: 'amqp://localhost', queue: 'q' } },
      ],
      http_server: { h2c_external: true, internal_port: '9001' },
      broker: { enabled: true, type: 'redisnats' },
      enable_unreleased_features: true,
    });
    assert.deepEqual(r.unknownKeys, []);
    assert.equal(r.config.consumers[0]?.postgresql.num_partitions, 1);
    assert.equal(r.config.consumers[1]?.kafka.max_poll_records, 100);
    const rabbit = r.config.consumers[2]?.rabbitmq as Record<string, unknown>;
    assert.equal(rabbit.prefetch_count, 100);
    assert.equal(rabbit.method_header, 'centrifugo-method');
    assert.deepEqual(rabbit.publication_data_mode, {
      enabled: false,
      channels_header: 'centrifugo-channels',
      idempotency_key_header: 'centrifugo-idempotency-key',
      delta_header: 'centrifugo-delta',
      tags_header_prefix: 'centrifugo-tag-',
    });
  });

  it('accepts lifecycle notifications: named and default proxies, the state delay and its PRO alias, no warnings', () => {
    const r = loadValues({
      client: { proxy: { disconnect: { enabled: true, endpoint: 'http://localhost:3000/disconnect' } } },
      channel_state: { vacated_event_delay: '2s' },
      engine: { redis: { channel_state: { vacated_event_delay: '3s' } } },
      channel: {
        proxy: { state: { endpoint: 'http://localhost:3000/state' }, unsubscribe: { endpoint: 'http://localhost:3000/unsub' } },
        without_namespace: { presence: true, state_proxy_enabled: true, unsubscribe_proxy_enabled: true },
        namespaces: [{ name: 'room', presence: true, state_proxy_enabled: true, state_proxy_name: 'events', unsubscribe_proxy_enabled: true, unsubscribe_proxy_name: 'events' }],
      },
      proxies: [{ name: 'events', endpoint: 'http://localhost:3000/named' }],
    });
    assert.deepEqual(r.unknownKeys, []);
    assert.equal(r.config.channel_state.vacated_event_delay, 2000);
    assert.equal(r.config.engine.redis.channel_state.vacated_event_delay, 3000);
    assert.equal(r.config.channel.namespaces[0]?.state_proxy_name, 'events');
    assert.deepEqual(notSupportedWarnings(r.config), []);
    assert.equal(loadValues({}).config.channel_state.vacated_event_delay, 5000);
  });
});
