/**
 * The SockJS transport against a real gyre process: the official `centrifuge` SDK with
 * `sockjs-client` in Node over SockJS's WebSocket and its xhr-streaming fallback (connect,
 * subscribe, publications, client publish, RPC, ping/pong, a server disconnect carried as
 * SockJS's close frame), a client that stops reading (disconnected as slow), and bad input
 * on the SockJS endpoints (each connection closed, the server keeps serving).
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, it, type TestContext } from 'node:test';
import { Centrifuge, type Options } from 'centrifuge';
import WebSocket from 'ws';
import { apiResult } from '../helpers/api.js';
import { subscribed } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { hmacToken } from '../helpers/tokens.js';
import { sleep, uniq, waitEvent, waitFor } from '../helpers/wait.js';

const SockJS = createRequire(import.meta.url)('sockjs-client') as unknown;

const SECRET = 'transports-sockjs-secret-0123456789abcdef';
const API_KEY = 'transports-sockjs-key';

/** A raw SockJS WebSocket session (`/<server>/<session>/websocket`), framing left to the test. */
async function rawSockJs(base: string): Promise<{ ws: WebSocket; frames: string[]; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/connection/sockjs/000/${uniq('s')}/websocket`);
  const frames: string[] = [];
  ws.on('message', (d) => frames.push(d.toString()));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('error', () => undefined);
  await waitEvent(ws as never, 'open');
  await waitFor(() => frames[0] === 'o', 'SockJS open frame');
  return { ws, frames, closed };
}

/** The messages of the SockJS `a[...]` frames among the frames, in order. */
function messagesOf(frames: string[]): string[] {
  return frames.filter((f) => f.startsWith('a[')).flatMap((f) => JSON.parse(f.slice(1)) as string[]);
}

/** The SockJS close frame among the frames, parsed: `c[code,"reason"]`. */
function closeFrameOf(frames: string[]): [number, string] | undefined {
  const f = frames.find((x) => x.startsWith('c['));
  return f === undefined ? undefined : (JSON.parse(f.slice(1)) as [number, string]);
}

describe('SockJS transport', { timeout: 120_000 }, () => {
  let gyre: GyreProcess;
  const publish = (channel: string, data: unknown): Promise<any> => apiResult(gyre.apiUrl, API_KEY, 'publish', { channel, data });

  before(async () => {
    gyre = await startGyre({
      client: { token: { hmac_secret_key: SECRET }, ping_interval: '1s', pong_timeout: '500ms', queue_max_size: 1048576 },
      http_api: { key: API_KEY },
      rpc: { ping: { enabled: true } },
      websocket: { message_size_limit: 8192 },
      sockjs: { enabled: true, handler_prefix: '/connection/sockjs', url: 'http://127.0.0.1/sockjs.min.js', heartbeat_delay: '2s', disconnect_delay: '2s' },
      channel: { without_namespace: { allow_subscribe_for_client: true, allow_publish_for_subscriber: true } },
    });
  });
  after(async () => {
    const code = await gyre.stop();
    assert.equal(code, 0, `graceful shutdown should exit 0; output:\n${gyre.output().slice(-4000)}`);
    // Neither "unknown key" nor "not supported yet" for any sockjs key.
    assert.doesNotMatch(gyre.output(), /sockjs[^\n]*(not supported yet|unknown key)/);
  });

  for (const transport of ['websocket', 'xhr-streaming'] as const) {
    describe(`sockjs-client over ${transport}`, () => {
      const make = (t: TestContext, opts: Partial<Options> = {}): Centrifuge => {
        const c = new Centrifuge([{ transport: 'sockjs', endpoint: `${gyre.base}/connection/sockjs` }], {
          sockjs: SockJS,
          sockjsOptions: { transports: [transport] },
          minReconnectDelay: 100,
          maxReconnectDelay: 300,
          ...opts,
        } as Partial<Options>);
        c.on('error', () => undefined);
        t.after(() => c.disconnect());
        return c;
      };
      const connected = async (t: TestContext, user: string): Promise<{ c: Centrifuge; ctx: any }> => {
        const c = make(t, { token: await hmacToken(SECRET, { sub: user }) });
        const ready = waitEvent(c, 'connected');
        c.connect();
        return { c, ctx: await ready };
      };

      it('connects, subscribes, receives publications, publishes and calls RPC', async (t) => {
        const { c, ctx } = await connected(t, uniq('u'));
        assert.equal(ctx.transport, `sockjs-${transport}`);
        assert.ok(ctx.client.length > 0);
        const channel = uniq('news');
        const { sub } = await subscribed(c, channel);
        const got: unknown[] = [];
        sub.on('publication', (p) => got.push(p.data));
        await publish(channel, { n: 1 });
        await sub.publish({ n: 2, text: 'ünïcödé "quoted"\nline' });
        await waitFor(() => got.length === 2, 'two publications');
        assert.deepEqual(got, [{ n: 1 }, { n: 2, text: 'ünïcödé "quoted"\nline' }]);
        const rpc = await c.rpc('ping', {});
        assert.deepEqual(rpc.data ?? {}, {});
      });

      it('stays connected across server pings (pongs go back over SockJS)', async (t) => {
        const { c } = await connected(t, uniq('u'));
        let disconnected = false;
        c.on('disconnected', () => (disconnected = true));
        c.on('connecting', () => (disconnected = true));
        await sleep(3500);
        assert.equal(disconnected, false);
        assert.equal(c.state, 'connected');
      });

      it('gets a server disconnect with its code and reason (SockJS close frame)', async (t) => {
        const user = uniq('u');
        const { c } = await connected(t, user);
        const gone = waitEvent<{ code: number; reason: string }>(c, 'disconnected', { timeoutMs: 10_000 });
        await apiResult(gyre.apiUrl, API_KEY, 'disconnect', { user, disconnect: { code: 4501, reason: 'go away' } });
        const ctx = await gone;
        assert.equal(ctx.code, 4501);
        assert.equal(ctx.reason, 'go away');
      });
    });
  }

  it('serves SockJS info and the iframe page with the configured client URL', async () => {
    const info = await (await fetch(`${gyre.base}/connection/sockjs/info`)).json();
    assert.equal(info.websocket, true);
    const iframe = await (await fetch(`${gyre.base}/connection/sockjs/iframe.html`)).text();
    assert.match(iframe, /http:\/\/127\.0\.0\.1\/sockjs\.min\.js/);
  });

  it('disconnects a SockJS WebSocket client that stops reading as slow (3008)', async () => {
    const { ws, frames, closed } = await rawSockJs(gyre.base);
    const channel = uniq('flood');
    ws.send(JSON.stringify([`{"id":1,"connect":{"token":${JSON.stringify(await hmacToken(SECRET, { sub: 'slow' }))}}}\n{"id":2,"subscribe":{"channel":"${channel}"}}`]));
    await waitFor(() => messagesOf(frames).some((m) => m.includes('"id":2')), 'subscribe reply');
    // Stop reading: what the server writes piles up in its socket buffers.
    (ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
    const big = 'x'.repeat(60_000);
    // Quickly (in parallel batches): the slow bound must be hit before the pong timeout.
    // Batches stay well under the queue bound, so only the transport's backlog can reach it.
    for (let i = 0; i < 200; i += 8) {
      await Promise.all(Array.from({ length: 8 }, (_, j) => publish(channel, { i: i + j, big })));
    }
    (ws as unknown as { _socket: import('node:net').Socket })._socket.resume();
    await closed;
    assert.deepEqual(closeFrameOf(frames), [3008, 'slow']);
  });

  it('ends the client session when an xhr-streaming peer vanishes (after disconnect_delay)', async (t) => {
    // Its own server with pings far apart: only the SockJS session's end can release the client.
    const own = await startGyre({
      client: { token: { hmac_secret_key: SECRET }, ping_interval: '120s', pong_timeout: '60s' },
      http_api: { key: API_KEY },
      sockjs: { enabled: true, disconnect_delay: '1s' },
      channel: { without_namespace: { allow_subscribe_for_client: true } },
    });
    t.after(() => own.stop());
    const channel = uniq('gone');
    const url = `${own.base}/connection/sockjs/000/${uniq('s')}`;
    const stream = new AbortController();
    const res = await fetch(`${url}/xhr_streaming`, { method: 'POST', signal: stream.signal });
    const reader = res.body!.getReader();
    let text = '';
    const read = (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        text += Buffer.from(value).toString('utf8');
      }
    })().catch(() => undefined);
    await waitFor(() => text.includes('\no\n'), 'SockJS open frame');
    const send = (commands: string): Promise<Response> => fetch(`${url}/xhr_send`, { method: 'POST', body: JSON.stringify([commands]) });
    await send(`{"id":1,"connect":{"token":${JSON.stringify(await hmacToken(SECRET, { sub: 'vanish' }))}}}\n{"id":2,"subscribe":{"channel":"${channel}"}}`);
    const clients = async (): Promise<number> => {
      const r = await apiResult(own.apiUrl, API_KEY, 'channels', { pattern: channel });
      return r.channels[channel]?.num_clients ?? 0;
    };
    await waitFor(async () => (await clients()) === 1, 'subscribed session');
    // The peer goes away without a SockJS close: the session lives on for disconnect_delay, then ends.
    stream.abort();
    await read;
    await waitFor(async () => (await clients()) === 0, 'session released', 10_000);
    assert.equal((await send('{}')).status, 404);
  });

  it('closes SockJS connections on bad input and keeps serving', async (t) => {
    // Not JSON at all inside SockJS framing: SockJS closes the WebSocket.
    {
      const { ws, closed } = await rawSockJs(gyre.base);
      ws.send('{{{ not json');
      assert.equal((await closed).code, 3000);
    }
    // A JSON value that is not a string: a bad request.
    {
      const { ws, frames, closed } = await rawSockJs(gyre.base);
      ws.send('[123]');
      await closed;
      assert.deepEqual(closeFrameOf(frames), [3501, 'bad request']);
    }
    // A string that is not a frame of commands: a bad request.
    {
      const { ws, frames, closed } = await rawSockJs(gyre.base);
      ws.send(JSON.stringify(['{"id":1,"connect":']));
      await closed;
      assert.deepEqual(closeFrameOf(frames), [3501, 'bad request']);
    }
    // A message far past the limit: the WebSocket is closed with 1009.
    {
      const { ws, closed } = await rawSockJs(gyre.base);
      ws.send(JSON.stringify(['x'.repeat(200_000)]));
      assert.equal((await closed).code, 1009);
    }
    // An oversized xhr_send body: 413, the connection dropped.
    {
      const res = await fetch(`${gyre.base}/connection/sockjs/000/${uniq('s')}/xhr_send`, { method: 'POST', body: JSON.stringify(['y'.repeat(200_000)]) });
      assert.equal(res.status, 413);
    }
    // A malformed xhr_send body for an unknown session, and an unknown path below the prefix.
    {
      const res = await fetch(`${gyre.base}/connection/sockjs/000/${uniq('s')}/xhr_send`, { method: 'POST', body: '[' });
      assert.equal(res.status, 500);
      await res.text();
      const res2 = await fetch(`${gyre.base}/connection/sockjs/nope/../x`);
      assert.ok(res2.status >= 400);
      await res2.text();
    }
    // The server still serves a real client.
    const c = new Centrifuge([{ transport: 'sockjs', endpoint: `${gyre.base}/connection/sockjs` }], {
      sockjs: SockJS,
      sockjsOptions: { transports: ['websocket'] },
      token: await hmacToken(SECRET, { sub: 'after' }),
    } as Partial<Options>);
    c.on('error', () => undefined);
    t.after(() => c.disconnect());
    const ready = waitEvent(c, 'connected');
    c.connect();
    await ready;
  });
});
