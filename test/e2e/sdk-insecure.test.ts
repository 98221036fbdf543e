/**
 * The SDK against a server in insecure client mode with a channel limit of 2 and no RPC
 * handler: anonymous access to any channel, error 106 past the limit, RPC error 108.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { apiResult } from '../helpers/api.js';
import { SdkClients, subscribeOutcome, subscribed, subscribeFails, type Protocol } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { collect, uniq, waitFor } from '../helpers/wait.js';

const API_KEY = 'insecure-api-key';

describe('insecure client mode, channel_limit 2, no rpc handler', { timeout: 60_000 }, () => {
  let gyre: GyreProcess;
  before(async () => {
    gyre = await startGyre({
      client: { insecure: true, channel_limit: 2 },
      http_api: { key: API_KEY },
      channel: { namespaces: [{ name: 'any' }, { name: 'hist', history_size: 10, history_ttl: '60s' }, { name: 'ul', allow_user_limited_channels: true }] },
    });
  });
  after(() => gyre.stop());

  for (const protocol of ['json', 'protobuf'] as Protocol[]) {
    const enc = (v: unknown): any => (protocol === 'json' ? v : new TextEncoder().encode(JSON.stringify(v)));
    const dec = (d: any): any => (protocol === 'json' ? d : JSON.parse(Buffer.from(d).toString('utf8')));
    const clientsFor = (t: TestContext): SdkClients => {
      const c = new SdkClients(gyre.wsUrl, protocol);
      t.after(() => c.closeAll());
      return c;
    };

    describe(protocol, () => {
      it('connects without a token and may subscribe, publish and read history anywhere', async (t) => {
        const cl = clientsFor(t);
        const a = await cl.connected();
        const b = await cl.connected();
        const channel = `any:${uniq()}`;
        const { sub: subA } = await subscribed(a, channel);
        const { sub: subB } = await subscribed(b, channel);
        const got = collect(subB, 'publication');
        await subA.publish(enc({ insecure: true }));
        await waitFor(() => got.length === 1, 'publication');
        assert.deepEqual(dec(got[0].data), { insecure: true });
        assert.equal(got[0].info.user, '');
        const hist = `hist:${uniq()}`;
        await a.publish(hist, enc({ h: 1 }));
        const h = await b.history(hist, { limit: 5 });
        assert.deepEqual(h.publications.map((p) => dec(p.data)), [{ h: 1 }]);
        await assert.rejects(b.presence(channel), (e: any) => e.code === 108);
        await assert.rejects(b.history(channel, { limit: 1 }), (e: any) => e.code === 108);
      });

      it('channel_limit 2: the third subscription fails with 106', async (t) => {
        const cl = clientsFor(t);
        const c = await cl.connected();
        await subscribed(c, `any:${uniq()}`);
        await subscribed(c, `any:${uniq()}`);
        const fail = await subscribeFails(c, `any:${uniq()}`);
        assert.equal(fail.code, 106);
        // The connection keeps working.
        await c.publish(`any:${uniq()}`, enc({ still: 'ok' }));
      });

      it('rpc without rpc.ping or a proxy is error 108', async (t) => {
        const cl = clientsFor(t);
        const c = await cl.connected();
        await assert.rejects(c.rpc('ping', enc({})), (e: any) => e.code === 108);
        await assert.rejects(c.rpc('anything', enc({})), (e: any) => e.code === 108);
        assert.equal(c.state, 'connected');
      });
    });
  }

  // protocol.md §12.8 / server.md §3.7: the subscribe rules are tried in order and insecure mode
  // (rule 5 / 10) still allows a user-limited channel that does not list the user; Centrifugo's
  // OnSubscribe falls through to `cfg.Client.Insecure` the same way.
  it('insecure mode allows a user-limited channel that does not list the user', async (t) => {
    const cl = new SdkClients(gyre.wsUrl, 'json');
    t.after(() => cl.closeAll());
    const c = await cl.connected();
    assert.equal(await subscribeOutcome(c, `ul:${uniq()}#42`), 'subscribed');
  });

  it('server API publishes reach insecure subscribers', async (t) => {
    const cl = new SdkClients(gyre.wsUrl, 'json');
    t.after(() => cl.closeAll());
    const c = await cl.connected();
    const channel = `any:${uniq()}`;
    const { sub } = await subscribed(c, channel);
    const got = collect(sub, 'publication');
    assert.deepEqual(await apiResult(gyre.apiUrl, API_KEY, 'publish', { channel, data: { n: 1 } }), {});
    await waitFor(() => got.length === 1, 'publication');
  });
});
