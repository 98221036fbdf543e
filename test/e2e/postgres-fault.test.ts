/**
 * A PostgreSQL restart under load, with two Gyre nodes on the PostgreSQL broker of a throwaway
 * server (the shared one on 5432 is never touched). Publishes during the outage must fail
 * (never a silent success), both nodes must come back by themselves, and a subscriber that
 * uses recovery must end up with every publication whose publish succeeded: zero lost.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { Centrifuge } from 'centrifuge';
import WebSocket from 'ws';
import { apiCall } from '../helpers/api.js';
import { startPgServer, type PgServer } from '../helpers/pg-server.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { sleep, waitEvent, waitFor } from '../helpers/wait.js';

const API_KEY = 'pg-fault-key';

let pgServer: PgServer;
let a: GyreProcess;
let b: GyreProcess;
let client: Centrifuge | undefined;

before(async () => {
  pgServer = await startPgServer();
  const cfg = {
    broker: { enabled: true, type: 'postgres', postgres: { dsn: pgServer.dsn, use_notify: true, num_shards: 2 } },
    client: { insecure: true },
    http_api: { key: API_KEY },
    log: { level: 'warn' },
    channel: { without_namespace: { history_size: 10000, history_ttl: '300s', force_recovery: true } },
  };
  // The first node creates the schema; the second finds it.
  a = await startGyre(cfg);
  b = await startGyre(cfg);
});

after(async () => {
  client?.disconnect();
  await Promise.all([a?.stop(), b?.stop()]);
  await pgServer?.destroy();
});

it('publishes during a PostgreSQL outage fail, and a recovering subscriber loses nothing that succeeded', { timeout: 90_000 }, async () => {
  const channel = `pgfault-${randomUUID()}`;
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
  await pgServer.stop();
  const failedBefore = failed;
  await waitFor(() => failed > failedBefore + 5, 'publishes failing during the outage', 10_000);
  // The subscriber drops out during the outage and comes back with recovery from PostgreSQL.
  client.disconnect();
  await pgServer.start();
  const okAfterRestart = succeeded.length;
  await waitFor(() => succeeded.length >= okAfterRestart + 50, 'publishes succeeding after the restart', 30_000);
  const resubscribed = waitEvent(sub, 'subscribed', { timeoutMs: 15_000 });
  client.connect();
  const ctx = await resubscribed;
  assert.equal(ctx.recovered, true, 'the subscriber recovered from PostgreSQL history');
  const okAfterRecovery = succeeded.length;
  await waitFor(() => succeeded.length >= okAfterRecovery + 20, 'live publishes after recovery', 20_000);
  running = false;
  await publisher;

  assert.ok(failed > 0, 'some publishes failed while PostgreSQL was down');
  await waitFor(() => succeeded.every((x) => received.includes(x)), 'every successful publication delivered', 20_000).catch(() => undefined);
  const missing = succeeded.filter((x) => !received.includes(x));
  assert.deepEqual(missing, [], `lost ${missing.length} of ${succeeded.length} successful publications`);
  const sorted = [...received].sort((x, y) => x - y);
  assert.deepEqual(received, sorted, 'publications arrive in order');
  assert.equal(new Set(received).size, received.length, 'no duplicates');

  // The outage is reported, but not once per failed call: no log storm.
  for (const node of [a, b]) {
    const lines = node.output().split('\n').filter((l) => /"level":"(warn|error)"/.test(l));
    assert.ok(lines.length <= 20, `${lines.length} warn/error lines for one outage:\n${lines.slice(0, 20).join('\n')}`);
  }
});

it('with skip_schema_init on a database without the schema, logs an error naming the missing table and fails publishes', async () => {
  const node = await startGyre({
    broker: { enabled: true, type: 'postgres', postgres: { dsn: pgServer.dsn, table_prefix: 'nothing_here', skip_schema_init: true } },
    client: { insecure: true },
    http_api: { key: API_KEY },
    log: { level: 'warn' },
  });
  try {
    await waitFor(() => /nothing_here_stream/.test(node.output()), 'a log line naming the missing table', 10_000);
    const res = await apiCall(node.apiUrl, API_KEY, 'publish', { channel: 'x', data: {} });
    assert.equal(res.body.error?.code, 100, 'no silent success without the schema');
  } finally {
    await node.stop();
  }
});
