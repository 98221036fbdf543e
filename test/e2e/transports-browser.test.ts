/**
 * The transports example page (examples/transports.html) in headless Chromium, driven by
 * playwright-core with Debian's chromium: the page, served from its own local origin,
 * connects to a real gyre process over every transport, and a publication reaches each.
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
import { uniq } from '../helpers/wait.js';

const API_KEY = 'transports-browser-key';
const transports = ['websocket', 'http_stream', 'sse', 'uni_sse', 'uni_http_stream', 'uni_websocket'];

/** Serves the example page and the SDK's browser build, nothing else. */
function staticServer(): Promise<http.Server> {
  const files: Record<string, { path: string; type: string }> = {
    '/transports.html': { path: join(repoRoot, 'examples', 'transports.html'), type: 'text/html; charset=utf-8' },
    '/centrifuge.js': { path: join(repoRoot, 'node_modules', 'centrifuge', 'dist', 'centrifuge.js'), type: 'text/javascript; charset=utf-8' },
  };
  const server = http.createServer((req, res) => {
    const f = files[(req.url ?? '/').split('?')[0]!];
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': f.type }).end(readFileSync(f.path));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('example page in headless Chromium', { timeout: 90_000, skip: chromiumSkip }, () => {
  let gyre: GyreProcess;
  let pages: http.Server;
  let pageOrigin: string;
  let launched: Chromium | undefined;
  let browser: import('playwright-core').BrowserContext;

  before(async () => {
    pages = await staticServer();
    pageOrigin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
    gyre = await startGyre({
      client: { insecure: true, allowed_origins: [pageOrigin] },
      http_api: { key: API_KEY },
      http_stream: { enabled: true },
      sse: { enabled: true },
      uni_sse: { enabled: true },
      uni_http_stream: { enabled: true },
      uni_websocket: { enabled: true },
    });
    launched = await launchChromium();
    browser = launched.context;
  });
  after(async () => {
    await launched?.close();
    await gyre?.stop();
    await new Promise<void>((resolve) => pages?.close(() => resolve()));
  });

  it('receives a publication over every transport, from a page on another origin', async () => {
    const page = await browser.newPage();
    const consoleErrors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    const channel = uniq('news');
    await page.goto(`${pageOrigin}/transports.html?gyre=${encodeURIComponent(gyre.base)}&channel=${channel}`);
    await page
      .waitForFunction((names) => names.every((n) => (window as any).gyreDemo?.connected[n]), transports, { timeout: 15_000 })
      .catch(async (err: Error) => {
        const state = await page.evaluate(() => JSON.stringify((window as any).gyreDemo));
        throw new Error(`${err.message}; page state ${state}; console errors ${consoleErrors.join(' | ')}`);
      });
    await apiResult(gyre.apiUrl, API_KEY, 'publish', { channel, data: { hello: 'browser' } });
    await page.waitForFunction((n) => (window as any).gyreDemo.received.length >= n, transports.length, { timeout: 10_000 });
    const received: { transport: string; data: unknown }[] = await page.evaluate(() => (window as any).gyreDemo.received);
    assert.deepEqual(received.map((r) => r.transport).sort(), [...transports].sort());
    for (const r of received) assert.deepEqual(r.data, { hello: 'browser' });
    const rowText = await page.textContent('#row-sse');
    assert.match(rowText ?? '', /hello/);
    await page.close();
  });
});
