/**
 * GRPC proxies against a real Gyre process and a real @grpc/grpc-js backend the test runs
 * (proto/proxy.proto): the official SDK connects, subscribes, publishes and calls RPC
 * through GRPC hooks over WebSocket and HTTP-streaming (whose cookie and emulated headers
 * reach the backend as metadata), named proxies serve their namespaces, the server refreshes
 * connections and subscriptions through GRPC, failures map as for HTTP proxies, and the
 * subscribe stream proxy feeds subscriptions in both directions.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Options } from 'centrifuge';
import WebSocket from 'ws';
import { GrpcBackend, type Msg } from '../../src/proxy/grpc-backend.test-helper.js';
import { RawClient } from '../helpers/raw-ws.js';
import { cookieHttpStreamClient, SdkClients, subscribed, subscribeFails } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { sleep, waitEvent, waitFor } from '../helpers/wait.js';

const json = (b: Buffer | undefined): any => (b === undefined || b.length === 0 ? undefined : JSON.parse(b.toString('utf8')));
const bytes = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const nowSec = (): number => Math.floor(Date.now() / 1000);

/** WebSocket with the browser's cookie on its upgrade request. */
class CookieWebSocket extends WebSocket {
  constructor(url: string, protocols?: string | string[]) {
    super(url, protocols, { headers: { cookie: 'sessionid=grpc' } });
  }
}

/** Backend side of the open subscribe streams, by channel. */
interface OpenStream {
  send(msg: Msg): void;
  end(): void;
  received: Msg[];
  closed: Promise<void>;
  isClosed: boolean;
}

describe('GRPC proxies with the official SDK', { timeout: 120_000 }, () => {
  let gyre: GyreProcess;
  const backend = new GrpcBackend();
  const named = new GrpcBackend();
  let downPort = 0;
  let clients: SdkClients;
  const streams = new Map<string, OpenStream[]>();

  const installAnswers = (): void => {
    backend.answers.Connect = (req) => {
      const data = json(req.data) ?? {};
      return { result: { user: data.user ?? '77', data: bytes({ greeting: 'grpc' }), info: bytes({ name: 'Bob' }), expire_at: data.expiring ? nowSec() + 2 : 0 } };
    };
    backend.answers.Refresh = () => ({ result: { expire_at: nowSec() + 600 } });
    backend.answers.Subscribe = (req) => {
      const data = json(req.data) ?? {};
      if (data.deny) return { error: { code: 1000, message: 'not yours' } };
      if (data.kick) return { disconnect: { code: 4501, reason: 'go away' }, error: { code: 1000, message: 'ignored' } };
      if (data.slow) return new Promise((r) => setTimeout(() => r({}), 1500));
      const expiring = String(req.channel).startsWith('sr:');
      return { result: { info: bytes({ room: req.channel }), data: bytes({ welcome: req.channel }), expire_at: expiring ? nowSec() + 1 : 0 } };
    };
    backend.answers.Publish = (req) => ({ result: { data: bytes({ original: json(req.data), checked: true }) } });
    backend.answers.RPC = (req) => {
      if (req.method === 'fail') return { error: { code: 1001, message: 'bad args' } };
      return { result: { data: bytes({ method: req.method, echo: json(req.data) }) } };
    };
    backend.answers.SubRefresh = () => ({ result: { expired: true } });
    backend.stream = (ctx) => {
      const req = ctx.first;
      const data = json(req.data) ?? {};
      if (data.refuse) {
        ctx.send({ subscribe_response: { error: { code: 1002, message: 'no stream for you' } } });
        return;
      }
      const entry: OpenStream = { send: ctx.send, end: ctx.end, received: ctx.received, closed: ctx.closed, isClosed: false };
      void ctx.closed.then(() => (entry.isClosed = true));
      const list = streams.get(req.channel) ?? [];
      list.push(entry);
      streams.set(req.channel, list);
      ctx.send({ subscribe_response: { result: { data: bytes({ stream: req.channel, user: req.user }) } } });
    };
    named.answers.Subscribe = () => ({ result: { data: bytes({ via: 'named' }) } });
  };

  before(async () => {
    await backend.start();
    await named.start();
    const down = new GrpcBackend();
    await down.start();
    downPort = down.port;
    await down.stop();
    const proxy = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ endpoint: backend.target, timeout: '500ms', ...extra });
    gyre = await startGyre({
      log: { level: 'warn' },
      client: {
        presence_update_interval: '500ms',
        proxy: {
          connect: proxy({
            enabled: true,
            http_headers: ['cookie'],
            emulated_headers: ['x-app'],
            grpc: { static_metadata: { 'x-static': 'st' }, credentials_key: 'x-proxy-key', credentials_value: 'k1' },
          }),
          refresh: proxy({ enabled: true }),
        },
      },
      http_stream: { enabled: true },
      channel: {
        proxy: {
          subscribe: proxy({ http_headers: ['cookie'], grpc: { compression: true } }),
          publish: proxy(),
          sub_refresh: proxy(),
          subscribe_stream: proxy({ timeout: '1s', http_headers: ['cookie'] }),
        },
        without_namespace: { subscribe_proxy_enabled: true, publish_proxy_enabled: true },
        namespaces: [
          { name: 'named', subscribe_proxy_enabled: true, subscribe_proxy_name: 'other' },
          { name: 'down', subscribe_proxy_enabled: true, subscribe_proxy_name: 'down' },
          { name: 'sr', subscribe_proxy_enabled: true, sub_refresh_proxy_enabled: true },
          { name: 'uni', subscribe_stream_proxy_enabled: true },
          { name: 'bidi', subscribe_stream_proxy_enabled: true, subscribe_stream_proxy_bidirectional: true },
        ],
      },
      rpc: { proxy: proxy(), without_namespace: { proxy_enabled: true } },
      proxies: [
        { name: 'other', endpoint: named.target, timeout: '500ms' },
        { name: 'down', endpoint: `grpc://127.0.0.1:${downPort}`, timeout: '500ms' },
      ],
      prometheus: { enabled: true },
    });
    clients = new SdkClients(gyre.wsUrl, 'json');
  });
  after(async () => {
    clients?.closeAll();
    await gyre?.stop();
    await backend.stop();
    await named.stop();
  });
  beforeEach(() => {
    backend.reset();
    named.reset();
    installAnswers();
    streams.clear();
  });

  it('connects through the GRPC connect proxy: cookie, emulated header, static and credentials metadata', async () => {
    const c = clients.make({ websocket: CookieWebSocket as unknown as typeof WebSocket, data: { user: '56' }, name: 'js', headers: { 'x-app': 'A1' } } as Partial<Options>);
    const ready = waitEvent(c, 'connected');
    c.connect();
    const ctx = await ready;
    assert.deepEqual(ctx.data, { greeting: 'grpc' });
    const call = backend.last('Connect');
    assert.equal(call.request.client, ctx.client);
    assert.equal(call.request.transport, 'websocket');
    assert.equal(call.request.protocol, 'json');
    assert.equal(call.request.encoding, 'json');
    assert.deepEqual(json(call.request.data), { user: '56' });
    assert.equal(call.request.name, 'js');
    assert.equal(call.metadata.cookie, 'sessionid=grpc');
    assert.equal(call.metadata['x-app'], 'A1');
    assert.equal(call.metadata['x-static'], 'st');
    assert.equal(call.metadata['x-proxy-key'], 'k1');
  });

  it('subscribes (default and named proxies), publishes and calls RPC through GRPC', async () => {
    const c = await clients.connected({ websocket: CookieWebSocket as unknown as typeof WebSocket });
    const { sub, ctx } = await subscribed(c, 'news', { data: { hint: 1 } });
    assert.deepEqual(ctx.data, { welcome: 'news' });
    const s = backend.last('Subscribe');
    assert.equal(s.request.channel, 'news');
    assert.equal(s.request.user, '77');
    assert.deepEqual(json(s.request.data), { hint: 1 });
    assert.equal(s.metadata.cookie, 'sessionid=grpc');

    const viaNamed = await subscribed(c, 'named:room');
    assert.deepEqual(viaNamed.ctx.data, { via: 'named' });
    assert.equal(backend.calls('Subscribe').filter((x) => x.request.channel === 'named:room').length, 0, 'the named proxy, not the default');
    assert.equal(named.last('Subscribe').request.channel, 'named:room');

    const got = waitEvent(sub, 'publication');
    await c.publish('news', { text: 'hi' });
    const pub = await got;
    assert.deepEqual(pub.data, { original: { text: 'hi' }, checked: true }, 'the proxy replaced the data');
    assert.deepEqual(pub.info?.chanInfo, { room: 'news' }, 'channel info from the subscribe proxy');

    const rpc = await c.rpc('sum', { a: 1 });
    assert.deepEqual(rpc.data, { method: 'sum', echo: { a: 1 } });
  });

  it('HTTP-streaming: the stream request cookie and the emulated header reach the GRPC backend as metadata', async () => {
    const c = cookieHttpStreamClient(gyre.base, 'sessionid=stream', { headers: { 'x-app': 'from-stream' } } as Partial<Options>);
    try {
      const ready = waitEvent(c, 'connected');
      c.connect();
      await ready;
      const conn = backend.last('Connect');
      assert.equal(conn.request.transport, 'http_stream');
      assert.equal(conn.metadata.cookie, 'sessionid=stream');
      assert.equal(conn.metadata['x-app'], 'from-stream');
      await subscribed(c, 'streamed');
      const s = backend.last('Subscribe');
      assert.equal(s.request.channel, 'streamed');
      assert.equal(s.metadata.cookie, 'sessionid=stream', 'the stream request’s cookie, though the subscribe came by /emulation');
      const { ctx } = await subscribed(c, 'uni:emulated');
      assert.deepEqual(ctx.data, { stream: 'uni:emulated', user: '77' });
      assert.equal(backend.last('SubscribeUnidirectional').metadata.cookie, 'sessionid=stream');
    } finally {
      c.disconnect();
    }
  });

  it('passes backend errors and disconnects through; down, slow and failing backends answer 100', async () => {
    const raw = await RawClient.open(gyre.wsUrl);
    try {
      assert.ok((await raw.connect({})).connect);
      const denied = await raw.call({ subscribe: { channel: 'a', data: { deny: true } } });
      assert.deepEqual(denied.error, { code: 1000, message: 'not yours' });

      const slow = await raw.call({ subscribe: { channel: 'b', data: { slow: true } } });
      assert.equal(slow.error?.code, 100, `deadline: ${JSON.stringify(slow)}`);
      assert.equal(slow.error?.temporary, true);

      const down = await raw.call({ subscribe: { channel: 'down:x' } });
      assert.equal(down.error?.code, 100, `backend down: ${JSON.stringify(down)}`);

      const rpc = await raw.call({ rpc: { method: 'fail', data: {} } });
      assert.equal(rpc.error?.code, 1001);

      raw.send({ id: raw.id(), subscribe: { channel: 'd', data: { kick: true } } });
      assert.deepEqual(await raw.waitClose(), { code: 4501, reason: 'go away' }, 'disconnect wins over error');
    } finally {
      await raw.close();
    }
  });

  it('refreshes the connection and the subscription through GRPC', async () => {
    const raw = await RawClient.open(gyre.wsUrl);
    try {
      const connected = await raw.connect({ data: { expiring: true } });
      assert.ok(connected.connect, JSON.stringify(connected));
      assert.equal(connected.connect.expires, undefined, 'the server refreshes, not the client');
      await waitFor(() => backend.calls('Refresh').length > 0, 'refresh call', 6000);
      assert.equal(backend.last('Refresh').request.client, connected.connect.client);
      assert.ok(raw.isOpen, 'renewed: still connected');

      const sub = await raw.call({ subscribe: { channel: 'sr:room' } });
      assert.ok(sub.subscribe, JSON.stringify(sub));
      const push = await raw.push((p) => p.unsubscribe && p.channel === 'sr:room', 'unsubscribe push', 10_000);
      assert.equal(push.unsubscribe.code, 2501, 'the sub_refresh answer is expired');
      assert.equal(backend.last('SubRefresh').request.channel, 'sr:room');
    } finally {
      await raw.close();
    }
  });

  it('unidirectional stream: publications from the backend reach this subscriber only; unsubscribe cancels the stream', async () => {
    const c = await clients.connected();
    const other = await clients.connected();
    const { sub, ctx } = await subscribed(c, 'uni:feed', { data: { q: 1 } });
    assert.deepEqual(ctx.data, { stream: 'uni:feed', user: '77' });
    const otherSub = await subscribed(other, 'uni:feed');
    const first = backend.calls('SubscribeUnidirectional').find((x) => json(x.request.data)?.q === 1);
    assert.ok(first, 'the stream request carried the subscribe data');
    const [mine, theirs] = streams.get('uni:feed') ?? [];
    assert.ok(mine && theirs, 'one stream per subscriber');

    const otherGot: unknown[] = [];
    otherSub.sub.on('publication', (p) => otherGot.push(p.data));
    const got: unknown[] = [];
    sub.on('publication', (p) => got.push(p.data));
    mine.send({ publication: { data: bytes({ n: 1 }), tags: { k: 'v' } } });
    mine.send({ publication: { data: bytes({ n: 2 }) } });
    await waitFor(() => got.length === 2, 'two stream publications');
    assert.deepEqual(got, [{ n: 1 }, { n: 2 }]);
    await sleep(100);
    assert.deepEqual(otherGot, [], 'publications of one stream go to its subscriber only');

    sub.unsubscribe();
    await waitFor(() => mine.isClosed, 'unsubscribe cancels the backend stream');
    assert.equal(theirs.isClosed, false, 'the other subscriber keeps its stream');
    other.disconnect();
    await waitFor(() => theirs.isClosed, 'disconnect cancels the backend stream');
  });

  it('a stream that ends unsubscribes with 2500 and the SDK subscribes again', async () => {
    const c = await clients.connected();
    const { sub } = await subscribed(c, 'uni:ending');
    const [firstStream] = streams.get('uni:ending') ?? [];
    assert.ok(firstStream);
    const resubscribing = waitEvent(sub, 'subscribing');
    const again = waitEvent(sub, 'subscribed', { timeoutMs: 8000 });
    firstStream.end();
    const why = await resubscribing;
    assert.equal(why.code, 2500);
    assert.equal(why.reason, 'insufficient state');
    await again;
    assert.equal(streams.get('uni:ending')?.length, 2, 'a new stream for the new subscription');
    const got = waitEvent(sub, 'publication');
    streams.get('uni:ending')?.[1]?.send({ publication: { data: bytes({ after: 'resubscribe' }) } });
    assert.deepEqual((await got).data, { after: 'resubscribe' });
    c.disconnect();
  });

  it("the stream's first message decides: its error reaches the client", async () => {
    const c = await clients.connected();
    const failed = await subscribeFails(c, 'uni:refused', { data: { refuse: true } });
    assert.equal(failed.code, 1002);
    c.disconnect();
  });

  it('bidirectional stream: client publications travel up the stream, not to the broker', async () => {
    const c = await clients.connected();
    const { sub, ctx } = await subscribed(c, 'bidi:chat');
    assert.deepEqual(ctx.data, { stream: 'bidi:chat', user: '77' });
    assert.equal(backend.last('SubscribeBidirectional').request.subscribe_request?.channel, 'bidi:chat');
    const [stream] = streams.get('bidi:chat') ?? [];
    assert.ok(stream);
    const got: unknown[] = [];
    sub.on('publication', (p) => got.push(p.data));
    await c.publish('bidi:chat', { up: 1 });
    await sub.publish({ up: 2 });
    await waitFor(() => stream.received.length === 2, 'client publications on the backend stream');
    assert.deepEqual(stream.received.map((m) => json(m.publication?.data)), [{ up: 1 }, { up: 2 }]);
    assert.equal(backend.calls('Publish').length, 0, 'the publish proxy is not involved');
    stream.send({ publication: { data: bytes({ down: 1 }) } });
    await waitFor(() => got.length === 1, 'backend publication');
    assert.deepEqual(got, [{ down: 1 }], 'the client’s own publications do not echo back through a broker');
    c.disconnect();
    await waitFor(() => stream.isClosed, 'disconnect cancels the backend stream');
  });

  it('proxy metrics carry the grpc protocol label', async () => {
    const text = await (await fetch(`${gyre.base}/metrics`)).text();
    const value = (line: string): number => Number(text.split('\n').find((l) => l.startsWith(line))?.split(' ').at(-1) ?? NaN);
    assert.ok(value('centrifugo_proxy_duration_seconds_histogram_count{protocol="grpc",type="connect",name="default"}') > 0, 'connect calls timed');
    assert.ok(value('centrifugo_proxy_duration_seconds_histogram_count{protocol="grpc",type="subscribe",name="other"}') > 0, 'the named proxy by its name');
    assert.ok(value('centrifugo_proxy_errors{protocol="grpc",type="subscribe",name="down"}') >= 1, 'the down backend counted');
  });
});
