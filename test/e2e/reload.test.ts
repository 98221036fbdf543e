/**
 * Configuration reload on SIGHUP: token verifiers and namespace options swap in while
 * connected SDK clients keep their connections and subscriptions; other changes are logged
 * as needing a restart; an invalid file is rejected and the running configuration stays.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { Centrifuge } from 'centrifuge';
import { apiResult } from '../helpers/api.js';
import { SdkClients, subscribed, subscribeOutcome } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { hmacToken } from '../helpers/tokens.js';
import { collect, uniq, waitEvent, waitFor } from '../helpers/wait.js';

const API_KEY = 'reload-api-key';
const open = { allow_subscribe_for_client: true };

function configWith(token: Record<string, unknown>, namespaces: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { http_api: { key: API_KEY }, client: { token }, channel: { without_namespace: open, namespaces }, ...extra };
}

describe('configuration reload (SIGHUP)', { timeout: 90_000 }, () => {
  let gyre: GyreProcess;
  let clients: SdkClients;

  before(async () => {
    gyre = await startGyre(configWith({ hmac_secret_key: 'secret-1' }, [{ name: 'news', ...open }]));
    clients = new SdkClients(gyre.wsUrl, 'json');
  });
  after(async () => {
    clients?.closeAll();
    await gyre?.stop();
  });

  const count = (needle: string): number => gyre.output().split(needle).length - 1;

  /** Rewrites the config file as startGyre wrote it (same listener address) and sends SIGHUP; resolves once the reload is logged. */
  async function reload(config: Record<string, unknown> | string, outcome = 'configuration reloaded'): Promise<void> {
    const before = count(outcome);
    const body = typeof config === 'string' ? config : JSON.stringify({ log: { level: 'info' }, ...config, http_server: { address: '127.0.0.1' } });
    writeFileSync(gyre.configPath, body);
    gyre.child.kill('SIGHUP');
    await waitFor(() => count(outcome) > before, `"${outcome}" in the log`);
  }

  async function connectOutcome(t: TestContext, token: string): Promise<string> {
    const c = clients.make({ token });
    t.after(() => c.disconnect());
    return new Promise<string>((resolve) => {
      c.on('connected', () => resolve('connected'));
      c.on('disconnected', (ctx) => resolve(`disconnected ${ctx.code}`));
      c.connect();
    });
  }

  async function publish(channel: string, data: unknown): Promise<void> {
    await apiResult(gyre.apiUrl, API_KEY, 'publish', { channel, data });
  }

  let veteran: Centrifuge;
  let veteranDisconnects: unknown[];

  it('an SDK client keeps its connection and keeps receiving across a reload; a new namespace is usable at once', async () => {
    veteran = await clients.connected({ token: await hmacToken('secret-1', { sub: 'veteran' }) });
    veteranDisconnects = collect(veteran, 'disconnected');
    const channel = `news:${uniq()}`;
    const { sub } = await subscribed(veteran, channel);
    const pubs = collect<{ data: unknown }>(sub, 'publication');
    await publish(channel, { n: 1 });
    await waitFor(() => pubs.length === 1, 'first publication');
    assert.equal(await subscribeOutcome(veteran, `extra:${uniq()}`), 'unsubscribed 102');

    await reload(configWith({ hmac_secret_key: 'secret-2' }, [{ name: 'news', ...open }, { name: 'extra', ...open }]));

    await publish(channel, { n: 2 });
    await waitFor(() => pubs.length === 2, 'publication after the reload');
    assert.deepEqual(pubs.map((p) => p.data), [{ n: 1 }, { n: 2 }]);
    const extra = `extra:${uniq()}`;
    const { sub: extraSub } = await subscribed(veteran, extra);
    const got = waitEvent<{ data: unknown }>(extraSub, 'publication');
    await publish(extra, { fresh: true });
    assert.deepEqual((await got).data, { fresh: true });
    assert.deepEqual(veteranDisconnects, []);
    assert.equal(veteran.state, 'connected');
  });

  it('a new HMAC secret applies to new connections while old connections stay', async (t) => {
    assert.equal(await connectOutcome(t, await hmacToken('secret-1', { sub: 'late' })), 'disconnected 3500');
    assert.equal(await connectOutcome(t, await hmacToken('secret-2', { sub: 'new' })), 'connected');
    // The client that connected with the old secret is still there and still served.
    const channel = `news:${uniq()}`;
    const { sub } = await subscribed(veteran, channel);
    const got = waitEvent<{ data: unknown }>(sub, 'publication');
    await publish(channel, { still: 'here' });
    assert.deepEqual((await got).data, { still: 'here' });
    assert.deepEqual(veteranDisconnects, []);
  });

  it('the previous HMAC key is accepted until hmac_previous_secret_key_valid_until, refused after', async (t) => {
    const nowSec = Math.floor(Date.now() / 1000);
    const namespaces = [{ name: 'news', ...open }, { name: 'extra', ...open }];
    await reload(configWith({ hmac_secret_key: 'secret-3', hmac_previous_secret_key: 'secret-2', hmac_previous_secret_key_valid_until: nowSec + 3600 }, namespaces));
    assert.equal(await connectOutcome(t, await hmacToken('secret-2', { sub: 'rotating' })), 'connected');
    assert.equal(await connectOutcome(t, await hmacToken('secret-3', { sub: 'current' })), 'connected');
    assert.equal(await connectOutcome(t, await hmacToken('secret-1', { sub: 'ancient' })), 'disconnected 3500');

    await reload(configWith({ hmac_secret_key: 'secret-3', hmac_previous_secret_key: 'secret-2', hmac_previous_secret_key_valid_until: nowSec - 1 }, namespaces));
    assert.equal(await connectOutcome(t, await hmacToken('secret-2', { sub: 'rotating' })), 'disconnected 3500');
    assert.equal(await connectOutcome(t, await hmacToken('secret-3', { sub: 'current' })), 'connected');
  });

  it('a change outside tokens and namespaces is logged as needing a restart and not applied', async () => {
    const namespaces = [{ name: 'news', ...open }, { name: 'extra', ...open }];
    const before = count('configuration change ignored until restart');
    await reload(configWith({ hmac_secret_key: 'secret-3' }, namespaces, { http_api: { key: 'another-key' } }));
    assert.ok(count('configuration change ignored until restart') > before);
    assert.match(gyre.output(), /"path":"http_api.key".*ignored until restart/);
    // The API key in effect is still the start one.
    await publish(`news:${uniq()}`, { ok: 1 });
  });

  it('an invalid file is rejected with an error log line and the running configuration keeps working', async (t) => {
    const failed = 'error reloading configuration, keeping the current one';
    await reload('{ "client": { "token": ', failed);
    // Valid JSON, invalid configuration: a namespace name the rules refuse.
    await reload(configWith({ hmac_secret_key: 'secret-4' }, [{ name: 'x', ...open }]), failed);
    // Token settings that cannot work: a JWKS URL template fed by an open regex group.
    await reload(
      configWith({ jwks_public_endpoint: 'http://127.0.0.1:9/{{tenant}}/jwks', issuer_regex: '^(?P<tenant>.+)$' }, [{ name: 'news', ...open }]),
      failed,
    );
    assert.match(gyre.output(), /named group tenant/);
    assert.equal(count(failed), 3);
    // Still the last good configuration: secret-3 tokens, the extra namespace.
    assert.equal(await connectOutcome(t, await hmacToken('secret-4', { sub: 'nope' })), 'disconnected 3500');
    assert.equal(await connectOutcome(t, await hmacToken('secret-3', { sub: 'fine' })), 'connected');
    assert.equal(await subscribeOutcome(veteran, `extra:${uniq()}`), 'subscribed');
    assert.deepEqual(veteranDisconnects, []);
  });
});
