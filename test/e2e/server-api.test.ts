/**
 * The server HTTP API end to end: every cent.js method with its effect observed by SDK
 * clients, and raw fetch for batch, rpc, the legacy `/api` route, authentication variants,
 * HTTP statuses, `http_api.insecure` and `/health`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import centPkg from 'cent.js';
import { apiCall, apiResult } from '../helpers/api.js';
import { RawClient } from '../helpers/raw-ws.js';
import { SdkClients, subscribed } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { hmacToken } from '../helpers/tokens.js';
import { collect, uniq, waitEvent, waitFor } from '../helpers/wait.js';

const { CentClient, CentMethods, CentException } = centPkg;

const SECRET = 'api-e2e-secret';
const API_KEY = 'api-e2e-key';

describe('server HTTP API', { timeout: 60_000 }, () => {
  let gyre: GyreProcess;
  let open: GyreProcess;
  let cent: InstanceType<typeof CentClient>;

  before(async () => {
    const channel = {
      namespaces: [
        {
          name: 'chat',
          presence: true,
          join_leave: true,
          allow_subscribe_for_client: true,
          allow_publish_for_client: true,
          history_size: 20,
          history_ttl: '300s',
          force_recovery: true,
        },
        { name: 'plain', allow_subscribe_for_client: true },
      ],
    };
    [gyre, open] = await Promise.all([
      startGyre({ client: { token: { hmac_secret_key: SECRET } }, http_api: { key: API_KEY }, health: { enabled: true }, channel }),
      startGyre({ client: { token: { hmac_secret_key: SECRET } }, http_api: { insecure: true }, channel }),
    ]);
    cent = new CentClient({ url: gyre.apiUrl, apiKey: API_KEY });
  });
  after(async () => {
    await Promise.all([gyre.stop(), open.stop()]);
  });

  const clientsFor = (t: TestContext): SdkClients => {
    const c = new SdkClients(gyre.wsUrl, 'json');
    t.after(() => c.closeAll());
    return c;
  };
  const userClient = async (t: TestContext, user: string, opts: { collectBefore?: string[] } = {}): Promise<{ c: any; events: Record<string, any[]>; client: string }> => {
    const c = clientsFor(t).make({ token: await hmacToken(SECRET, { sub: user }) });
    const events: Record<string, any[]> = {};
    for (const e of opts.collectBefore ?? []) events[e] = collect(c, e);
    const up = waitEvent(c, 'connected');
    c.connect();
    const ctx = await up;
    return { c, events, client: ctx.client };
  };

  describe('cent.js', () => {
    it('publish returns the stream position and reaches subscribers', async (t) => {
      const channel = `chat:${uniq()}`;
      const { c } = await userClient(t, 'reader');
      const { sub } = await subscribed(c, channel);
      const got = collect(sub, 'publication');
      const r1 = await cent.publish({ channel, data: { n: 1 } });
      assert.equal(r1.offset, 1);
      assert.equal(typeof r1.epoch, 'string');
      const r2 = await cent.publish({ channel, data: { n: 2 }, tags: { kind: 'test' } });
      assert.equal(r2.offset, 2);
      assert.equal(r2.epoch, r1.epoch);
      await waitFor(() => got.length === 2, 'two publications');
      assert.deepEqual(got.map((p) => p.data), [{ n: 1 }, { n: 2 }]);
      assert.deepEqual(got[1].tags, { kind: 'test' });
      assert.deepEqual(await cent.publish({ channel: `plain:${uniq()}`, data: { x: 1 } }), {});
    });

    it('publish errors surface as CentException (unknown namespace)', async () => {
      await assert.rejects(cent.publish({ channel: `nope:${uniq()}`, data: {} }), CentException);
    });

    it('broadcast to several channels', async (t) => {
      const a = `chat:${uniq()}`;
      const b = `plain:${uniq()}`;
      const { c } = await userClient(t, 'bc');
      const { sub: sa } = await subscribed(c, a);
      const { sub: sb } = await subscribed(c, b);
      const ga = collect(sa, 'publication');
      const gb = collect(sb, 'publication');
      // cent.js types the result as an array; the wire result is {"responses":[...]}.
      const res = (await cent.broadcast({ channels: [a, b], data: { all: true } })) as unknown as { responses: any[] };
      assert.equal(res.responses.length, 2);
      assert.equal(res.responses[0].result.offset, 1);
      assert.deepEqual(res.responses[1].result, {});
      await waitFor(() => ga.length === 1 && gb.length === 1, 'broadcast at both channels');
      assert.deepEqual(ga[0].data, { all: true });
    });

    it('subscribe: a server-side subscription arrives as client-level "subscribed" and receives publications', async (t) => {
      const user = uniq('u');
      const channel = `chat:${uniq()}`;
      const { events } = await userClient(t, user, { collectBefore: ['subscribed', 'publication'] });
      assert.deepEqual(await cent.subscribe({ user, channel }), {});
      const sctx = await waitFor(() => events.subscribed!.find((s) => s.channel === channel), 'client-level subscribed');
      assert.equal(sctx.recoverable, true);
      await cent.publish({ channel, data: { server: 'side' } });
      const pub = await waitFor(() => events.publication!.find((p) => p.channel === channel), 'client-level publication');
      assert.deepEqual(pub.data, { server: 'side' });
    });

    it('unsubscribe: the SDK subscription gets "unsubscribed" with code 2000', async (t) => {
      const user = uniq('u');
      const channel = `chat:${uniq()}`;
      const { c } = await userClient(t, user);
      const { sub } = await subscribed(c, channel);
      const gone = waitEvent(sub, 'unsubscribed');
      assert.deepEqual(await cent.unsubscribe({ user, channel }), {});
      const ctx = await gone;
      assert.equal(ctx.code, 2000);
      assert.equal(ctx.reason, 'server unsubscribe');
      assert.equal(c.state, 'connected');
    });

    it('disconnect: default code 3503; custom codes through the raw API', async (t) => {
      const user = uniq('u');
      const { c } = await userClient(t, user);
      const gone = waitEvent(c, 'disconnected');
      assert.deepEqual(await cent.disconnect({ user }), {});
      const ctx = await gone;
      assert.equal(ctx.code, 3503);
      assert.equal(ctx.reason, 'force disconnect');

      const user2 = uniq('u');
      const { c: c2 } = await userClient(t, user2);
      const gone2 = waitEvent(c2, 'disconnected');
      assert.deepEqual(await apiResult(gyre.apiUrl, API_KEY, 'disconnect', { user: user2, disconnect: { code: 4501, reason: 'go away' } }), {});
      const ctx2 = await gone2;
      assert.equal(ctx2.code, 4501);
      assert.equal(ctx2.reason, 'go away');

      const user3 = uniq('u');
      const { c: c3 } = await userClient(t, user3);
      const reconnecting = waitEvent(c3, 'connecting');
      await apiResult(gyre.apiUrl, API_KEY, 'disconnect', { user: user3, disconnect: { code: 4001, reason: 'come back' } });
      const ctx3 = await reconnecting;
      assert.equal(ctx3.code, 4001);
      await waitEvent(c3, 'connected');
    });

    it('disconnect with a whitelist keeps the listed connection', async (t) => {
      const user = uniq('u');
      const keep = await userClient(t, user);
      const drop = await userClient(t, user);
      const gone = waitEvent(drop.c, 'disconnected');
      assert.deepEqual(await apiResult(gyre.apiUrl, API_KEY, 'disconnect', { user, whitelist: [keep.client] }), {});
      assert.equal((await gone).code, 3503);
      assert.equal(keep.c.state, 'connected');
    });

    it('unsubscribe of a server-side subscription: client-level "unsubscribed", presence cleared', async (t) => {
      const user = uniq('u');
      const channel = `chat:${uniq()}`;
      const { events, client } = await userClient(t, user, { collectBefore: ['subscribed', 'unsubscribed'] });
      assert.deepEqual(await apiResult(gyre.apiUrl, API_KEY, 'subscribe', { user, channel, client }), {});
      await waitFor(() => events.subscribed!.find((s) => s.channel === channel), 'server-side subscribed');
      assert.deepEqual(await cent.getPresenceStats({ channel }), { num_clients: 1, num_users: 1 });
      await cent.unsubscribe({ user, channel });
      await waitFor(() => events.unsubscribed!.find((s) => s.channel === channel), 'server-side unsubscribed');
      assert.deepEqual(await cent.getPresenceStats({ channel }), { num_clients: 0, num_users: 0 });
    });

    // A disconnect reason must fit a close frame (protocol.md §10.2: at most 123 bytes of UTF-8)
    // and a close code must be sendable. The server either rejects such a request or closes the
    // connection anyway; today the `ws` close() throws inside ClientSession.close after the session
    // was marked closed, so the API answers 100 and the connection stays open as a zombie that
    // never leaves the hub or presence (and keeps the process from exiting on SIGTERM).
    for (const [label, disconnect] of [
      ['a 200-byte reason', { code: 4000, reason: 'x'.repeat(200) }],
      ['a 140-byte UTF-8 reason (70 × "é")', { code: 4000, reason: 'é'.repeat(70) }],
      ['close code 70000', { code: 70000, reason: 'big' }],
      ['close code 1006', { code: 1006, reason: 'reserved' }],
    ] as const) {
      it(`disconnect with ${label} is either rejected (107) or closes and cleans up`, async () => {
        const c = await RawClient.open(gyre.wsUrl);
        const rep = await c.connect({ token: await hmacToken(SECRET, { sub: uniq('u') }) });
        const channel = `chat:${uniq()}`;
        await c.call({ subscribe: { channel } });
        try {
          const res = await apiCall(gyre.apiUrl, API_KEY, 'disconnect', { client: rep.connect.client, disconnect });
          assert.equal(res.status, 200);
          if (res.body.error) {
            assert.equal(res.body.error.code, 107, `rejecting is fine, but as a bad request: ${res.text}`);
            assert.ok((await c.call({ presence_stats: { channel } })).error?.code === 103, 'connection still served');
          } else {
            await c.waitClose(3000);
            await waitFor(async () => (await cent.getPresenceStats({ channel })).num_clients === 0, 'presence cleared');
          }
        } finally {
          // Never leave an open socket behind: it would hold up the server's shutdown.
          c.ws.terminate();
        }
        await waitFor(async () => (await cent.getPresenceStats({ channel })).num_clients === 0, 'presence cleared after the socket is gone', 2000);
      });
    }

    it('disconnect by client id leaves the user\'s other connections alone', async (t) => {
      const user = uniq('u');
      const one = await userClient(t, user);
      const two = await userClient(t, user);
      const gone = waitEvent(one.c, 'disconnected');
      await cent.disconnect({ user, client: one.client });
      assert.equal((await gone).code, 3503);
      assert.equal(two.c.state, 'connected');
    });

    it('refresh with expired:true closes the connection as expired (3005)', async (t) => {
      const user = uniq('u');
      const { c } = await userClient(t, user);
      const reconnecting = waitEvent(c, 'connecting');
      assert.deepEqual(await cent.refresh({ user, expired: true } as { user: string }), {});
      const ctx = await reconnecting;
      assert.equal(ctx.code, 3005);
    });

    it('getPresence and getPresenceStats', async (t) => {
      const channel = `chat:${uniq()}`;
      const a = await userClient(t, 'pa');
      const b = await userClient(t, 'pb');
      await subscribed(a.c, channel);
      await subscribed(b.c, channel);
      const pres = await cent.getPresence({ channel });
      assert.deepEqual(Object.keys(pres.presence).sort(), [a.client, b.client].sort());
      assert.equal((pres.presence as any)[a.client].user, 'pa');
      assert.equal((pres.presence as any)[a.client].client, a.client);
      assert.deepEqual(await cent.getPresenceStats({ channel }), { num_clients: 2, num_users: 2 });
      await assert.rejects(cent.getPresence({ channel: `plain:${uniq()}` }), CentException);
    });

    it('getHistory and removeHistory', async () => {
      const channel = `chat:${uniq()}`;
      for (let i = 1; i <= 4; i++) await cent.publish({ channel, data: { i } });
      const all = await cent.getHistory({ channel, limit: -1 });
      assert.deepEqual(all.publications.map((p: any) => p.data.i), [1, 2, 3, 4]);
      assert.equal(all.offset, 4);
      const rev = await cent.getHistory({ channel, limit: 2, reverse: true });
      assert.deepEqual(rev.publications.map((p: any) => p.offset), [4, 3]);
      const since = await cent.getHistory({ channel, limit: 10, since: { offset: 2, epoch: all.epoch } });
      assert.deepEqual(since.publications.map((p: any) => p.offset), [3, 4]);
      assert.deepEqual(await cent.removeHistory({ channel }), {});
      const afterRemove = await cent.getHistory({ channel, limit: -1 });
      assert.deepEqual(afterRemove.publications, []);
      await assert.rejects(cent.getHistory({ channel: `plain:${uniq()}` }), CentException);
    });

    it('getChannels with a pattern, getInfo', async (t) => {
      const tag = uniq();
      const { c } = await userClient(t, 'ch');
      await subscribed(c, `chat:${tag}a`);
      await subscribed(c, `chat:${tag}b`);
      const res = await cent.getChannels({ pattern: `chat:${tag}*` });
      assert.deepEqual(res.channels, { [`chat:${tag}a`]: { num_clients: 1 }, [`chat:${tag}b`]: { num_clients: 1 } });
      const info = await cent.getInfo();
      assert.equal(info.nodes.length, 1);
      const node = info.nodes[0] as any;
      assert.equal(typeof node.uid, 'string');
      assert.equal(typeof node.version, 'string');
      assert.ok(node.num_clients >= 1);
      assert.ok(node.num_channels >= 2);
    });

    it('getChannels with an invalid pattern is error 100', async () => {
      const r = await apiCall(gyre.apiUrl, API_KEY, 'channels', { pattern: 'chat:[' });
      assert.deepEqual(r.body, { error: { code: 100, message: 'internal server error' } });
    });

    it('pipeline (legacy newline-delimited /api route)', async () => {
      const channel = `chat:${uniq()}`;
      const res = await cent.pipeline([
        { method: CentMethods.Publish, params: { channel, data: { p: 1 } } },
        { method: CentMethods.Publish, params: { channel, data: { p: 2 } } },
        { method: CentMethods.History, params: { channel, limit: 10 } },
      ] as any);
      assert.equal(res.length, 3);
      assert.equal((res[1] as any).offset, 2);
      assert.deepEqual((res[2] as any).publications.map((p: any) => p.data), [{ p: 1 }, { p: 2 }]);
    });
  });

  describe('raw HTTP', () => {
    it('batch: replies in order, unknown command is 104', async () => {
      const channel = `chat:${uniq()}`;
      const r = await apiCall(gyre.apiUrl, API_KEY, 'batch', {
        commands: [{ publish: { channel, data: { b: 1 } } }, { presence_stats: { channel } }, { bogus: {} }, { publish: { channel: 'nope:x', data: {} } }],
      });
      assert.equal(r.status, 200);
      const replies = r.body.replies;
      assert.equal(replies.length, 4);
      assert.equal(replies[0].publish.offset, 1);
      assert.deepEqual(replies[1].presence_stats, { num_clients: 0, num_users: 0 });
      assert.equal(replies[2].error.code, 104);
      assert.equal(replies[3].error.code, 102);
    });

    it('rpc: unknown method 104, empty method 107', async () => {
      const r = await apiCall(gyre.apiUrl, API_KEY, 'rpc', { method: 'whatever', params: {} });
      assert.equal(r.status, 200);
      assert.equal(r.body.error.code, 104);
      const e = await apiCall(gyre.apiUrl, API_KEY, 'rpc', { method: '' });
      assert.equal(e.body.error.code, 107);
    });

    it('legacy /api with Authorization: apikey, ids echoed, unknown method 104', async () => {
      const channel = `chat:${uniq()}`;
      const body = [
        JSON.stringify({ id: 1, method: 'publish', params: { channel, data: { l: 1 } } }),
        JSON.stringify({ id: 2, method: 'presence_stats', params: { channel } }),
        JSON.stringify({ id: 3, method: 'no_such_method', params: {} }),
      ].join('\n');
      const res = await fetch(gyre.apiUrl, { method: 'POST', headers: { authorization: `apikey ${API_KEY}` }, body });
      assert.equal(res.status, 200);
      const lines = (await res.text()).split('\n').map((l) => JSON.parse(l));
      assert.equal(lines.length, 3);
      assert.equal(lines[0].id, 1);
      assert.equal(lines[0].result.offset, 1);
      assert.deepEqual(lines[1], { id: 2, result: { num_clients: 0, num_users: 0 } });
      assert.equal(lines[2].id, 3);
      assert.equal(lines[2].error.code, 104);
    });

    it('authentication: ?api_key=, Authorization apikey, wrong or missing key → 401 with empty body', async () => {
      const q = await fetch(`${gyre.apiUrl}/info?api_key=${API_KEY}`, { method: 'POST', body: '{}' });
      assert.equal(q.status, 200);
      assert.ok((await q.json()).result.nodes);
      const h = await fetch(`${gyre.apiUrl}/info`, { method: 'POST', headers: { authorization: `ApiKey ${API_KEY}` }, body: '{}' });
      assert.equal(h.status, 200);
      await h.arrayBuffer();
      const wrong = await apiCall(gyre.apiUrl, 'wrong-key', 'info', {});
      assert.equal(wrong.status, 401);
      assert.equal(wrong.text, '');
      const none = await apiCall(gyre.apiUrl, undefined, 'info', {});
      assert.equal(none.status, 401);
      const wrongQ = await fetch(`${gyre.apiUrl}/info?api_key=nope`, { method: 'POST', body: '{}' });
      assert.equal(wrongQ.status, 401);
      await wrongQ.arrayBuffer();
    });

    it('malformed JSON → 400; unknown namespace → 200 with error 102; GET → 405; unknown path → 404', async () => {
      const bad = await apiCall(gyre.apiUrl, API_KEY, 'publish', '{"channel":');
      assert.equal(bad.status, 400);
      const unknown = await apiCall(gyre.apiUrl, API_KEY, 'publish', { channel: 'nope:x', data: {} });
      assert.equal(unknown.status, 200);
      assert.deepEqual(unknown.body, { error: { code: 102, message: 'unknown channel' } });
      const missing = await apiCall(gyre.apiUrl, API_KEY, 'publish', { data: {} });
      assert.equal(missing.body.error.code, 107);
      const get = await fetch(`${gyre.apiUrl}/publish`, { headers: { 'x-api-key': API_KEY } });
      assert.equal(get.status, 405);
      await get.arrayBuffer();
      const notFound = await apiCall(gyre.apiUrl, API_KEY, 'connections', {});
      assert.equal(notFound.status, 404);
    });

    it('transport error mode header maps API errors to HTTP statuses', async () => {
      const r = await apiCall(gyre.apiUrl, API_KEY, 'publish', { channel: 'nope:x', data: {} }, { 'x-centrifugo-error-mode': 'transport' });
      assert.equal(r.status, 404);
      assert.deepEqual(r.body, { code: 102, message: 'unknown channel' });
    });

    it('http_api.insecure: no key needed', async () => {
      const r = await apiCall(open.apiUrl, undefined, 'publish', { channel: `chat:${uniq()}`, data: { open: true } });
      assert.equal(r.status, 200);
      assert.equal(r.body.result.offset, 1);
      const info = await apiCall(open.apiUrl, 'any-key-at-all', 'info', {});
      assert.equal(info.status, 200);
    });

    it('/health with health.enabled; 404 without', async () => {
      const h = await fetch(`${gyre.base}/health`);
      assert.equal(h.status, 200);
      assert.deepEqual(await h.json(), {});
      const none = await fetch(`${open.base}/health`);
      assert.equal(none.status, 404);
      await none.arrayBuffer();
    });
  });
});
