/**
 * HTTP proxies against a real Gyre process and a node:http backend the test runs: the
 * official SDK connects through the connect proxy with the browser's cookie (WebSocket and
 * HTTP-streaming, where the cookie reaches the subscribe proxy through emulation too),
 * subscribes through the namespace's subscribe proxy (default and named), publishes through
 * the publish proxy (which replaces the data) and calls the RPC proxy. Raw clients check the
 * failure paths: backend errors and disconnects pass through as they are, a backend that
 * answers 500, garbage or too late gives the temporary error 100, and other clients carry on.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Options } from 'centrifuge';
import WebSocket from 'ws';
import { RawClient } from '../helpers/raw-ws.js';
import { cookieHttpStreamClient, cookieSseClient, SdkClients, subscribed } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { waitEvent, waitFor } from '../helpers/wait.js';

interface Call {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: any;
}

/** How the backend answers one hook: a JSON body (status 200), another status, garbage, or never. */
type Answer = { json: unknown } | { status: number } | { garbage: string } | 'hang';

/** WebSocket with the browser's cookie on its upgrade request. */
class CookieWebSocket extends WebSocket {
  constructor(url: string, protocols?: string | string[]) {
    super(url, protocols, { headers: { cookie: 'sessionid=s3cr3t' } });
  }
}

describe('HTTP proxies with the official SDK', { timeout: 90_000 }, () => {
  let gyre: GyreProcess;
  let backend: http.Server;
  let base = '';
  const calls: Call[] = [];
  /** Per path: the next answers (a queue), else the default for that path. */
  const answers = new Map<string, Answer[]>();
  const defaults: Record<string, (body: any) => Answer> = {
    '/connect': (b) => ({ json: { result: { user: b.data?.user ?? '56', data: { greeting: 'hello' }, info: { name: 'Alice' } } } }),
    '/subscribe': (b) => ({ json: { result: { info: { room: b.channel }, data: { welcome: b.channel } } } }),
    '/named-subscribe': () => ({ json: { result: { data: { via: 'named' } } } }),
    '/publish': (b) => ({ json: { result: { data: { original: b.data, checked: true } } } }),
    '/rpc': (b) => ({ json: { result: { data: { method: b.method, echo: b.data } } } }),
  };
  let clients: SdkClients;

  before(async () => {
    backend = http.createServer((req, res) => {
      let text = '';
      req.on('data', (d: Buffer) => (text += d.toString('utf8')));
      req.on('end', () => {
        const path = req.url ?? '';
        const body = JSON.parse(text);
        calls.push({ path, headers: req.headers, body });
        const answer = answers.get(path)?.shift() ?? defaults[path]?.(body) ?? { status: 404 };
        if (answer === 'hang') return;
        if ('json' in answer) {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer.json));
        } else if ('status' in answer) {
          res.writeHead(answer.status).end('<html>oops</html>');
        } else {
          res.writeHead(200, { 'content-type': 'application/json' }).end(answer.garbage);
        }
      });
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
    gyre = await startGyre({
      log: { level: 'warn' },
      client: {
        proxy: { connect: { enabled: true, endpoint: `${base}/connect`, timeout: '500ms', http_headers: ['cookie'] } },
      },
      http_stream: { enabled: true },
      sse: { enabled: true },
      channel: {
        proxy: {
          subscribe: { endpoint: `${base}/subscribe`, timeout: '500ms', http_headers: ['cookie'] },
          publish: { endpoint: `${base}/publish`, timeout: '500ms' },
        },
        without_namespace: { subscribe_proxy_enabled: true, publish_proxy_enabled: true },
        namespaces: [{ name: 'named', subscribe_proxy_enabled: true, subscribe_proxy_name: 'other' }],
      },
      rpc: { proxy: { endpoint: `${base}/rpc`, timeout: '500ms' }, without_namespace: { proxy_enabled: true } },
      proxies: [{ name: 'other', endpoint: `${base}/named-subscribe`, timeout: '500ms' }],
      prometheus: { enabled: true },
    });
    clients = new SdkClients(gyre.wsUrl, 'json');
  });
  after(async () => {
    clients?.closeAll();
    await gyre?.stop();
    backend?.closeAllConnections();
    await new Promise((r) => backend?.close(r));
  });
  beforeEach(() => {
    calls.length = 0;
    answers.clear();
  });

  const last = (path: string): Call => {
    const c = calls.filter((x) => x.path === path).at(-1);
    assert.ok(c, `the backend got no ${path} call`);
    return c;
  };

  it('connects through the connect proxy with the cookie of the upgrade request', async () => {
    const c = clients.make({ websocket: CookieWebSocket as unknown as typeof WebSocket, data: { user: '56' }, name: 'js', version: '5.0.0' } as Partial<Options>);
    const ready = waitEvent(c, 'connected');
    c.connect();
    const ctx = await ready;
    assert.deepEqual(ctx.data, { greeting: 'hello' });
    const call = last('/connect');
    assert.equal(call.headers.cookie, 'sessionid=s3cr3t');
    assert.equal(call.headers['content-type'], 'application/json');
    assert.deepEqual(
      { ...call.body, client: undefined },
      { client: undefined, transport: 'websocket', protocol: 'json', encoding: 'json', data: { user: '56' }, name: 'js', version: '5.0.0' },
    );
    assert.equal(call.body.client, ctx.client);
  });

  it('subscribes through the namespace proxy (default and named), publishes through the publish proxy and calls RPC', async () => {
    const c = await clients.connected({ websocket: CookieWebSocket as unknown as typeof WebSocket });
    const { sub, ctx } = await subscribed(c, 'news', { data: { hint: 1 } });
    assert.deepEqual(ctx.data, { welcome: 'news' });
    const s = last('/subscribe');
    assert.equal(s.body.channel, 'news');
    assert.equal(s.body.user, '56');
    assert.deepEqual(s.body.data, { hint: 1 });
    assert.equal(s.headers.cookie, 'sessionid=s3cr3t');

    const named = await subscribed(c, 'named:room');
    assert.deepEqual(named.ctx.data, { via: 'named' });
    assert.equal(calls.filter((x) => x.path === '/subscribe' && x.body.channel === 'named:room').length, 0, 'the named proxy, not the default');

    const got = waitEvent(sub, 'publication');
    await c.publish('news', { text: 'hi' });
    const pub = await got;
    assert.deepEqual(pub.data, { original: { text: 'hi' }, checked: true }, 'the proxy replaced the data');
    assert.deepEqual(pub.info?.chanInfo, { room: 'news' }, 'channel info from the subscribe proxy');
    assert.equal(last('/publish').body.user, '56');

    const rpc = await c.rpc('sum', { a: 1 });
    assert.deepEqual(rpc.data, { method: 'sum', echo: { a: 1 } });
  });

  it('forwards the cookie of an HTTP-streaming session to the subscribe proxy through emulation', async () => {
    const c = cookieHttpStreamClient(gyre.base, 'sessionid=stream');
    try {
      const ready = waitEvent(c, 'connected');
      c.connect();
      await ready;
      assert.equal(last('/connect').headers.cookie, 'sessionid=stream');
      assert.equal(last('/connect').body.transport, 'http_stream');
      await subscribed(c, 'streamed');
      const s = last('/subscribe');
      assert.equal(s.body.channel, 'streamed');
      assert.equal(s.headers.cookie, 'sessionid=stream', 'the stream request’s cookie, though the subscribe came by /emulation');
    } finally {
      c.disconnect();
    }
  });

  it('forwards the cookie of an SSE session to the connect, subscribe and RPC proxies through emulation', async () => {
    const c = cookieSseClient(gyre.base, 'sessionid=sse');
    try {
      const ready = waitEvent(c, 'connected');
      c.connect();
      await ready;
      assert.equal(last('/connect').headers.cookie, 'sessionid=sse');
      assert.equal(last('/connect').body.transport, 'sse');
      await subscribed(c, 'over-sse');
      const s = last('/subscribe');
      assert.equal(s.body.channel, 'over-sse');
      assert.equal(s.body.transport, 'sse');
      assert.equal(s.headers.cookie, 'sessionid=sse', 'the event stream request’s cookie, though the subscribe came by /emulation');
      const r = await c.rpc('whoami', { n: 1 });
      assert.deepEqual(r.data, { method: 'whoami', echo: { n: 1 } });
    } finally {
      c.disconnect();
    }
  });

  it('passes backend errors and disconnects through, and answers 100 when the backend fails', async () => {
    const raw = await RawClient.open(gyre.wsUrl);
    try {
      const connected = await raw.connect({});
      assert.ok(connected.connect, JSON.stringify(connected));

      answers.set('/subscribe', [{ json: { error: { code: 1000, message: 'not yours', temporary: false } } }]);
      const denied = await raw.call({ subscribe: { channel: 'a' } });
      assert.deepEqual(denied.error, { code: 1000, message: 'not yours' });

      for (const [answer, what] of [
        [{ status: 500 }, 'a 500'],
        [{ garbage: '<html>' }, 'garbage'],
        ['hang', 'no answer within the timeout'],
      ] as [Answer, string][]) {
        answers.set('/subscribe', [answer]);
        const r = await raw.call({ subscribe: { channel: 'b' } });
        assert.equal(r.error?.code, 100, `${what}: ${JSON.stringify(r)}`);
        assert.equal(r.error?.temporary, true, what);
      }

      answers.set('/rpc', [{ json: { error: { code: 1001, message: 'bad args' } } }]);
      const rpc = await raw.call({ rpc: { method: 'x', data: {} } });
      assert.equal(rpc.error?.code, 1001);

      // Another client is served while this one waits on a hanging backend.
      answers.set('/publish', ['hang']);
      const slow = raw.call({ publish: { channel: 'c', data: {} } });
      const other = await clients.connected();
      const ok = await subscribed(other, 'still-served');
      assert.ok(ok.ctx);
      assert.equal((await slow).error?.code, 100);

      answers.set('/subscribe', [{ json: { disconnect: { code: 4501, reason: 'go away' }, error: { code: 1000, message: 'ignored' } } }]);
      raw.send({ id: raw.id(), subscribe: { channel: 'd' } });
      const closed = await raw.waitClose();
      assert.deepEqual(closed, { code: 4501, reason: 'go away' }, 'disconnect wins over error');
    } finally {
      await raw.close();
    }
  });

  it('a connect proxy that is down fails the connect with the temporary error 100', async () => {
    answers.set('/connect', [{ status: 502 }]);
    const raw = await RawClient.open(gyre.wsUrl);
    try {
      const r = await raw.connect({});
      assert.equal(r.error?.code, 100, JSON.stringify(r));
      assert.equal(r.error?.temporary, true);
    } finally {
      await raw.close();
    }
    await waitFor(() => gyre.output().includes('proxy call failed'), 'the failure is logged');
  });

  it('exposes proxy metrics with Centrifugo\'s names', async () => {
    const text = await (await fetch(`${gyre.base}/metrics`)).text();
    const value = (line: string): number => Number(text.split('\n').find((l) => l.startsWith(line))?.split(' ').at(-1) ?? NaN);
    assert.ok(value('centrifugo_proxy_duration_seconds_histogram_count{protocol="http",type="subscribe",name="default"}') > 0, 'subscribe calls timed');
    assert.ok(value('centrifugo_proxy_duration_seconds_histogram_count{protocol="http",type="subscribe",name="other"}') > 0, 'the named proxy by its name');
    assert.ok(value('centrifugo_proxy_errors{protocol="http",type="subscribe",name="default"}') >= 3, 'the 500, garbage and timeout calls failed');
    assert.equal(value('centrifugo_proxy_inflight_requests{protocol="http",type="subscribe",name="default"}'), 0);
  });
});

describe('server-driven refresh through the refresh and sub_refresh proxies', { timeout: 60_000 }, () => {
  let gyre: GyreProcess;
  let backend: http.Server;
  const calls: Call[] = [];
  /** What the refresh and sub_refresh hooks answer next (queues; then `expired`). */
  const refreshes: unknown[] = [];
  const subRefreshes: unknown[] = [];
  const nowSec = (): number => Math.floor(Date.now() / 1000);

  before(async () => {
    backend = http.createServer((req, res) => {
      let text = '';
      req.on('data', (d: Buffer) => (text += d.toString('utf8')));
      req.on('end', () => {
        const body = JSON.parse(text);
        calls.push({ path: req.url ?? '', headers: req.headers, body });
        let answer: unknown;
        if (req.url === '/connect') answer = { result: { user: 'r1', expire_at: nowSec() + 2 } };
        else if (req.url === '/subscribe') answer = { result: { expire_at: nowSec() + 1 } };
        else if (req.url === '/refresh') answer = refreshes.shift() ?? { result: { expired: true } };
        else if (req.url === '/sub_refresh') answer = subRefreshes.shift() ?? { result: { expired: true } };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer ?? {}));
      });
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    const base = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
    gyre = await startGyre({
      log: { level: 'warn' },
      client: {
        presence_update_interval: '500ms',
        proxy: {
          connect: { enabled: true, endpoint: `${base}/connect`, timeout: '500ms' },
          refresh: { enabled: true, endpoint: `${base}/refresh`, timeout: '500ms' },
        },
      },
      channel: {
        proxy: { subscribe: { endpoint: `${base}/subscribe` }, sub_refresh: { endpoint: `${base}/sub_refresh` } },
        namespaces: [{ name: 'sr', subscribe_proxy_enabled: true, sub_refresh_proxy_enabled: true }],
      },
    });
  });
  after(async () => {
    await gyre?.stop();
    backend?.closeAllConnections();
    await new Promise((r) => backend?.close(r));
  });

  it('renews a connection through the refresh proxy, and ends it as expired when the backend says so', async () => {
    refreshes.push({ result: { expire_at: nowSec() + 3 } });
    const raw = await RawClient.open(gyre.wsUrl);
    try {
      const connected = await raw.connect({});
      assert.ok(connected.connect, JSON.stringify(connected));
      assert.equal(connected.connect.expires, undefined, 'the server refreshes, not the client');
      await waitFor(() => calls.some((c) => c.path === '/refresh'), 'first refresh call', 5000);
      const first = calls.find((c) => c.path === '/refresh')!;
      assert.equal(first.body.user, 'r1');
      assert.equal(first.body.client, connected.connect.client);
      assert.ok(raw.isOpen, 'renewed: still connected');
      const closed = await raw.waitClose(8000);
      assert.equal(closed.code, 3005, 'the second answer is expired');
      assert.equal(calls.filter((c) => c.path === '/refresh').length, 2);
    } finally {
      await raw.close();
    }
  });

  it('renews a subscription through the sub_refresh proxy, then unsubscribes it when expired', async () => {
    refreshes.push({ result: { expire_at: nowSec() + 60 } }, { result: { expire_at: nowSec() + 60 } });
    subRefreshes.push({ result: { expire_at: nowSec() + 2 } });
    const raw = await RawClient.open(gyre.wsUrl);
    try {
      await raw.connect({});
      const sub = await raw.call({ subscribe: { channel: 'sr:room' } });
      assert.ok(sub.subscribe, JSON.stringify(sub));
      assert.equal(sub.subscribe.expires, undefined, 'the server refreshes, not the client');
      const push = await raw.push((p) => p.unsubscribe && p.channel === 'sr:room', 'unsubscribe push', 10_000);
      assert.equal(push.unsubscribe.code, 2501);
      const subCalls = calls.filter((c) => c.path === '/sub_refresh');
      assert.equal(subCalls.length, 2, 'renewed once, then expired');
      assert.equal(subCalls[0]!.body.channel, 'sr:room');
      assert.equal(subCalls[0]!.body.user, 'r1');
      assert.ok(raw.isOpen, 'the connection stays');
    } finally {
      await raw.close();
    }
  });
});
