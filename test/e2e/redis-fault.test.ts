/**
 * A Redis restart under load, with two Gyre nodes on the Redis engine. Redis keeps an
 * append-only file, so history survives the restart. Publishes during the outage must fail
 * (never a silent success), both nodes must come back by themselves, and a subscriber that
 * uses recovery must end up with every publication whose publish succeeded: zero lost.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { Centrifuge } from 'centrifuge';
import WebSocket from 'ws';
import { apiCall } from '../helpers/api.js';
import { sparePort, startRedis, type RedisProcess } from '../helpers/redis-servers.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { sleep, waitEvent, waitFor } from '../helpers/wait.js';

const API_KEY = 'fault-key';
const persistent = ['--appendonly', 'yes', '--appendfsync', 'always'];

let redisPort = 0;
let redisDir = '';
let redis: RedisProcess | undefined;
let a: GyreProcess;
let b: GyreProcess;
let client: Centrifuge | undefined;

before(async () => {
  redisPort = await sparePort();
  redisDir = mkdtempSync(join(tmpdir(), 'gyre-fault-redis-'));
  redis = await startRedis(redisPort, persistent, redisDir);
  const cfg = {
    engine: { type: 'redis', redis: { address: [`redis://127.0.0.1:${redisPort}`], prefix: `fault-${randomUUID().slice(0, 8)}` } },
    client: { insecure: true },
    http_api: { key: API_KEY },
    channel: { without_namespace: { history_size: 10000, history_ttl: '300s', force_recovery: true } },
  };
  [a, b] = await Promise.all([startGyre(cfg), startGyre(cfg)]);
});

after(async () => {
  client?.disconnect();
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.kill(true);
  rmSync(redisDir, { recursive: true, force: true });
});

it('publishes during a Redis outage fail, and a recovering subscriber loses nothing that succeeded', async () => {
  const channel = `fault-${randomUUID()}`;
  client = new Centrifuge(a.wsUrl, { websocket: WebSocket, minReconnectDelay: 100, maxReconnectDelay: 500 });
  client.on('error', () => undefined);
  const sub = client.newSubscription(channel);
  const received: number[] = [];
  sub.on('publication', (ctx) => received.push((ctx.data as { n: number }).n));
  const ready = waitEvent(sub, 'subscribed');
  sub.subscribe();
  client.connect();
  await ready;

  const succeeded: number[] = [];
  let failed = 0;
  let n = 0;
  let running = true;
  const publisher = (async () => {
    while (running) {
      n++;
      try {
        const res = await apiCall(b.apiUrl, API_KEY, 'publish', { channel, data: { n } });
        if (res.status === 200 && res.body.result) succeeded.push(n);
        else failed++;
      } catch {
        failed++;
      }
      await sleep(5);
    }
  })();

  await waitFor(() => succeeded.length >= 50, 'publishes before the outage', 10_000);
  await redis!.kill(false);
  const failedBefore = failed;
  await waitFor(() => failed > failedBefore + 5, 'publishes failing during the outage', 10_000);
  redis = await startRedis(redisPort, persistent, redisDir);
  const okAfterRestart = succeeded.length;
  await waitFor(() => succeeded.length >= okAfterRestart + 50, 'publishes succeeding after the restart', 20_000);
  running = false;
  await publisher;

  assert.ok(failed > 0, 'some publishes failed while Redis was down');
  await waitFor(() => succeeded.every((x) => received.includes(x)), 'every successful publication delivered', 20_000).catch(() => undefined);
  const missing = succeeded.filter((x) => !received.includes(x));
  assert.deepEqual(missing, [], `lost ${missing.length} of ${succeeded.length} successful publications`);
  const sorted = [...received].sort((x, y) => x - y);
  assert.deepEqual(received, sorted, 'publications arrive in order');
  assert.equal(new Set(received).size, received.length, 'no duplicates');

  // The outage is reported, but not once per failed call: no log storm.
  for (const node of [a, b]) {
    const lines = node.output().split('\n').filter((l) => /"level":"(warn|error)"/.test(l));
    assert.ok(lines.length <= 10, `${lines.length} warn/error lines for one outage:\n${lines.slice(0, 10).join('\n')}`);
  }
});

it('starts while Redis is unreachable, serves local clients, and connects once Redis is up', async () => {
  const port = await sparePort();
  const dir = mkdtempSync(join(tmpdir(), 'gyre-late-redis-'));
  const node = await startGyre({
    engine: { type: 'redis', redis: { address: [`redis://127.0.0.1:${port}`], prefix: `late-${randomUUID().slice(0, 8)}` } },
    client: { insecure: true },
    http_api: { key: API_KEY },
  });
  let late: RedisProcess | undefined;
  const c = new Centrifuge(node.wsUrl, { websocket: WebSocket, minReconnectDelay: 100, maxReconnectDelay: 500 });
  c.on('error', () => undefined);
  try {
    const connected = waitEvent(c, 'connected');
    c.connect();
    await connected;
    const down = await apiCall(node.apiUrl, API_KEY, 'publish', { channel: 'late', data: { n: 0 } });
    assert.equal(down.body.error?.code, 100, 'a publish without Redis is an error, not a silent success');
    late = await startRedis(port, [], dir);
    const sub = c.newSubscription('late');
    const subscribed = waitEvent(sub, 'subscribed', { timeoutMs: 15_000 });
    sub.subscribe();
    await subscribed;
    const got = waitEvent<{ data: unknown }>(sub, 'publication');
    await waitFor(async () => (await apiCall(node.apiUrl, API_KEY, 'publish', { channel: 'late', data: { n: 1 } })).body.result, 'publish succeeds', 15_000);
    assert.deepEqual((await got).data, { n: 1 });
  } finally {
    c.disconnect();
    await node.stop();
    await late?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
