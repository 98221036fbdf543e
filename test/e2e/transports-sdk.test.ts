/**
 * The official `centrifuge` SDK (JSON and Protobuf builds) over the emulation transports,
 * HTTP-streaming and SSE, against a real gyre process: connect, subscribe, server API
 * publish, client publish, presence, history, recovery after a reconnect, keepalive with
 * pongs through /emulation, and a terminal disconnect that only a push can carry.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { ReadableStream } from 'node:stream/web';
import type { Centrifuge, Options } from 'centrifuge';
import { apiResult } from '../helpers/api.js';
import { sdkBuilds, subscribed, type Protocol } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { FetchEventSource } from '../helpers/streams.js';
import { hmacToken } from '../helpers/tokens.js';
import { collect, sleep, uniq, waitEvent, waitFor } from '../helpers/wait.js';

const SECRET = 'transports-sdk-secret-0123456789abcdef';
const API_KEY = 'transports-sdk-key';

const cases: { protocol: Protocol; transport: 'http_stream' | 'sse' }[] = [
  { protocol: 'json', transport: 'http_stream' },
  { protocol: 'json', transport: 'sse' },
  { protocol: 'protobuf', transport: 'http_stream' },
];

describe('centrifuge SDK over HTTP-streaming and SSE', { timeout: 120_000 }, () => {
  let gyre: GyreProcess;
  const publish = (channel: string, data: unknown): Promise<any> => apiResult(gyre.apiUrl, API_KEY, 'publish', { channel, data });

  before(async () => {
    gyre = await startGyre({
      client: { token: { hmac_secret_key: SECRET }, insecure: true, ping_interval: '1s', pong_timeout: '500ms' },
      http_api: { key: API_KEY },
      rpc: { ping: { enabled: true } },
      http_stream: { enabled: true },
      sse: { enabled: true },
      channel: {
        namespaces: [{ name: 'chat', presence: true, join_leave: true, history_size: 100, history_ttl: '300s', force_recovery: true, force_positioning: true }],
      },
    });
  });
  after(async () => {
    const code = await gyre.stop();
    assert.equal(code, 0, `graceful shutdown should exit 0; output:\n${gyre.output().slice(-4000)}`);
  });

  for (const { protocol, transport } of cases) {
    describe(`${transport} (${protocol})`, () => {
      const enc = (v: unknown): any => (protocol === 'json' ? v : new TextEncoder().encode(JSON.stringify(v)));
      const dec = (d: unknown): any => (protocol === 'json' || d === undefined ? d : JSON.parse(Buffer.from(d as Uint8Array).toString('utf8')));

      /** A client on this transport only; disconnected when the test ends. */
      const make = (t: TestContext, opts: Partial<Options> = {}): Centrifuge => {
        const Ctor = sdkBuilds[protocol];
        const c = new Ctor([{ transport, endpoint: `${gyre.base}/connection/${transport}` }], {
          fetch: globalThis.fetch,
          readableStream: ReadableStream,
          eventsource: FetchEventSource,
          emulationEndpoint: `${gyre.base}/emulation`,
          minReconnectDelay: 100,
          maxReconnectDelay: 300,
          ...opts,
        } as Partial<Options>);
        c.on('error', () => undefined);
        t.after(() => c.disconnect());
        return c;
      };
      const connected = async (t: TestContext, opts: Partial<Options> = {}): Promise<{ c: Centrifuge; ctx: any }> => {
        const c = make(t, opts);
        const ready = waitEvent(c, 'connected');
        c.connect();
        return { c, ctx: await ready };
      };

      it('connects over the transport and gets session-bound replies', async (t) => {
        const { c, ctx } = await connected(t, { token: await hmacToken(SECRET, { sub: '42', info: { name: 'Alice' } }) });
        assert.equal(ctx.transport, transport);
        assert.ok(ctx.client.length > 0);
        const rpc = await c.rpc('ping', enc({}));
        assert.ok(rpc, 'the built-in ping RPC answers through the stream');
        const missing = await c.rpc('nothing-here', enc({})).catch((e: any) => e);
        assert.equal(typeof missing.code, 'number', 'an unknown RPC gets an error reply');
      });

      it('subscribes, receives server API and client publications, reads presence and history', async (t) => {
        const { c, ctx } = await connected(t, { token: await hmacToken(SECRET, { sub: '42', info: { name: 'Alice' } }) });
        const channel = `chat:${uniq()}`;
        const { sub } = await subscribed(c, channel);
        const pubs = collect(sub, 'publication');
        await publish(channel, { n: 1 });
        await sub.publish(enc({ n: 2 }));
        await waitFor(() => pubs.length >= 2, 'two publications');
        assert.deepEqual(
          pubs.map((p) => dec(p.data)),
          [{ n: 1 }, { n: 2 }],
        );
        assert.deepEqual(
          pubs.map((p) => p.offset),
          [1, 2],
        );
        const pres = await sub.presence();
        const info = pres.clients[ctx.client];
        assert.equal(info?.user, '42');
        assert.deepEqual(dec(info?.connInfo), { name: 'Alice' });
        const stats = await sub.presenceStats();
        assert.deepEqual(stats, { numClients: 1, numUsers: 1 });
        const hist = await sub.history({ limit: 10 });
        assert.deepEqual(
          hist.publications.map((p: any) => dec(p.data)),
          [{ n: 1 }, { n: 2 }],
        );
        assert.equal(hist.offset, 2);
      });

      it('recovers publications missed while reconnecting', async (t) => {
        const { c, ctx } = await connected(t, { minReconnectDelay: 800, maxReconnectDelay: 800 });
        const channel = `chat:${uniq()}`;
        const { sub } = await subscribed(c, channel);
        const pubs = collect(sub, 'publication');
        await publish(channel, { n: 1 });
        await waitFor(() => pubs.length >= 1, 'first publication');
        const client = ctx.client as string;
        const connecting = waitEvent(c, 'connecting');
        await apiResult(gyre.apiUrl, API_KEY, 'disconnect', { user: '', client, disconnect: { code: 4000, reason: 'come back' } });
        await connecting;
        await publish(channel, { n: 2 });
        await publish(channel, { n: 3 });
        const again = await waitEvent(sub, 'subscribed', { timeoutMs: 5000 });
        assert.equal(again.wasRecovering, true);
        assert.equal(again.recovered, true);
        await waitFor(() => pubs.length >= 3, 'recovered publications');
        assert.deepEqual(
          pubs.map((p) => dec(p.data)),
          [{ n: 1 }, { n: 2 }, { n: 3 }],
        );
      });

      it('stays connected across several pings: pongs travel through /emulation', async (t) => {
        const { c } = await connected(t);
        const troubles = [...collect(c, 'connecting'), ...collect(c, 'disconnected')];
        const channel = `chat:${uniq()}`;
        const { sub } = await subscribed(c, channel);
        await sleep(3200);
        assert.deepEqual(troubles, [], 'no reconnect: every ping was answered in time');
        assert.equal(c.state, 'connected');
        const pubs = collect(sub, 'publication');
        await publish(channel, { alive: true });
        await waitFor(() => pubs.length >= 1, 'publication after the pings');
      });

      it('a terminal server disconnect arrives as a push: the SDK does not reconnect', async (t) => {
        const { c } = await connected(t, { token: await hmacToken(SECRET, { sub: 'leaver' }) });
        const disconnected = waitEvent(c, 'disconnected');
        await apiResult(gyre.apiUrl, API_KEY, 'disconnect', { user: 'leaver', disconnect: { code: 4501, reason: 'go away' } });
        const ctx = await disconnected;
        assert.equal(ctx.code, 4501);
        assert.equal(ctx.reason, 'go away');
        await sleep(400);
        assert.equal(c.state, 'disconnected');
      });
    });
  }
});
