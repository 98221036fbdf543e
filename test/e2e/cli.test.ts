/**
 * The CLI's token tools against a running server that reads the same config file:
 * `gyre gentoken -c cfg -u 42 -q` prints a token the server accepts, `checktoken` agrees.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SdkClients, subscribed } from '../helpers/sdk.js';
import { runGyreCli, startGyre, type GyreProcess } from '../helpers/server-process.js';
import { uniq, waitEvent } from '../helpers/wait.js';

describe('gyre CLI token tools with a running server', { timeout: 60_000 }, () => {
  let gyre: GyreProcess;
  before(async () => {
    gyre = await startGyre({
      client: { token: { hmac_secret_key: 'cli-e2e-secret-key' } },
      channel: { namespaces: [{ name: 'chat', presence: true, allow_subscribe_for_client: true, allow_presence_for_client: true }] },
    });
  });
  after(async () => {
    const code = await gyre.stop();
    assert.equal(code, 0, 'SIGTERM shuts the server down with exit code 0');
  });

  it('gentoken -q prints only a token that the server accepts for user 42', async (t) => {
    const res = await runGyreCli(['gentoken', '-c', gyre.configPath, '-u', '42', '-q']);
    assert.equal(res.code, 0, res.stderr);
    const token = res.stdout.trim();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, `only a JWT on stdout, got ${JSON.stringify(res.stdout)}`);
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
    assert.equal(payload.sub, '42');
    assert.ok(payload.exp - payload.iat === 604800, 'default ttl is one week');

    const cl = new SdkClients(gyre.wsUrl, 'json');
    t.after(() => cl.closeAll());
    const c = await cl.connected({ token });
    const { sub } = await subscribed(c, `chat:${uniq()}`);
    const pres = await sub.presence();
    assert.deepEqual(Object.values(pres.clients).map((i) => i.user), ['42']);
  });

  it('without http_api.key (and not insecure) every API request is 401', async () => {
    const res = await fetch(`${gyre.apiUrl}/info`, { method: 'POST', headers: { 'x-api-key': '' }, body: '{}' });
    assert.equal(res.status, 401);
    await res.arrayBuffer();
  });

  it('gentoken without -q explains the token; checktoken validates it', async () => {
    const res = await runGyreCli(['gentoken', '-c', gyre.configPath, '-u', '7', '-t', '60']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /HMAC SHA-256 JWT for user "7" with expiration TTL 1m0s:/);
    const token = res.stdout.trim().split('\n').pop()!.trim();
    const check = await runGyreCli(['checktoken', '-c', gyre.configPath, token]);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /valid token for user 7/);
    const bad = await runGyreCli(['checktoken', '-c', gyre.configPath, `${token}x`]);
    assert.equal(bad.code, 1);
  });

  // Runs last: it stops the server.
  it('SIGTERM: connected clients get 3001 "shutdown" (and reconnect), the process exits 0', async (t) => {
    const token = (await runGyreCli(['gentoken', '-c', gyre.configPath, '-u', '42', '-q'])).stdout.trim();
    const cl = new SdkClients(gyre.wsUrl, 'json');
    t.after(() => cl.closeAll());
    const c = await cl.connected({ token });
    const reconnecting = waitEvent(c, 'connecting');
    const stopped = gyre.stop();
    const ctx = await reconnecting;
    assert.equal(ctx.code, 3001);
    assert.equal(ctx.reason, 'shutdown');
    const started = Date.now();
    assert.equal(await stopped, 0);
    assert.ok(Date.now() - started < 5000, 'exits promptly');
  });
});
