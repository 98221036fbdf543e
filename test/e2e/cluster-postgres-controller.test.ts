/**
 * Two Gyre processes on the memory broker joined only by the PostgreSQL controller: node info,
 * the `channels` survey and user commands (disconnect, unsubscribe, subscribe, refresh) issued
 * through one node's API reach connections on the other. Publications do not cross nodes here.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { controllerNames, dropControllerSchema } from '../../src/brokers/postgres/index.js';
import { apiResult } from '../helpers/api.js';
import { SdkClients, subscribed } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { hmacToken } from '../helpers/tokens.js';
import { uniq, waitEvent, waitFor } from '../helpers/wait.js';

const DSN = 'postgres://postgres@127.0.0.1:5432/postgres';
const SECRET = 'pg-controller-secret';
const API_KEY = 'pg-controller-key';

describe('two nodes joined by the PostgreSQL controller', { timeout: 90_000 }, () => {
  let a: GyreProcess;
  let b: GyreProcess;
  let onA: SdkClients;
  let onB: SdkClients;
  const prefix = `gyre_e2e_${randomUUID().slice(0, 8)}`;

  before(async () => {
    const cfg = {
      client: { token: { hmac_secret_key: SECRET } },
      http_api: { key: API_KEY },
      channel: { without_namespace: { allow_subscribe_for_client: true } },
      controller: { enabled: true, type: 'postgres', postgres: { dsn: DSN, table_prefix: prefix } },
    };
    // Both start at once: the schema is created under an advisory lock.
    [a, b] = await Promise.all([startGyre(cfg), startGyre(cfg)]);
    onA = new SdkClients(a.wsUrl, 'json');
    onB = new SdkClients(b.wsUrl, 'json');
    for (const n of [a, b]) {
      await waitFor(async () => (await apiResult(n.apiUrl, API_KEY, 'info', {})).nodes.length === 2, `${n.base} sees two nodes`, 15_000);
    }
  });

  after(async () => {
    onA?.closeAll();
    onB?.closeAll();
    await Promise.all([a?.stop(), b?.stop()]);
    const direct = new pg.Client({ connectionString: DSN });
    await direct.connect();
    await dropControllerSchema(direct, controllerNames(prefix));
    await direct.end();
  });

  const userOn = async (clients: SdkClients, user: string) => clients.connected({ token: await hmacToken(SECRET, { sub: user }) });

  it('starts without a "not supported" warning for the controller, and info lists both nodes by name', async () => {
    assert.doesNotMatch(a.output() + b.output(), /controller: not supported/);
    const ids = new Set<string>();
    for (const n of [a, b]) {
      const info = await apiResult(n.apiUrl, API_KEY, 'info', {});
      for (const node of info.nodes) ids.add(node.uid);
    }
    assert.equal(ids.size, 2);
  });

  it('channels through either node counts subscribers on both', async () => {
    const channel = `room-${randomUUID()}`;
    await subscribed(await userOn(onA, uniq('u')), channel);
    await subscribed(await userOn(onB, uniq('u')), channel);
    for (const n of [a, b]) {
      const res = await apiResult(n.apiUrl, API_KEY, 'channels', { pattern: channel });
      assert.deepEqual(res.channels[channel], { num_clients: 2 }, `channels via ${n.base}`);
    }
  });

  it('unsubscribe and disconnect through node A reach a user on node B', async () => {
    const user = uniq('u');
    const channel = `cmd-${randomUUID()}`;
    const c = await userOn(onB, user);
    const { sub } = await subscribed(c, channel);
    const unsubscribed = waitEvent<{ code: number }>(sub, 'unsubscribed');
    await apiResult(a.apiUrl, API_KEY, 'unsubscribe', { user, channel });
    assert.equal((await unsubscribed).code, 2000);
    const gone = waitEvent<{ code: number }>(c, 'disconnected');
    await apiResult(a.apiUrl, API_KEY, 'disconnect', { user });
    assert.equal((await gone).code, 3503);
  });

  it('subscribe through node A adds a server-side subscription on node B', async () => {
    const user = uniq('u');
    const channel = `srv-${randomUUID()}`;
    const c = await userOn(onB, user);
    const got = waitEvent<{ channel: string }>(c, 'subscribed', { pred: (ctx) => ctx.channel === channel });
    await apiResult(a.apiUrl, API_KEY, 'subscribe', { user, channel });
    assert.equal((await got).channel, channel);
    const res = await apiResult(b.apiUrl, API_KEY, 'channels', { pattern: channel });
    assert.deepEqual(res.channels[channel], { num_clients: 1 });
  });

  it('refresh with expired:true through node A closes the connection on node B as expired (3005)', async () => {
    const user = uniq('u');
    const c = await userOn(onB, user);
    const reconnecting = waitEvent<{ code: number }>(c, 'connecting');
    await apiResult(a.apiUrl, API_KEY, 'refresh', { user, expired: true });
    assert.equal((await reconnecting).code, 3005);
  });

  it('keeps control messages in the PostgreSQL table named after the prefix', async () => {
    const direct = new pg.Client({ connectionString: DSN });
    await direct.connect();
    try {
      const { rows } = await direct.query(`SELECT count(*)::INT AS n FROM ${prefix}_controller_messages`);
      assert.ok(rows[0].n > 0);
    } finally {
      await direct.end();
    }
  });
});

describe('a node with skip_schema_init before the schema exists', { timeout: 60_000 }, () => {
  const prefix = `gyre_e2e_${randomUUID().slice(0, 8)}`;
  const nodes: GyreProcess[] = [];

  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    const direct = new pg.Client({ connectionString: DSN });
    await direct.connect();
    await dropControllerSchema(direct, controllerNames(prefix));
    await direct.end();
  });

  it('logs the missing table, keeps serving, and joins the cluster once another node created the schema', async () => {
    const cfg = (skip: boolean) => ({
      http_api: { key: API_KEY },
      controller: { enabled: true, type: 'postgres', postgres: { dsn: DSN, table_prefix: prefix, skip_schema_init: skip } },
    });
    const skipping = await startGyre(cfg(true));
    nodes.push(skipping);
    await waitFor(() => skipping.output().includes(`${prefix}_controller_messages does not exist`), 'error naming the table');
    const creator = await startGyre(cfg(false));
    nodes.push(creator);
    for (const n of nodes) {
      await waitFor(async () => (await apiResult(n.apiUrl, API_KEY, 'info', {})).nodes.length === 2, `${n.base} sees two nodes`, 20_000);
    }
  });
});
