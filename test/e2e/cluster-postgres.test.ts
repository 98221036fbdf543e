/**
 * Two Gyre processes on PostgreSQL alone (stream broker + controller, no Redis or NATS), with
 * official SDK clients: cross-node delivery, history and recovery through PostgreSQL, the
 * `channels` survey and a disconnect across nodes, and transactional publishing from the
 * application's own `pg` client with Centrifugo's SQL function (commit delivers, rollback
 * does not and uses no offset).
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { apiCall, apiResult } from '../helpers/api.js';
import { dropPgPrefix, SHARED_PG_DSN } from '../helpers/pg-server.js';
import { SdkClients, subscribed } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { hmacToken } from '../helpers/tokens.js';
import { collect, sleep, uniq, waitEvent, waitFor } from '../helpers/wait.js';

const SECRET = 'pg-cluster-secret';
const API_KEY = 'pg-cluster-key';

describe('two nodes on PostgreSQL alone', { timeout: 120_000 }, () => {
  let a: GyreProcess;
  let b: GyreProcess;
  let onA: SdkClients;
  const prefix = `gyre_pgc_${randomBytes(4).toString('hex')}`;
  const app = new pg.Client({ connectionString: SHARED_PG_DSN });

  before(async () => {
    const postgres = { dsn: SHARED_PG_DSN, table_prefix: prefix };
    const cfg = {
      log: { level: 'warn' },
      client: { token: { hmac_secret_key: SECRET } },
      http_api: { key: API_KEY },
      channel: {
        without_namespace: { history_size: 100, history_ttl: '300s', force_recovery: true, allow_subscribe_for_client: true },
        namespaces: [{ name: 'orders', history_size: 100, history_ttl: '300s', force_recovery: true, allow_subscribe_for_client: true }],
      },
      broker: { enabled: true, type: 'postgres', postgres: { ...postgres, use_notify: true } },
      controller: { enabled: true, type: 'postgres', postgres },
    };
    [a, b] = await Promise.all([startGyre(cfg), startGyre(cfg)]);
    onA = new SdkClients(a.wsUrl, 'json');
    for (const n of [a, b]) {
      await waitFor(async () => (await apiResult(n.apiUrl, API_KEY, 'info', {})).nodes.length === 2, `${n.base} sees two nodes`, 15_000);
    }
    await app.connect();
  });

  after(async () => {
    onA?.closeAll();
    await Promise.all([a?.stop(), b?.stop()]);
    await app.end().catch(() => undefined);
    await dropPgPrefix(SHARED_PG_DSN, prefix);
  });

  const userOnA = async (user: string) => onA.connected({ token: await hmacToken(SECRET, { sub: user }) });

  it('starts with no "not supported" warning for the broker or the controller', () => {
    assert.doesNotMatch(a.output() + b.output(), /not supported yet/);
  });

  it('delivers a publication made through node B to a subscriber on node A, and both nodes read its history', async () => {
    const channel = `news-${randomUUID()}`;
    const { sub } = await subscribed(await userOnA(uniq('u')), channel);
    const got = waitEvent(sub, 'publication');
    const res = await apiResult(b.apiUrl, API_KEY, 'publish', { channel, data: { text: 'hello' } });
    assert.equal(res.offset, 1);
    const ctx = await got;
    assert.deepEqual(ctx.data, { text: 'hello' });
    assert.equal(ctx.offset, 1);
    for (const n of [a, b]) {
      const h = await apiResult(n.apiUrl, API_KEY, 'history', { channel, limit: -1 });
      assert.deepEqual(
        h.publications.map((p: { data: unknown }) => p.data),
        [{ text: 'hello' }],
      );
      assert.equal(h.epoch, res.epoch);
    }
  });

  it('refuses data that is not JSON with a bad request (JSONB tables)', async () => {
    const res = await apiCall(b.apiUrl, API_KEY, 'publish', { channel: `bin-${randomUUID()}`, b64data: Buffer.from([0xff, 0x00, 0x01]).toString('base64') });
    assert.equal(res.body.error?.code, 107, res.text);
  });

  it('recovers what was published while the subscriber was away', async () => {
    const channel = `rec-${randomUUID()}`;
    const client = await userOnA(uniq('u'));
    const { sub } = await subscribed(client, channel);
    const pubs = collect(sub, 'publication');
    await apiResult(b.apiUrl, API_KEY, 'publish', { channel, data: { n: 1 } });
    await waitFor(() => pubs.length === 1, 'the first publication');
    client.disconnect();
    for (let n = 2; n <= 4; n++) await apiResult(b.apiUrl, API_KEY, 'publish', { channel, data: { n } });
    const again = waitEvent(sub, 'subscribed');
    client.connect();
    const ctx = await again;
    assert.equal(ctx.recovered, true);
    await waitFor(() => pubs.length === 4, 'the recovered publications');
    assert.deepEqual(
      pubs.map((p) => p.data.n),
      [1, 2, 3, 4],
    );
  });

  it('channels through node B sees the subscriber on node A; disconnect through node B reaches it', async () => {
    const user = uniq('u');
    const channel = `room-${randomUUID()}`;
    const client = await userOnA(user);
    await subscribed(client, channel);
    const res = await apiResult(b.apiUrl, API_KEY, 'channels', { pattern: channel });
    assert.deepEqual(res.channels[channel], { num_clients: 1 });
    const gone = waitEvent(client, 'disconnected');
    await apiResult(b.apiUrl, API_KEY, 'disconnect', { user, disconnect: { code: 4503, reason: 'bye' } });
    const ctx = await gone;
    assert.equal(ctx.code, 4503);
  });

  it('publishes from an application transaction with the SQL function: rollback never delivers, commit does, in commit order', async () => {
    const channel = `orders:${randomUUID()}`;
    const { sub } = await subscribed(await userOnA(uniq('u')), channel);
    const pubs = collect(sub, 'publication');
    const publish = (status: string) =>
      app.query(`SELECT * FROM ${prefix}_stream_publish(p_channel => $1, p_data => $2::jsonb, p_history_size => 100, p_history_ttl => '300 seconds')`, [
        channel,
        JSON.stringify({ status }),
      ]);

    await app.query('BEGIN');
    await publish('rolled back');
    await app.query('ROLLBACK');

    await app.query('BEGIN');
    const first = await publish('paid');
    await app.query('COMMIT');
    assert.equal(first.rows[0].out_channel_offset, '1', 'the rolled-back publish used no offset');

    await app.query('BEGIN');
    await publish('shipped');
    await sleep(300);
    assert.equal(pubs.length, 1, 'nothing is delivered before commit');
    await app.query('COMMIT');

    await waitFor(() => pubs.length === 2, 'both committed publications');
    await sleep(200);
    assert.deepEqual(
      pubs.map((p) => [p.data.status, p.offset]),
      [
        ['paid', 1],
        ['shipped', 2],
      ],
    );
    const h = await apiResult(b.apiUrl, API_KEY, 'history', { channel, limit: -1 });
    assert.deepEqual(
      h.publications.map((p: { data: { status: string } }) => p.data.status),
      ['paid', 'shipped'],
    );
  });
});
