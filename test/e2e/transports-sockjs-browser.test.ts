/**
 * The SockJS transport in headless Chromium (playwright-core with Debian's chromium): a
 * page on its own local origin loads the SDK and sockjs-client browser bundles, connects
 * to a real gyre process over SockJS's WebSocket and xhr-streaming, and both clients get
 * a publication, publish, and see a server disconnect's code.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { apiResult } from '../helpers/api.js';
import { chromiumSkip, launchChromium, type Chromium } from '../helpers/browser.js';
import { repoRoot, startGyre, type GyreProcess } from '../helpers/server-process.js';
import { hmacToken } from '../helpers/tokens.js';
import { uniq } from '../helpers/wait.js';

const API_KEY = 'transports-sockjs-browser-key';
const SECRET = 'transports-sockjs-browser-secret-0123456789';
const transports = ['websocket', 'xhr-streaming'];

/** One client per SockJS transport; what happens is recorded in window.sockjsDemo. */
const page = `<!doctype html>
<meta charset="utf-8">
<title>Gyre SockJS</title>
<script src="/sockjs.min.js"></script>
<script src="/centrifuge.js"></script>
<script>
  const params = new URLSearchParams(location.search);
  const gyre = params.get('gyre');
  const channel = params.get('channel');
  const demo = (window.sockjsDemo = { connected: {}, subscribed: {}, received: [], disconnected: {}, errors: [] });
  for (const t of ${JSON.stringify(transports)}) {
    const c = new Centrifuge([{ transport: 'sockjs', endpoint: gyre + '/connection/sockjs' }], {
      sockjs: SockJS,
      sockjsOptions: { transports: [t] },
      token: JSON.parse(params.get('tokens'))[t],
    });
    c.on('connected', (ctx) => (demo.connected[t] = ctx.transport));
    c.on('disconnected', (ctx) => (demo.disconnected[t] = ctx.code));
    c.on('error', (e) => demo.errors.push(t + ': ' + JSON.stringify(e.error)));
    const sub = c.newSubscription(channel);
    sub.on('subscribed', () => (demo.subscribed[t] = true));
    sub.on('publication', (p) => demo.received.push({ transport: t, data: p.data }));
    sub.subscribe();
    c.connect();
    window['client_' + t] = c;
    window['sub_' + t] = sub;
  }
</script>`;

/** Serves the page and the two browser bundles, nothing else. */
function staticServer(): Promise<http.Server> {
  const files: Record<string, { body: () => Buffer | string; type: string }> = {
    '/sockjs.html': { body: () => page, type: 'text/html; charset=utf-8' },
    '/centrifuge.js': { body: () => readFileSync(join(repoRoot, 'node_modules', 'centrifuge', 'dist', 'centrifuge.js')), type: 'text/javascript; charset=utf-8' },
    '/sockjs.min.js': { body: () => readFileSync(join(repoRoot, 'node_modules', 'sockjs-client', 'dist', 'sockjs.min.js')), type: 'text/javascript; charset=utf-8' },
  };
  const server = http.createServer((req, res) => {
    const f = files[(req.url ?? '/').split('?')[0]!];
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': f.type }).end(f.body());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('SockJS in headless Chromium', { timeout: 90_000, skip: chromiumSkip }, () => {
  let gyre: GyreProcess;
  let pages: http.Server;
  let pageOrigin: string;
  let launched: Chromium | undefined;
  let browser: import('playwright-core').BrowserContext;

  before(async () => {
    pages = await staticServer();
    pageOrigin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
    gyre = await startGyre({
      client: { token: { hmac_secret_key: SECRET }, allowed_origins: [pageOrigin] },
      channel: { without_namespace: { allow_subscribe_for_client: true, allow_publish_for_subscriber: true } },
      http_api: { key: API_KEY },
      sockjs: { enabled: true },
    });
    launched = await launchChromium();
    browser = launched.context;
  });
  after(async () => {
    await launched?.close();
    await gyre?.stop();
    await new Promise<void>((resolve) => pages?.close(() => resolve()));
  });

  it('connects over SockJS websocket and xhr-streaming from another origin, receives, publishes, and is disconnected', async () => {
    const tab = await browser.newPage();
    const consoleErrors: string[] = [];
    tab.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    const channel = uniq('news');
    const tokens: Record<string, string> = {};
    for (const t of transports) tokens[t] = await hmacToken(SECRET, { sub: `browser-${t}` });
    const query = new URLSearchParams({ gyre: gyre.base, channel, tokens: JSON.stringify(tokens) });
    await tab.goto(`${pageOrigin}/sockjs.html?${query}`);
    await tab
      .waitForFunction((names) => names.every((n) => (window as any).sockjsDemo?.subscribed[n]), transports, { timeout: 15_000 })
      .catch(async (err: Error) => {
        const state = await tab.evaluate(() => JSON.stringify((window as any).sockjsDemo));
        throw new Error(`${err.message}; page state ${state}; console errors ${consoleErrors.join(' | ')}`);
      });
    const connected: Record<string, string> = await tab.evaluate(() => (window as any).sockjsDemo.connected);
    assert.deepEqual(connected, { websocket: 'sockjs-websocket', 'xhr-streaming': 'sockjs-xhr-streaming' });

    await apiResult(gyre.apiUrl, API_KEY, 'publish', { channel, data: { hello: 'browser' } });
    await tab.waitForFunction((n) => (window as any).sockjsDemo.received.length >= n, transports.length, { timeout: 10_000 });
    // Each client publishes once: both see both.
    await tab.evaluate(() => Promise.all(['websocket', 'xhr-streaming'].map((t) => (window as any)['sub_' + t].publish({ from: t }))));
    await tab.waitForFunction((n) => (window as any).sockjsDemo.received.length >= n, 3 * transports.length, { timeout: 10_000 });
    const received: { transport: string; data: any }[] = await tab.evaluate(() => (window as any).sockjsDemo.received);
    for (const t of transports) {
      const mine = received.filter((r) => r.transport === t).map((r) => r.data);
      assert.deepEqual(mine[0], { hello: 'browser' }, t);
      assert.deepEqual(mine.slice(1).map((d) => d.from).sort(), [...transports].sort(), t);
    }

    // A server disconnect reaches both (4501: the SDK does not reconnect).
    for (const t of transports) {
      await apiResult(gyre.apiUrl, API_KEY, 'disconnect', { user: 'browser-' + t, disconnect: { code: 4501, reason: 'bye' } });
    }
    await tab.waitForFunction(
      (names) => names.every((n) => (window as any).sockjsDemo.disconnected[n] === 4501),
      transports,
      { timeout: 10_000 },
    );
    await tab.close();
  });
});
