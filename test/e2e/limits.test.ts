/**
 * Limits, expiry and token claim rules over raw WebSocket: per-user connection limit,
 * channel limits for client and server-side subscriptions, channel name length, history
 * and recovery caps, subscription expiry, token claims (expire_at, nbf, channel/user/client
 * binding), client-requested server-side subscriptions and publication data formats.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiResult } from '../helpers/api.js';
import { RawClient } from '../helpers/raw-ws.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { hmacToken, type Claims } from '../helpers/tokens.js';
import { uniq } from '../helpers/wait.js';

const SECRET = 'limits-secret';
const API_KEY = 'limits-key';
const nowSec = (): number => Math.floor(Date.now() / 1000);
const tok = (claims: Claims, ttl: number | null = 3600): Promise<string> => hmacToken(SECRET, claims, ttl);

describe('limits, expiry and claims', { timeout: 60_000, concurrency: true }, () => {
  let gyre: GyreProcess;
  before(async () => {
    const open = { allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true };
    gyre = await startGyre({
      client: {
        token: { hmac_secret_key: SECRET },
        allow_anonymous_connect_without_token: true,
        disallow_anonymous_connection_tokens: true,
        user_connection_limit: 2,
        channel_limit: 3,
        connect_include_server_time: true,
        presence_update_interval: '1s',
        expired_sub_close_delay: '500ms',
        history_max_publication_limit: 3,
        recovery_max_publication_limit: 2,
      },
      http_api: { key: API_KEY },
      channel: {
        without_namespace: { ...open, publication_data_format: 'json_object', allow_publish_for_client: true, allow_publish_for_anonymous: true },
        namespaces: [
          { name: 'hist', ...open, history_size: 10, history_ttl: '60s', force_recovery: true, allow_history_for_client: true, allow_history_for_anonymous: true },
          { name: 'priv', presence: true },
          { name: 'closed' },
        ],
      },
    });
  });
  after(() => gyre.stop());

  /** Opens a connection and sends connect; resolves with the reply or the close info. */
  async function connectWith(req: Record<string, unknown>): Promise<{ c: RawClient; reply?: any; closed?: { code: number; reason: string } }> {
    const c = await RawClient.open(gyre.wsUrl);
    const id = c.id();
    c.send({ id, connect: req });
    const reply = await c.waitUntil(() => c.json.find((m) => m.id === id) ?? (c.closeInfo ? null : undefined), 'connect reply or close');
    return reply === null ? { c, closed: c.closeInfo } : { c, reply };
  }

  it('connect result includes server time (connect_include_server_time)', async () => {
    const { c, reply } = await connectWith({});
    assert.ok(Math.abs(reply.connect.time - Date.now()) < 10_000, `time ${reply.connect.time}`);
    await c.close();
  });

  it('user_connection_limit: the third connection of a user is closed with 3504', async () => {
    const user = uniq('u');
    const first = await connectWith({ token: await tok({ sub: user }) });
    const second = await connectWith({ token: await tok({ sub: user }) });
    assert.ok(first.reply?.connect && second.reply?.connect);
    const third = await connectWith({ token: await tok({ sub: user }) });
    assert.deepEqual(third.closed, { code: 3504, reason: 'connection limit' });
    const other = await connectWith({ token: await tok({ sub: uniq('u') }) });
    assert.ok(other.reply?.connect, 'other users are not limited');
    await Promise.all([first.c.close(), second.c.close(), other.c.close()]);
  });

  it('disallow_anonymous_connection_tokens: a token with an empty sub is closed with 3507', async () => {
    const { closed } = await connectWith({ token: await tok({ sub: '' }) });
    assert.deepEqual(closed, { code: 3507, reason: 'permission denied' });
  });

  it('channel_limit 3: the fourth subscribe is error 106; server-side subscriptions over the limit close with 3505', async () => {
    const { c } = await connectWith({});
    for (let i = 0; i < 3; i++) assert.ok((await c.call({ subscribe: { channel: `hist:${uniq()}` } })).subscribe);
    assert.deepEqual(await c.call({ subscribe: { channel: `hist:${uniq()}` } }), { id: 5, error: { code: 106, message: 'limit exceeded' } });
    await c.close();
    const channels = Array.from({ length: 4 }, () => `hist:${uniq()}`);
    const { closed } = await connectWith({ token: await tok({ sub: uniq('u'), channels }) });
    assert.deepEqual(closed, { code: 3505, reason: 'channel limit' });
  });

  // centrifuge client.go Subscribe(): a server-side subscribe past ClientChannelLimit closes the
  // connection with DisconnectChannelLimit (3505), like too many server-side subs at connect.
  it('API subscribe past channel_limit closes the connection with 3505', async () => {
    const user = uniq('u');
    const { c } = await connectWith({ token: await tok({ sub: user }) });
    try {
      for (let i = 0; i < 3; i++) assert.ok((await c.call({ subscribe: { channel: `hist:${uniq()}` } })).subscribe);
      await apiResult(gyre.apiUrl, API_KEY, 'subscribe', { user, channel: `hist:${uniq()}` });
      assert.deepEqual(await c.waitClose(2000), { code: 3505, reason: 'channel limit' });
    } finally {
      c.ws.terminate();
    }
  });

  it('channel names longer than 255 bytes are error 107', async () => {
    const { c } = await connectWith({});
    assert.ok((await c.call({ subscribe: { channel: `hist:${'a'.repeat(250)}` } })).subscribe, '255 bytes are allowed');
    assert.deepEqual(await c.call({ subscribe: { channel: `hist:${'a'.repeat(251)}` } }), { id: 3, error: { code: 107, message: 'bad request' } });
    await c.close();
  });

  it('token claims: expire_at 0 never expires, expire_at in the past is 110, nbf in the future is 109', async () => {
    const never = await connectWith({ token: await tok({ sub: uniq('u'), expire_at: 0 }, 60) });
    assert.equal(never.reply.connect.expires, undefined);
    assert.equal(never.reply.connect.ttl, undefined);
    const later = await connectWith({ token: await tok({ sub: uniq('u'), expire_at: nowSec() + 120 }, 60) });
    assert.equal(later.reply.connect.expires, true);
    assert.ok(later.reply.connect.ttl > 100 && later.reply.connect.ttl <= 120);
    const past = await connectWith({ token: await tok({ sub: uniq('u'), expire_at: nowSec() - 5 }, 60) });
    assert.deepEqual(past.reply, { id: 1, error: { code: 110, message: 'expired' } });
    const nbf = await connectWith({ token: await tok({ sub: uniq('u'), nbf: nowSec() + 600 }, 3600) });
    assert.deepEqual(nbf.reply, { id: 1, error: { code: 109, message: 'token expired' } });
    await Promise.all([never.c.close(), later.c.close(), past.c.close(), nbf.c.close()]);
  });

  it('subscription tokens: channel, user or client mismatch → 3500; garbage → 103; expire_at past → 110', async () => {
    const user = uniq('u');
    const channel = `$priv:${uniq()}`;
    const mismatches: Claims[] = [
      { sub: user, channel: `$priv:${uniq()}` },
      { sub: 'someone-else', channel },
      { sub: user, channel, client: 'not-this-client' },
    ];
    for (const claims of mismatches) {
      const { c } = await connectWith({ token: await tok({ sub: user }) });
      c.send({ id: 2, subscribe: { channel, token: await tok(claims) } });
      assert.deepEqual(await c.waitClose(), { code: 3500, reason: 'invalid token' }, JSON.stringify(claims));
    }
    const { c, reply } = await connectWith({ token: await tok({ sub: user }) });
    assert.deepEqual(await c.call({ subscribe: { channel, token: 'garbage' } }), { id: 2, error: { code: 103, message: 'permission denied' } });
    assert.deepEqual(await c.call({ subscribe: { channel, token: await tok({ sub: user, channel, expire_at: nowSec() - 5 }) } }), { id: 3, error: { code: 110, message: 'expired' } });
    const bound = await c.call({ subscribe: { channel, token: await tok({ sub: user, channel, client: reply.connect.client }, 600) } });
    assert.equal(bound.subscribe.expires, true);
    assert.ok(bound.subscribe.ttl > 590 && bound.subscribe.ttl <= 600);
    await c.close();
  });

  it('a client-side subscription whose token is not refreshed gets unsubscribe push 2501', async () => {
    const user = uniq('u');
    const channel = `$priv:${uniq()}`;
    const { c } = await connectWith({ token: await tok({ sub: user }) });
    // Two seconds: exp is whole seconds, so a 1 s token can be expired on arrival on a loaded machine.
    const rep = await c.call({ subscribe: { channel, token: await tok({ sub: user, channel }, 2) } });
    assert.equal(rep.subscribe?.expires, true, JSON.stringify(rep));
    const push = await c.push((p) => p.channel === channel && p.unsubscribe, 'unsubscribe push', 5000);
    assert.deepEqual(push.unsubscribe, { code: 2501, reason: 'subscription expired' });
    const stats = await apiResult(gyre.apiUrl, API_KEY, 'presence_stats', { channel });
    assert.deepEqual(stats, { num_clients: 0, num_users: 0 }, 'the expired subscription left presence');
    assert.ok(c.isOpen);
    await c.close();
  });

  it('a server-side subscription (API subscribe with expire_at) that expires closes the connection with 3006', async () => {
    const user = uniq('u');
    const { c } = await connectWith({ token: await tok({ sub: user }) });
    const channel = `hist:${uniq()}`;
    assert.deepEqual(await apiResult(gyre.apiUrl, API_KEY, 'subscribe', { user, channel, expire_at: nowSec() + 1 }), {});
    const push = await c.push((p) => p.channel === channel && p.subscribe, 'subscribe push');
    assert.equal(push.subscribe.recoverable, true);
    assert.deepEqual(await c.waitClose(6000), { code: 3006, reason: 'subscription expired' });
  });

  it('ConnectRequest.subs: allowed channels become server-side subscriptions; unknown namespace → 3501', async () => {
    const allowed = `hist:${uniq()}`;
    const denied = `closed:${uniq()}`;
    const { c, reply } = await connectWith({ subs: { [allowed]: {}, [denied]: {} } });
    assert.deepEqual(Object.keys(reply.connect.subs), [allowed]);
    assert.equal(reply.connect.subs[allowed].recoverable, true);
    await c.close();
    const bad = await connectWith({ subs: { 'nowhere:x': {} } });
    assert.equal(bad.closed?.code, 3501);
    const tokenUnknown = await connectWith({ token: await tok({ sub: uniq('u'), channels: ['nowhere:x'] }) });
    assert.deepEqual(tokenUnknown.reply, { id: 1, error: { code: 102, message: 'unknown channel' } });
    await tokenUnknown.c.close();
  });

  it('history is capped by history_max_publication_limit (3)', async () => {
    const channel = `hist:${uniq()}`;
    for (let i = 1; i <= 5; i++) await apiResult(gyre.apiUrl, API_KEY, 'publish', { channel, data: { i } });
    const { c } = await connectWith({});
    assert.equal((await c.call({ history: { channel, limit: 10 } })).history.publications.length, 3);
    assert.equal((await c.call({ history: { channel, limit: -1 } })).history.publications.length, 3);
    assert.deepEqual(await c.call({ history: { channel, limit: 2, reverse: true, since: { offset: 0, epoch: '' } } }), { id: 4, error: { code: 107, message: 'bad request' } });
    await c.close();
  });

  it('recovery: within recovery_max_publication_limit recovers; beyond it, or with another epoch, recovered is false; flag 2 → 112', async () => {
    const channel = `hist:${uniq()}`;
    let epoch = '';
    for (let i = 1; i <= 5; i++) epoch = (await apiResult(gyre.apiUrl, API_KEY, 'publish', { channel, data: { i } })).epoch;
    const { c } = await connectWith({});
    const ok = await c.call({ subscribe: { channel, recover: true, offset: 3, epoch } });
    assert.deepEqual(ok.subscribe, {
      recoverable: true,
      epoch,
      publications: [
        { data: { i: 4 }, offset: 4 },
        { data: { i: 5 }, offset: 5 },
      ],
      recovered: true,
      offset: 3,
      positioned: true,
      was_recovering: true,
    });
    await c.call({ unsubscribe: { channel } });
    const tooMany = await c.call({ subscribe: { channel, recover: true, offset: 2, epoch } });
    assert.equal(tooMany.subscribe.recovered, undefined);
    assert.equal(tooMany.subscribe.was_recovering, true);
    assert.equal(tooMany.subscribe.offset, 5);
    assert.equal(tooMany.subscribe.publications, undefined);
    await c.call({ unsubscribe: { channel } });
    const otherEpoch = await c.call({ subscribe: { channel, recover: true, offset: 3, epoch: 'other' } });
    assert.equal(otherEpoch.subscribe.recovered, undefined);
    assert.equal(otherEpoch.subscribe.epoch, epoch);
    await c.call({ unsubscribe: { channel } });
    assert.deepEqual(await c.call({ subscribe: { channel, recover: true, offset: 3, epoch: 'other', flag: 3 } }), { id: 8, error: { code: 112, message: 'unrecoverable position' } });
    await c.close();
  });

  it('publication_data_format json_object: arrays and strings are 107, objects pass', async () => {
    const { c } = await connectWith({});
    assert.deepEqual(await c.call({ publish: { channel: 'plain', data: [1, 2] } }), { id: 2, error: { code: 107, message: 'bad request' } });
    assert.deepEqual(await c.call({ publish: { channel: 'plain', data: 'text' } }), { id: 3, error: { code: 107, message: 'bad request' } });
    assert.deepEqual(await c.call({ publish: { channel: 'plain', data: { ok: 1 } } }), { id: 4, publish: {} });
    await c.close();
  });
});
