/**
 * Prometheus series of two gyre nodes on a Redis engine and Redis map broker (a throwaway
 * redis-server whose ACL lets Gyre's user SUBSCRIBE to some channels only): PUB/SUB failures
 * by kind (a refused SUBSCRIBE, an undecodable message, killed PUB/SUB connections), a
 * cross-node survey, and publishes the Redis broker suppressed, each with its exact value.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiResult } from '../helpers/api.js';
import { scrape, value, type Sample } from '../helpers/prom.js';
import { RawClient } from '../helpers/raw-ws.js';
import { redisCli, sparePort, startRedis, type RedisProcess } from '../helpers/redis-servers.js';
import { freePort, startGyre, type GyreProcess } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

const API_KEY = 'metrics-redis-key';
const PREFIX = 'gm';

describe('Redis PUB/SUB errors, cross-node surveys and Redis suppressions', { timeout: 90_000 }, () => {
  let redis: RedisProcess;
  const nodes: { gyre: GyreProcess; internal: string }[] = [];
  const raws: RawClient[] = [];

  before(async () => {
    redis = await startRedis(await sparePort());
    // Gyre's user may use only the control channels, the `news*` channels and map channels.
    await redisCli(redis.port, 'ACL', 'SETUSER', 'gyre', 'on', '>gyre-pw', '~*', 'resetchannels', `&${PREFIX}.control`, `&${PREFIX}.node.*`, `&${PREFIX}.client.news*`, `&${PREFIX}.map.*`, '+@all');
    const section = { address: [`redis://127.0.0.1:${redis.port}`], user: 'gyre', password: 'gyre-pw', prefix: PREFIX };
    for (let i = 0; i < 2; i++) {
      const internalPort = await freePort();
      const gyre = await startGyre({
        client: { insecure: true },
        http_api: { key: API_KEY },
        http_server: { internal_port: String(internalPort) },
        prometheus: { enabled: true },
        engine: { type: 'redis', redis: section },
        map_broker: { type: 'redis', redis: section },
        channel: { without_namespace: { history_size: 10, history_ttl: '60s' } },
      });
      const internal = `http://127.0.0.1:${internalPort}`;
      nodes.push({ gyre, internal });
      await waitFor(() => fetch(`${internal}/metrics`).then((r) => r.ok, () => false), 'internal port', 20_000);
    }
    for (const n of nodes) {
      await waitFor(async () => (await apiResult(`${n.internal}/api`, API_KEY, 'info', {})).nodes.length === 2, 'both nodes known', 20_000);
    }
  });
  after(async () => {
    for (const r of raws) await r.close();
    const codes: unknown[] = [];
    for (const n of nodes) codes.push(await n.gyre.stop());
    // Redis goes whatever the nodes answered, or the file would never end.
    await redis?.stop();
    assert.deepEqual(codes, nodes.map(() => 0));
  });

  const [A, B] = [0, 1];
  const metrics = (i: number): Promise<Sample[]> => scrape(`${nodes[i]!.internal}/metrics`);
  const api = (i: number, method: string, params: unknown): Promise<any> => apiResult(`${nodes[i]!.internal}/api`, API_KEY, method, params);
  const pubSubError = (subsystem: string, error: string) => [`centrifugo_${subsystem}_redis_pub_sub_errors`, { broker_name: '', error }] as const;
  const subscriber = async (i: number, channel: string): Promise<RawClient> => {
    const c = await RawClient.open(nodes[i]!.gyre.wsUrl);
    raws.push(c);
    await c.connect();
    const reply = await c.call({ subscribe: { channel } });
    assert.equal(reply.error, undefined, JSON.stringify(reply));
    return c;
  };

  it('times a survey of the other node', async () => {
    await subscriber(B, 'news');
    const channels = await api(A, 'channels', {});
    assert.deepEqual(channels.channels.news, { num_clients: 1 }, 'the channel lives on the other node only');
    const a = await metrics(A);
    assert.equal(value(a, 'centrifugo_node_survey_duration_seconds_histogram_count', { op: 'channels' }), 1);
    assert.equal(value(a, 'centrifugo_node_survey_duration_seconds_count', { op: 'channels' }), 1);
    assert.equal(value(a, 'centrifugo_node_action_count', { action: 'survey', channel_namespace: '' }), 1);
    assert.equal(value(await metrics(B), 'centrifugo_node_survey_duration_seconds_histogram_count', { op: 'channels' }), undefined, 'answering is not surveying');
  });

  it('counts a SUBSCRIBE Redis refused and a message that cannot be decoded', async () => {
    const before = await metrics(A);
    assert.equal(value(before, ...pubSubError('broker', 'subscribe_channel')), undefined, 'no series before a failure');

    const c = await RawClient.open(nodes[A]!.gyre.wsUrl);
    raws.push(c);
    await c.connect();
    c.send({ id: c.id(), subscribe: { channel: 'secret' } });
    await waitFor(async () => value(await metrics(A), ...pubSubError('broker', 'subscribe_channel')) === 1, 'the refused SUBSCRIBE counted', 10_000);

    // Garbage on a channel both nodes are subscribed to: each counts it once and keeps serving.
    const onA = await subscriber(A, 'news');
    await redisCli(redis.port, 'PUBLISH', `${PREFIX}.client.news`, 'not a frame');
    for (const i of [A, B]) await waitFor(async () => value(await metrics(i), ...pubSubError('broker', 'handle_client_message')) === 1, `node ${i} counted the bad message`, 10_000);
    await api(A, 'publish', { channel: 'news', data: { ok: 1 } });
    await onA.push((p) => p.pub?.data?.ok === 1, 'a publication after the bad message');
    assert.equal(value(await metrics(A), ...pubSubError('broker', 'subscribe_channel')), 1);
  });

  it('counts killed PUB/SUB connections of the broker and the map broker, which then resubscribe', async () => {
    const onA = await subscriber(A, 'news-after');
    // Every connection of Gyre's user goes: the command clients reconnect by themselves, the PUB/SUB ones are reopened.
    await redisCli(redis.port, 'CLIENT', 'KILL', 'USER', 'gyre');
    for (const i of [A, B]) {
      await waitFor(async () => {
        const s = await metrics(i);
        return value(s, ...pubSubError('broker', 'connection')) === 1 && value(s, ...pubSubError('map_broker', 'connection')) === 1;
      }, `node ${i} counted both lost connections`, 10_000);
    }
    // After the reconnect A is subscribed again: a publication through B reaches a client on A.
    await waitFor(async () => {
      // Commands fail while the command clients reconnect too.
      await api(B, 'publish', { channel: 'news-after', data: { again: 1 } }).catch(() => undefined);
      return onA.json.some((m) => m.push?.pub?.data?.again === 1);
    }, 'delivery after the reconnect', 15_000);
    const a = await metrics(A);
    assert.equal(value(a, ...pubSubError('broker', 'connection')), 1);
    assert.equal(value(a, ...pubSubError('map_broker', 'connection')), 1);
  });

  it('counts publishes the Redis broker suppressed, by reason', async () => {
    for (const params of [
      { idempotency_key: 'once' },
      { idempotency_key: 'once' },
      { version: 7 },
      { version: 6 },
    ]) {
      await api(A, 'publish', { channel: 'news-versioned', data: {}, ...params });
    }
    const a = await metrics(A);
    assert.equal(value(a, 'centrifugo_broker_publish_suppressed_count', { reason: 'idempotency', channel_namespace: '' }), 1);
    assert.equal(value(a, 'centrifugo_broker_publish_suppressed_count', { reason: 'version', channel_namespace: '' }), 1);
  });
});
