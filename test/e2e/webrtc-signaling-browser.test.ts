/**
 * The WebRTC signaling example (examples/webrtc-signaling/) in headless Chromium, driven by
 * playwright-core with Debian's chromium: a real gyre process runs the example's own
 * config.json, the example's server serves the page, two tabs of it exchange offer, answer
 * and ICE candidates over Gyre channels (client-limited inboxes) and then a message crosses
 * the RTCPeerConnection data channel in each direction.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { chromiumSkip, launchChromium, type Chromium } from '../helpers/browser.js';
import { repoRoot, startGyre, type GyreProcess } from '../helpers/server-process.js';
import { uniq } from '../helpers/wait.js';

const exampleDir = join(repoRoot, 'examples', 'webrtc-signaling');

describe('WebRTC signaling example in headless Chromium', { timeout: 90_000, skip: chromiumSkip }, () => {
  let gyre: GyreProcess;
  let pages: http.Server;
  let pageOrigin: string;
  let launched: Chromium | undefined;
  let browser: import('playwright-core').BrowserContext;

  before(async () => {
    const { createExampleServer } = (await import(pathToFileURL(join(exampleDir, 'serve.mjs')).href)) as { createExampleServer: () => http.Server };
    pages = createExampleServer();
    await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
    pageOrigin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
    const config = JSON.parse(readFileSync(join(exampleDir, 'config.json'), 'utf8'));
    config.client.allowed_origins = [pageOrigin];
    gyre = await startGyre({ ...config, log: { level: 'warn' } });
    // WebRTC between two tabs of one machine: plain host candidates, loopback included.
    launched = await launchChromium({ extraArgs: ['--use-fake-ui-for-media-stream', '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns'] });
    browser = launched.context;
  });
  after(async () => {
    await launched?.close();
    await gyre?.stop();
    await new Promise<void>((resolve) => (pages ? pages.close(() => resolve()) : resolve()));
  });

  it('two pages signal over Gyre and talk over a data channel', async () => {
    const room = uniq('room');
    const url = `${pageOrigin}/?gyre=${encodeURIComponent(gyre.base)}&room=${room}`;
    const a = await browser.newPage();
    const b = await browser.newPage();
    const state = async (): Promise<string> => {
      const [sa, sb] = await Promise.all([a, b].map((p) => p.evaluate(() => JSON.stringify((window as any).webrtcDemo))));
      return `page A ${sa}\npage B ${sb}\ngyre log:\n${gyre.output().slice(-3000)}`;
    };
    try {
      await a.goto(url);
      // The second page joins later, so the first one's room announcement finds nobody.
      await a.waitForFunction(() => (window as any).webrtcDemo?.log.some((l: string) => l.startsWith('connected to Gyre')), undefined, { timeout: 10_000 });
      await b.goto(url);
      for (const p of [a, b]) {
        await p.waitForFunction(() => (window as any).webrtcDemo.received.length > 0, undefined, { timeout: 20_000 }).catch(async (err: Error) => {
          throw new Error(`${err.message}\n${await state()}`);
        });
      }
      const [da, db] = await Promise.all([a, b].map((p) => p.evaluate(() => (window as any).webrtcDemo)));
      assert.equal(da.peer, db.clientId);
      assert.equal(db.peer, da.clientId);
      assert.deepEqual(da.received, [`hello from ${db.clientId}`]);
      assert.deepEqual(db.received, [`hello from ${da.clientId}`]);
      assert.equal(da.channelState, 'open');
      for (const d of [da, db]) assert.ok(!d.log.some((l: string) => /error|failed/.test(l)), d.log.join('\n'));

      // The form sends over the data channel too.
      await a.fill('#text', 'typed in A');
      await a.click('#form button');
      await b.waitForFunction(() => (window as any).webrtcDemo.received.includes('typed in A'), undefined, { timeout: 10_000 });
    } finally {
      await a.close();
      await b.close();
    }
  });
});
