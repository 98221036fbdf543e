/**
 * The admin web UI in headless Chromium (playwright-core driving Debian's chromium) against a
 * real gyre process: sign in with the password, watch the live connection count change when an
 * SDK client connects, publish from the actions page and see the SDK client receive it, tail a
 * channel live, inspect it; screenshots in light and dark color schemes go to test-artifacts/.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { apiResult } from '../helpers/api.js';
import { SdkClients, subscribed } from '../helpers/sdk.js';
import { chromiumSkip, launchChromium, type Chromium } from '../helpers/browser.js';
import { repoRoot, startGyre, type GyreProcess } from '../helpers/server-process.js';
import { collect, uniq, waitFor } from '../helpers/wait.js';

const API_KEY = 'admin-browser-key';
const PASSWORD = 'correct horse battery staple';
const artifacts = join(repoRoot, 'test-artifacts');
const AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';
const QUEUE = uniq('gyre_admin_ui_');

describe('admin UI in headless Chromium', { timeout: 55_000, skip: chromiumSkip }, () => {
  let gyre: GyreProcess;
  let launched: Chromium | undefined;
  let browser: BrowserContext;
  let sdk: SdkClients;
  let page: Page;
  const consoleErrors: string[] = [];

  before(async () => {
    gyre = await startGyre({
      client: { insecure: true },
      http_api: { key: API_KEY },
      admin: { enabled: true, password: PASSWORD, secret: 'admin-browser-secret' },
      node: { name: 'gyre-e2e-1' },
      consumers: [{ name: 'ui_queue', enabled: true, type: 'rabbitmq', rabbitmq: { url: AMQP_URL, queue: QUEUE } }],
      channel: {
        namespaces: [
          { name: 'chat', presence: true, history_size: 10, history_ttl: '60s' },
          { name: 'rooms', subscription_type: 'map', map: { mode: 'recoverable', key_ttl: '60s' } },
        ],
      },
    });
    sdk = new SdkClients(gyre.wsUrl, 'json');
    mkdirSync(artifacts, { recursive: true });
    launched = await launchChromium({ viewport: { width: 1280, height: 860 } });
    browser = launched.context;
    page = await browser.newPage();
    page.setDefaultTimeout(8000);
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
  });
  after(async () => {
    sdk?.closeAll();
    await launched?.close();
    if (gyre) assert.equal(await gyre.stop(), 0);
    const { connect } = await import('amqplib');
    const amqp = await connect(AMQP_URL).catch(() => undefined);
    if (amqp) {
      const ch = await amqp.createChannel();
      await ch.deleteQueue(QUEUE).catch(() => undefined);
      await amqp.close().catch(() => undefined);
    }
  });

  const statValue = (stat: string): Promise<string | null> => page.textContent(`[data-stat="${stat}"] .stat-value`);

  it('rejects a wrong password, then signs in', async () => {
    await page.goto(`${gyre.base}/`);
    await page.getByLabel('Password').fill('wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Wrong password.').waitFor();
    await page.screenshot({ path: join(artifacts, 'admin-login.png') });
    await page.getByLabel('Password').fill(PASSWORD);
    await page.keyboard.press('Enter');
    await page.locator('[data-node="gyre-e2e-1"]').waitFor();
    assert.equal(await statValue('nodes'), '1');
    assert.equal(await statValue('clients'), '0');
    // The wrong password's 400 is the only error the console may show.
    assert.ok(consoleErrors.every((e) => e.includes('400')), consoleErrors.join('\n'));
    consoleErrors.length = 0;
  });

  it('lists the node\'s consumers with their state', async () => {
    await page.waitForFunction(() => document.querySelector('[data-consumer="ui_queue"] [data-col="status"]')?.textContent === 'running', undefined, { timeout: 8000 });
    const row = await page.textContent('[data-consumer="ui_queue"]');
    assert.match(row ?? '', /gyre-e2e-1/);
    assert.match(row ?? '', /rabbitmq/);
  });

  it('shows the live connection count change when an SDK client connects', async () => {
    const client = await sdk.connected();
    await page.waitForFunction(() => document.querySelector('[data-stat="clients"] .stat-value')?.textContent === '1', undefined, { timeout: 5000 });
    assert.equal(await page.textContent('[data-node="gyre-e2e-1"] [data-col="clients"]'), '1');
    await subscribed(client, 'chat:lobby');
    await apiResult(gyre.apiUrl, API_KEY, 'publish', { channel: 'chat:lobby', data: { text: 'history entry' } });
    await page.waitForFunction(() => document.querySelector('[data-stat="subs"] .stat-value')?.textContent === '1', undefined, { timeout: 5000 });
    // Let the sparkline collect a few samples before the screenshots.
    await page.waitForTimeout(3200);
    await page.emulateMedia({ colorScheme: 'light' });
    await page.screenshot({ path: join(artifacts, 'admin-dashboard.png') });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: join(artifacts, 'admin-dashboard-dark.png') });
    await page.emulateMedia({ colorScheme: 'light' });
  });

  it('publishes from the actions page to a subscribed SDK client', async () => {
    const client = await sdk.connected();
    const channel = uniq('news');
    const { sub } = await subscribed(client, channel);
    const pubs = collect(sub, 'publication');
    // Keyboard navigation: from the focused Status tab, ArrowRight opens Actions.
    await page.locator('#tab-status').focus();
    await page.keyboard.press('ArrowRight');
    const view = page.locator('#view-actions');
    await view.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'tab-actions');
    await view.getByLabel('Method').selectOption('publish');
    await view.getByRole('textbox', { name: 'Channel', exact: true }).fill(channel);
    await view.getByRole('textbox', { name: 'Data (JSON)', exact: true }).fill('{"text": "hello from admin"}');
    await view.getByRole('button', { name: 'Run' }).click();
    await page.locator('.result.ok').waitFor();
    await waitFor(() => pubs.length === 1, 'publication at the SDK client');
    assert.deepEqual(pubs[0].data, { text: 'hello from admin' });
    await view.getByLabel('Method').selectOption('info');
    await view.getByRole('button', { name: 'Run' }).click();
    await page.locator('.result.ok pre', { hasText: 'gyre-e2e-1' }).waitFor();
    await view.getByLabel('Method').selectOption('publish');
    await view.getByRole('textbox', { name: 'Channel', exact: true }).fill('chat:lobby');
    await view.getByRole('textbox', { name: 'Data (JSON)', exact: true }).fill('{"broken": ');
    await view.getByRole('button', { name: 'Run' }).click();
    await page.getByText('Data (JSON): not valid JSON').waitFor();
    await view.getByRole('textbox', { name: 'Data (JSON)', exact: true }).fill('{"text": "second entry", "n": 2}');
    await view.getByRole('button', { name: 'Run' }).click();
    await page.locator('.result.ok').waitFor();
    await page.screenshot({ path: join(artifacts, 'admin-actions.png') });
  });

  it('inspects a channel: presence and history', async () => {
    await page.locator('#tab-channels').click();
    await page.locator('#channels-body button', { hasText: 'chat:lobby' }).click();
    await page.locator('#inspector h2', { hasText: 'chat:lobby' }).waitFor();
    await page.locator('#inspector .pubs li', { hasText: 'second entry' }).waitFor();
    assert.match((await page.textContent('#inspector')) ?? '', /1 clients · 1 users/);
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: join(artifacts, 'admin-channels-dark.png') });
    await page.emulateMedia({ colorScheme: 'light' });
  });

  it('writes a map key from the actions page and lists the map\'s keys in the inspector', async () => {
    await page.locator('#tab-actions').click();
    const view = page.locator('#view-actions');
    await view.getByLabel('Method').selectOption('map_publish');
    await view.getByRole('textbox', { name: 'Channel', exact: true }).fill('rooms:r1');
    await view.getByRole('textbox', { name: 'Key', exact: true }).fill('alice');
    await view.getByRole('textbox', { name: 'Data (JSON)', exact: true }).fill('{"seat": 7}');
    await view.getByRole('button', { name: 'Run' }).click();
    await page.locator('.result.ok pre', { hasText: '"offset": 1' }).waitFor();
    await page.locator('#tab-channels').click();
    await page.locator('#inspect-channel').fill('rooms:r1');
    await page.locator('#inspect-form button[type="submit"]').click();
    await page.locator('#inspector h3', { hasText: 'Map keys' }).waitFor();
    await page.locator('#inspector li', { hasText: 'alice' }).waitFor();
    assert.match((await page.textContent('#inspector')) ?? '', /"seat": 7/);
    // Every server API method has its form, shared_poll_publish included.
    await page.locator('#tab-actions').click();
    const methods = await page.locator('#method option').allTextContents();
    for (const m of ['map_publish', 'map_remove', 'map_read_state', 'map_read_stream', 'map_stats', 'map_clear', 'shared_poll_publish']) assert.ok(methods.includes(m), m);
    await page.locator('#tab-channels').click();
    // A stream channel has no map section.
    await page.locator('#inspect-channel').fill('chat:lobby');
    await page.locator('#inspect-form button[type="submit"]').click();
    await page.locator('#inspector h2', { hasText: 'chat:lobby' }).waitFor();
    assert.equal(await page.locator('#inspector h3', { hasText: 'Map keys' }).count(), 0);
  });

  it('tails a channel live', async () => {
    await page.getByRole('button', { name: 'Tail live' }).click();
    await page.getByText('Listening on chat:lobby').waitFor();
    await apiResult(gyre.apiUrl, API_KEY, 'publish', { channel: 'chat:lobby', data: { text: 'tailed' } });
    await page.locator('#tail-list li.publication', { hasText: 'tailed' }).waitFor();
    await page.screenshot({ path: join(artifacts, 'admin-tail.png') });
    await page.getByRole('button', { name: 'Stop' }).click();
    await page.getByText('Stopped.').waitFor();
    assert.deepEqual(consoleErrors, []);
  });
});
