/**
 * The SDK compatibility suite: the official `centrifuge` client (JSON or Protobuf build)
 * against one real `gyre` process. Each protocol's test file calls sdkSuite() once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { apiResult } from './api.js';
import { SdkClients, subscribed, subscribeFails, type Protocol } from './sdk.js';
import { startGyre, type GyreProcess } from './server-process.js';
import { corruptSignature, hmacToken, type Claims } from './tokens.js';
import { collect, sleep, uniq, waitEvent, waitFor } from './wait.js';

export const SECRET = 'e2e-hmac-secret-0123456789abcdef';
export const API_KEY = 'e2e-api-key';

/** The configuration of the SDK suite's server. */
export function sdkServerConfig(): Record<string, unknown> {
  const hist = { history_size: 100, history_ttl: '300s' };
  return {
    client: {
      token: { hmac_secret_key: SECRET },
      allow_anonymous_connect_without_token: true,
      expired_close_delay: '1s',
      expired_sub_close_delay: '1s',
      subscribe_to_user_personal_channel: { enabled: true, personal_channel_namespace: 'personal' },
    },
    rpc: { ping: { enabled: true } },
    http_api: { key: API_KEY },
    channel: {
      namespaces: [
        {
          name: 'chat',
          presence: true,
          join_leave: true,
          force_push_join_leave: true,
          allow_subscribe_for_client: true,
          allow_subscribe_for_anonymous: true,
          allow_publish_for_client: true,
          allow_publish_for_anonymous: true,
          allow_presence_for_client: true,
          allow_presence_for_anonymous: true,
          allow_history_for_client: true,
          allow_positioning: true,
          allow_recovery: true,
          ...hist,
        },
        { name: 'hist', force_recovery: true, force_positioning: true, allow_subscribe_for_client: true, allow_history_for_client: true, ...hist },
        { name: 'personal', presence: true },
        { name: 'room', allow_user_limited_channels: true },
        { name: 'priv', presence: true },
        { name: 'feed', ...hist },
        { name: 'uni', channel_regex: '^[a-zé0-9]+$', allow_subscribe_for_client: true },
        { name: 'locked', presence: true, ...hist },
      ],
    },
  };
}

const tok = (user: string, extra: Claims = {}, ttlSec: number | null = 3600): Promise<string> => hmacToken(SECRET, { sub: user, ...extra }, ttlSec);
const nowSec = (): number => Math.floor(Date.now() / 1000);

export function sdkSuite(protocol: Protocol): void {
  let gyre: GyreProcess;
  // The Protobuf SDK carries payloads as bytes: the application encodes and decodes JSON itself.
  const enc = (v: unknown): any => (protocol === 'json' ? v : new TextEncoder().encode(JSON.stringify(v)));
  const dec = (d: unknown): any => (protocol === 'json' || d === undefined ? d : JSON.parse(Buffer.from(d as Uint8Array).toString('utf8')));
  const publish = (channel: string, data: unknown): Promise<any> => apiResult(gyre.apiUrl, API_KEY, 'publish', { channel, data });

  /** Clients made through this are disconnected when the test ends. */
  const clientsFor = (t: TestContext): SdkClients => {
    const c = new SdkClients(gyre.wsUrl, protocol);
    t.after(() => c.closeAll());
    return c;
  };

  describe(`centrifuge SDK (${protocol}) against gyre`, { timeout: 60_000 }, () => {
    before(async () => {
      gyre = await startGyre(sdkServerConfig());
    });
    after(async () => {
      const code = await gyre.stop();
      assert.equal(code, 0, `graceful shutdown should exit 0; output:\n${gyre.output().slice(-4000)}`);
    });

    describe('connecting', () => {
      it('connects with an HMAC token: user and token info appear in presence', async (t) => {
        const cl = clientsFor(t);
        const c = cl.make({ token: await tok('42', { info: { name: 'Alice' } }) });
        const connected = waitEvent(c, 'connected');
        c.connect();
        const ctx = await connected;
        assert.equal(typeof ctx.client, 'string');
        assert.ok(ctx.client.length > 0);
        assert.equal(ctx.transport, 'websocket');
        const { sub } = await subscribed(c, `chat:${uniq()}`);
        const pres = await sub.presence();
        const entries = Object.entries(pres.clients);
        assert.equal(entries.length, 1);
        const [clientId, info] = entries[0]!;
        assert.equal(clientId, ctx.client);
        assert.equal(info.user, '42');
        assert.equal(info.client, ctx.client);
        assert.deepEqual(dec(info.connInfo), { name: 'Alice' });
      });

      it('connects anonymously without a token (allow_anonymous_connect_without_token)', async (t) => {
        const cl = clientsFor(t);
        const c = await cl.connected();
        const { sub } = await subscribed(c, `chat:${uniq()}`);
        const pres = await sub.presence();
        const infos = Object.values(pres.clients);
        assert.equal(infos.length, 1);
        assert.equal(infos[0]!.user, '');
      });

      it('a token with a wrong signature is disconnected with 3500', async (t) => {
        const cl = clientsFor(t);
        const c = cl.make({ token: corruptSignature(await tok('42')) });
        const disconnected = waitEvent(c, 'disconnected');
        const connected = collect(c, 'connected');
        c.connect();
        const ctx = await disconnected;
        assert.equal(ctx.code, 3500);
        assert.equal(ctx.reason, 'invalid token');
        assert.equal(connected.length, 0);
      });

      it('an expired token gets 109, then getToken supplies a fresh one and the client connects', async (t) => {
        const cl = clientsFor(t);
        let calls = 0;
        const c = cl.make({
          token: await tok('42', { exp: nowSec() - 30 }, null),
          getToken: async () => {
            calls++;
            return tok('42');
          },
        });
        const errors = collect(c, 'error');
        const connected = waitEvent(c, 'connected');
        c.connect();
        await connected;
        assert.equal(calls, 1);
        assert.ok(
          errors.some((e) => e.type === 'connect' && e.error.code === 109),
          `expected a connect error 109, got ${JSON.stringify(errors)}`,
        );
      });

      it('server-side subscription to the personal channel (subscribe_to_user_personal_channel)', async (t) => {
        const cl = clientsFor(t);
        const user = uniq('u');
        const c = cl.make({ token: await tok(user) });
        const subs = collect(c, 'subscribed');
        const pubs = collect(c, 'publication');
        c.connect();
        const channel = `personal:#${user}`;
        await waitFor(() => subs.find((s) => s.channel === channel), `subscribed to ${channel}`);
        await publish(channel, { note: 'for you' });
        const pub = await waitFor(() => pubs.find((p) => p.channel === channel), 'personal publication');
        assert.deepEqual(dec(pub.data), { note: 'for you' });
      });

      it('server-side subscriptions from the token "channels" claim', async (t) => {
        const cl = clientsFor(t);
        const channel = `feed:${uniq()}`;
        const c = cl.make({ token: await tok(uniq('u'), { channels: [channel] }) });
        const subs = collect(c, 'subscribed');
        const pubs = collect(c, 'publication');
        c.connect();
        await waitFor(() => subs.find((s) => s.channel === channel), `server-side subscribed to ${channel}`);
        await publish(channel, { n: 1 });
        await publish(channel, { n: 2 });
        await waitFor(() => pubs.filter((p) => p.channel === channel).length === 2, 'two publications');
        assert.deepEqual(
          pubs.filter((p) => p.channel === channel).map((p) => dec(p.data)),
          [{ n: 1 }, { n: 2 }],
        );
      });

      it('server-side subscription with recovery: missed publications are recovered on reconnect', async (t) => {
        const cl = clientsFor(t);
        const channel = `hist:${uniq()}`;
        const c = cl.make({ token: await tok(uniq('u'), { channels: [channel] }) });
        const subs = collect(c, 'subscribed');
        const pubs = collect(c, 'publication');
        const up = waitEvent(c, 'connected');
        c.connect();
        await up;
        const first = await waitFor(() => subs.find((s) => s.channel === channel), 'server-side subscribed');
        assert.equal(first.recoverable, true);
        await publish(channel, { n: 1 });
        await waitFor(() => pubs.length === 1, 'first publication');
        const down = waitEvent(c, 'disconnected');
        c.disconnect();
        await down;
        await publish(channel, { n: 2 });
        await publish(channel, { n: 3 });
        subs.length = 0;
        c.connect();
        const again = await waitFor(() => subs.find((s) => s.channel === channel), 'server-side resubscribed');
        assert.equal(again.wasRecovering, true);
        assert.equal(again.recovered, true);
        await waitFor(() => pubs.length === 3, 'recovered publications');
        assert.deepEqual(pubs.map((p) => [p.channel, p.offset, dec(p.data).n]), [
          [channel, 1, 1],
          [channel, 2, 2],
          [channel, 3, 3],
        ]);
      });

      it('server-side subscriptions from the token "subs" claim carry their data', async (t) => {
        const cl = clientsFor(t);
        const channel = `feed:${uniq()}`;
        const c = cl.make({ token: await tok(uniq('u'), { subs: { [channel]: { data: { welcome: true } } } }) });
        const subs = collect(c, 'subscribed');
        const pubs = collect(c, 'publication');
        c.connect();
        const ctx = await waitFor(() => subs.find((s) => s.channel === channel), `server-side subscribed to ${channel}`);
        assert.deepEqual(dec(ctx.data), { welcome: true });
        await publish(channel, { hello: 'subs' });
        const pub = await waitFor(() => pubs.find((p) => p.channel === channel), 'publication');
        assert.deepEqual(dec(pub.data), { hello: 'subs' });
      });
    });

    describe('channels', () => {
      it('subscribe, publish from the client, receive with publisher info; API publications too', async (t) => {
        const cl = clientsFor(t);
        const channel = `chat:${uniq()}`;
        const a = await cl.connected({ token: await tok('alice') });
        const b = await cl.connected();
        const { sub: subA } = await subscribed(a, channel);
        const { sub: subB } = await subscribed(b, channel);
        const gotA = collect(subA, 'publication');
        const gotB = collect(subB, 'publication');
        await subA.publish(enc({ text: 'hi' }));
        await waitFor(() => gotA.length === 1 && gotB.length === 1, 'publication at both subscribers');
        assert.equal(gotB[0].channel, channel);
        assert.deepEqual(dec(gotB[0].data), { text: 'hi' });
        assert.equal(gotB[0].info.user, 'alice');
        assert.deepEqual(dec(gotA[0].data), { text: 'hi' });
        await publish(channel, { from: 'api' });
        await waitFor(() => gotA.length === 2 && gotB.length === 2, 'API publication at both subscribers');
        assert.deepEqual(dec(gotB[1].data), { from: 'api' });
        assert.equal(gotB[1].info, undefined);
      });

      it('subscriptions created before connect travel in the connect frame and all succeed', async (t) => {
        const cl = clientsFor(t);
        const c = cl.make({ token: await tok('batch') });
        const channels = Array.from({ length: 5 }, () => `chat:${uniq()}`);
        const subs = channels.map((ch) => c.newSubscription(ch));
        const ready = subs.map((sub) => waitEvent(sub, 'subscribed'));
        for (const sub of subs) sub.subscribe();
        c.connect();
        const ctxs = await Promise.all(ready);
        assert.deepEqual(ctxs.map((x) => x.channel), channels);
        const stats = await apiResult(gyre.apiUrl, API_KEY, 'channels', { pattern: 'chat:*' });
        for (const ch of channels) assert.deepEqual(stats.channels[ch], { num_clients: 1 });
      });

      it('the "since" option recovers from a known position on the first subscribe', async (t) => {
        const cl = clientsFor(t);
        const channel = `chat:${uniq()}`;
        let epoch = '';
        for (let i = 1; i <= 4; i++) epoch = (await publish(channel, { i })).epoch;
        const c = await cl.connected({ token: await tok('since') });
        const sub = c.newSubscription(channel, { recoverable: true, since: { offset: 2, epoch } });
        const got = collect(sub, 'publication');
        const ready = waitEvent(sub, 'subscribed');
        sub.subscribe();
        const ctx = await ready;
        assert.equal(ctx.recovered, true);
        assert.equal(ctx.wasRecovering, true);
        await waitFor(() => got.length === 2, 'publications after the position');
        assert.deepEqual(got.map((p) => [p.offset, dec(p.data).i]), [[3, 3], [4, 4]]);
      });

      it('presence and presence stats', async (t) => {
        const cl = clientsFor(t);
        const channel = `chat:${uniq()}`;
        const clients = await Promise.all([cl.connected({ token: await tok('p1') }), cl.connected({ token: await tok('p2') }), cl.connected({ token: await tok('p1') })]);
        for (const c of clients) await subscribed(c, channel);
        const stats = await clients[0]!.presenceStats(channel);
        assert.deepEqual(stats, { numClients: 3, numUsers: 2 });
        const pres = await clients[1]!.presence(channel);
        assert.deepEqual(Object.values(pres.clients).map((i) => i.user).sort(), ['p1', 'p1', 'p2']);
      });

      it('history with limit, since and reverse', async (t) => {
        const cl = clientsFor(t);
        const channel = `hist:${uniq()}`;
        let epoch = '';
        for (let i = 1; i <= 5; i++) {
          const r = await publish(channel, { i });
          assert.equal(r.offset, i);
          epoch = r.epoch;
        }
        assert.ok(epoch !== '');
        const c = await cl.connected({ token: await tok('h') });
        const first = await c.history(channel, { limit: 2 });
        assert.deepEqual(first.publications.map((p) => [p.offset, dec(p.data).i]), [[1, 1], [2, 2]]);
        assert.equal(first.offset, 5);
        assert.equal(first.epoch, epoch);
        const since = await c.history(channel, { limit: 10, since: { offset: 3, epoch } });
        assert.deepEqual(since.publications.map((p) => p.offset), [4, 5]);
        const rev = await c.history(channel, { limit: 2, reverse: true });
        assert.deepEqual(rev.publications.map((p) => p.offset), [5, 4]);
        const pos = await c.history(channel);
        assert.deepEqual(pos.publications, []);
        assert.equal(pos.offset, 5);
        assert.equal(pos.epoch, epoch);
        await assert.rejects(c.history(channel, { limit: 10, since: { offset: 1, epoch: 'not-the-epoch' } }), (e: any) => e.code === 112);
      });

      it('recovery after reconnect: missed publications arrive in order, recovered:true', async (t) => {
        const cl = clientsFor(t);
        const channel = `hist:${uniq()}`;
        const c = await cl.connected({ token: await tok('r') });
        const { sub, ctx } = await subscribed(c, channel);
        assert.equal(ctx.recoverable, true);
        assert.equal(ctx.positioned, true);
        const got = collect(sub, 'publication');
        await publish(channel, { n: 1 });
        await waitFor(() => got.length === 1, 'first publication');
        const down = waitEvent(c, 'disconnected');
        c.disconnect();
        await down;
        for (let n = 2; n <= 4; n++) await publish(channel, { n });
        const again = waitEvent(sub, 'subscribed');
        c.connect();
        const rctx = await again;
        assert.equal(rctx.wasRecovering, true);
        assert.equal(rctx.recovered, true);
        await waitFor(() => got.length === 4, 'recovered publications');
        await publish(channel, { n: 5 });
        await waitFor(() => got.length === 5, 'live publication after recovery');
        await sleep(50);
        assert.deepEqual(got.map((p) => [p.offset, dec(p.data).n]), [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5]]);
      });

      it('positioning: requested in an allow_positioning namespace, forced in force_positioning', async (t) => {
        const cl = clientsFor(t);
        const channel = `chat:${uniq()}`;
        await publish(channel, { a: 1 });
        const top = await publish(channel, { a: 2 });
        const c = await cl.connected({ token: await tok('pos') });
        const { ctx } = await subscribed(c, channel, { positioned: true });
        assert.equal(ctx.positioned, true);
        assert.equal(ctx.recoverable, false);
        assert.deepEqual(ctx.streamPosition, { offset: 2, epoch: top.epoch });
        const other = `chat:${uniq()}`;
        const { ctx: plain } = await subscribed(c, other);
        assert.equal(plain.positioned, false);
        assert.equal(plain.streamPosition, undefined);
        const { ctx: forced } = await subscribed(c, `hist:${uniq()}`);
        assert.equal(forced.positioned, true);
        assert.equal(forced.streamPosition?.offset, 0);
      });

      it('join and leave with force_push_join_leave', async (t) => {
        const cl = clientsFor(t);
        const channel = `chat:${uniq()}`;
        const a = await cl.connected({ token: await tok('watcher') });
        const { sub } = await subscribed(a, channel);
        const joins = collect(sub, 'join');
        const leaves = collect(sub, 'leave');
        const b = cl.make({ token: await tok('bob') });
        const bConnected = waitEvent(b, 'connected');
        b.connect();
        const bCtx = await bConnected;
        const { sub: subB } = await subscribed(b, channel);
        const join = await waitFor(() => joins.find((j) => j.info.user === 'bob'), 'join of bob');
        assert.equal(join.channel, channel);
        assert.equal(join.info.client, bCtx.client);
        subB.unsubscribe();
        const leave = await waitFor(() => leaves.find((l) => l.info.user === 'bob'), 'leave of bob');
        assert.equal(leave.info.client, bCtx.client);
      });

      it('user-limited channel: the listed user subscribes, others get 103', async (t) => {
        const cl = clientsFor(t);
        const room = uniq();
        const u42 = await cl.connected({ token: await tok('42') });
        await subscribed(u42, `room:${room}#42`);
        const u43 = await cl.connected({ token: await tok('43') });
        const fail = await subscribeFails(u43, `room:${room}#42`);
        assert.equal(fail.code, 103);
        await subscribed(u43, `room:${room}#42,43`);
      });

      it('namespace rules: 102 unknown namespace, 107 invalid name, channel_regex, 103 without permissions', async (t) => {
        const cl = clientsFor(t);
        const c = await cl.connected({ token: await tok('ns') });
        assert.equal((await subscribeFails(c, `nope:${uniq()}`)).code, 102);
        assert.equal((await subscribeFails(c, `chat:café${uniq()}`)).code, 107);
        await subscribed(c, `uni:café${uniq()}`);
        assert.equal((await subscribeFails(c, `uni:ABC${uniq()}`)).code, 107);
        const locked = `locked:${uniq()}`;
        assert.equal((await subscribeFails(c, locked)).code, 103);
        await assert.rejects(c.publish(locked, enc({ x: 1 })), (e: any) => e.code === 103);
        await assert.rejects(c.presence(locked), (e: any) => e.code === 103);
        await assert.rejects(c.history(locked, { limit: 1 }), (e: any) => e.code === 103);
        await assert.rejects(c.publish(`nope:${uniq()}`, enc({ x: 1 })), (e: any) => e.code === 102);
        await assert.rejects(c.presence(`hist:${uniq()}`), (e: any) => e.code === 108);
        // The connection is still usable after all these errors.
        await subscribed(c, `chat:${uniq()}`);
      });

      it('private channel: a subscription token is required and accepted', async (t) => {
        const cl = clientsFor(t);
        const channel = `$priv:${uniq()}`;
        const c = await cl.connected({ token: await tok('sub-user') });
        assert.equal((await subscribeFails(c, channel)).code, 103);
        const subToken = await hmacToken(SECRET, { sub: 'sub-user', channel, info: { role: 'reader' } });
        const { sub } = await subscribed(c, channel, { token: subToken });
        const pres = await apiResult(gyre.apiUrl, API_KEY, 'presence', { channel });
        const info = Object.values(pres.presence as Record<string, any>)[0];
        assert.equal(info.user, 'sub-user');
        assert.deepEqual(info.chan_info, { role: 'reader' });
        const got = collect(sub, 'publication');
        await publish(channel, { secret: 1 });
        await waitFor(() => got.length === 1, 'private publication');
      });

      it('an expired subscription token gets 109 and getToken supplies a fresh one', async (t) => {
        const cl = clientsFor(t);
        const channel = `$priv:${uniq()}`;
        const c = await cl.connected({ token: await tok('sub-user') });
        let calls = 0;
        const { ctx } = await subscribed(c, channel, {
          token: await hmacToken(SECRET, { sub: 'sub-user', channel, exp: nowSec() - 30 }, null),
          getToken: async (tctx) => {
            calls++;
            assert.equal(tctx.channel, channel);
            return hmacToken(SECRET, { sub: 'sub-user', channel });
          },
        });
        assert.equal(ctx.channel, channel);
        assert.equal(calls, 1);
      });
    });

    describe('rpc and send', () => {
      it('rpc: built-in ping succeeds, another method is 104', async (t) => {
        const cl = clientsFor(t);
        const c = await cl.connected();
        const res = await c.rpc('ping', enc({}));
        assert.ok(res && typeof res === 'object');
        await assert.rejects(c.rpc('missing', enc({})), (e: any) => e.code === 104);
      });

      it('send is answered with disconnect 3508 (no message handler)', async (t) => {
        const cl = clientsFor(t);
        const c = await cl.connected();
        const gone = waitEvent(c, 'disconnected');
        await c.send(enc({ typing: true }));
        const ctx = await gone;
        assert.equal(ctx.code, 3508);
      });
    });

    describe('token expiry (timed)', { concurrency: true }, () => {
      // Regression: the personal channel (subscribe_to_user_personal_channel) is not a token
      // channel, so a refresh token without it must not be answered with 3010 (server.md §3.2).
      it('connection token refresh through getToken keeps the connection (personal channel on)', async (t) => {
        const cl = clientsFor(t);
        let calls = 0;
        const c = cl.make({
          token: await tok('refresher', {}, 2),
          getToken: async () => {
            calls++;
            return tok('refresher', {}, 60);
          },
        });
        const disconnects = collect(c, 'disconnected');
        const connecting = collect(c, 'connecting');
        const up = waitEvent(c, 'connected');
        c.connect();
        await up;
        connecting.length = 0;
        await waitFor(() => calls >= 1, 'getToken for the refresh', 5000);
        // Past exp + expired_close_delay (1 s): the refreshed connection must still be open.
        await sleep(1800);
        assert.equal(c.state, 'connected');
        assert.deepEqual(disconnects, []);
        assert.deepEqual(connecting, []);
        assert.ok(await c.rpc('ping', enc({})));
      });

      it('a connection whose token is not refreshed is closed with 3005', async (t) => {
        const cl = clientsFor(t);
        const c = cl.make({
          token: await tok('stale-token', {}, 2),
          // Never resolves: the SDK cannot refresh.
          getToken: () => new Promise<string>(() => undefined),
        });
        const up = waitEvent(c, 'connected');
        c.connect();
        await up;
        const ctx = await waitEvent(c, 'connecting', { timeoutMs: 6000 });
        assert.equal(ctx.code, 3005);
        assert.equal(ctx.reason, 'connection expired');
      });

      it('subscription token refresh (sub_refresh) through getToken keeps the subscription', async (t) => {
        const cl = clientsFor(t);
        const channel = `$priv:${uniq()}`;
        const c = await cl.connected({ token: await tok('sub-refresh') });
        let calls = 0;
        const { sub } = await subscribed(c, channel, {
          token: await hmacToken(SECRET, { sub: 'sub-refresh', channel }, 2),
          getToken: async () => {
            calls++;
            return hmacToken(SECRET, { sub: 'sub-refresh', channel }, 60);
          },
        });
        const unsubs = collect(sub, 'unsubscribed');
        const errors = collect(sub, 'error');
        await waitFor(() => calls >= 1, 'subscription getToken', 5000);
        await sleep(300);
        assert.equal(sub.state, 'subscribed');
        assert.deepEqual(unsubs, []);
        assert.deepEqual(errors, []);
        const got = collect(sub, 'publication');
        await publish(channel, { after: 'refresh' });
        await waitFor(() => got.length === 1, 'publication after sub_refresh');
      });
    });
  });
}
