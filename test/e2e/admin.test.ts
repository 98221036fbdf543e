/**
 * Admin endpoints of a real gyre process (server.md §7.4): init, password auth and tokens, the
 * legacy API pipeline, the live tail, static UI files, the handler prefix, internal-port
 * placement and insecure mode.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { apiResult } from '../helpers/api.js';
import { SseParser } from '../helpers/streams.js';
import { freePort, startGyre, type GyreProcess } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

const API_KEY = 'admin-key';
const PASSWORD = 'admin-password';

/** Reads SSE `data:` messages of a streaming response into an array. */
function sseMessages(res: Response): { messages: any[]; done: Promise<void> } {
  const messages: any[] = [];
  const parser = new SseParser((d) => messages.push(JSON.parse(d)));
  const done = (async () => {
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done: end } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (end) return;
      parser.push(value ?? '');
    }
  })();
  return { messages, done };
}

describe('admin endpoints', { timeout: 40_000 }, () => {
  let gyre: GyreProcess;
  let admin: string;

  before(async () => {
    const internalPort = await freePort();
    gyre = await startGyre({
      client: { insecure: true },
      http_api: { key: API_KEY },
      http_server: { internal_port: String(internalPort) },
      admin: { enabled: true, password: PASSWORD, secret: 'admin-secret', handler_prefix: '/ops' },
      channel: { namespaces: [{ name: 'chat', join_leave: true }] },
    });
    admin = `http://127.0.0.1:${internalPort}/ops`;
    await waitFor(() => fetch(`${admin}/admin/init`).then((r) => r.ok, () => false), 'internal port');
  });
  after(async () => {
    assert.equal(await gyre.stop(), 0);
  });

  const login = async (password: string): Promise<Response> =>
    fetch(`${admin}/admin/auth`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ password }) });
  const token = async (): Promise<string> => ((await (await login(PASSWORD)).json()) as { token: string }).token;
  const adminApi = (body: string, auth?: string): Promise<Response> =>
    fetch(`${admin}/admin/api`, { method: 'POST', headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) }, body });

  it('is served on the internal port under the prefix only', async () => {
    assert.equal((await fetch(`${gyre.base}/ops/admin/init`)).status, 404);
    assert.equal((await fetch(`${admin.replace('/ops', '')}/admin/init`)).status, 404);
  });

  it('answers init, rejects a wrong password and issues a token for the right one', async () => {
    assert.deepEqual(await (await fetch(`${admin}/admin/init`)).json(), { insecure: false, edition: 'oss', authenticated: false });
    assert.equal((await login('nope')).status, 400);
    assert.equal((await fetch(`${admin}/admin/auth`)).status, 405);
    const t = await token();
    assert.match(t, /^[0-9a-z]+\.[\w-]+$/);
    const init = await (await fetch(`${admin}/admin/init`, { headers: { authorization: `Token ${t}` } })).json();
    assert.equal((init as { authenticated: boolean }).authenticated, true);
    const forged = `${t.split('.')[0]}.${'A'.repeat(43)}`;
    assert.equal(((await (await fetch(`${admin}/admin/init`, { headers: { authorization: `token ${forged}` } })).json()) as { authenticated: boolean }).authenticated, false);
  });

  it('runs the legacy API pipeline for a valid token only', async () => {
    assert.equal((await adminApi('{"method":"info","params":{}}')).status, 401);
    assert.equal((await adminApi('{"method":"info","params":{}}', 'token bad.token')).status, 401);
    assert.equal((await adminApi('{"method":"info","params":{}}', `apikey ${API_KEY}`)).status, 401);
    const auth = `token ${await token()}`;
    const res = await adminApi('{"id":1,"method":"info","params":{}}\n{"id":2,"method":"publish","params":{"channel":"nope:x","data":{}}}', auth);
    assert.equal(res.status, 200);
    const lines = (await res.text()).split('\n').map((l) => JSON.parse(l));
    assert.equal(lines[0].id, 1);
    assert.equal(lines[0].result.nodes.length, 1);
    assert.deepEqual(lines[1], { id: 2, error: { code: 102, message: 'unknown channel' } });
    assert.equal((await adminApi('not json', auth)).status, 400);
  });

  it('tails a channel: publications, joins and leaves as they happen', async () => {
    const auth = { authorization: `token ${await token()}` };
    assert.equal((await fetch(`${admin}/admin/tail?channel=chat:room`)).status, 401);
    assert.equal((await fetch(`${admin}/admin/tail?channel=nope:x`, { headers: auth })).status, 400);
    const ctl = new AbortController();
    const res = await fetch(`${admin}/admin/tail?channel=chat:room`, { headers: auth, signal: ctl.signal });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const { messages, done } = sseMessages(res);
    await waitFor(() => messages.some((m) => m.type === 'subscribed'), 'tail subscribed');
    const apiUrl = admin.replace('/ops', '/api');
    await apiResult(apiUrl, API_KEY, 'publish', { channel: 'chat:room', data: { text: 'hi' } });
    await apiResult(apiUrl, API_KEY, 'publish', { channel: 'chat:other', data: { text: 'elsewhere' } });
    await apiResult(apiUrl, API_KEY, 'publish', { channel: 'chat:room', data: { text: 'bye' } });
    await waitFor(() => messages.filter((m) => m.type === 'publication').length === 2, 'two publications');
    assert.deepEqual(
      messages.filter((m) => m.type === 'publication').map((m) => m.data),
      [{ text: 'hi' }, { text: 'bye' }],
    );
    ctl.abort();
    await done;
  });

  it('serves the UI files', async () => {
    const index = await fetch(`${admin}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await index.text(), /<title>Gyre admin<\/title>/);
    const js = await fetch(`${admin}/app/main.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal((await fetch(`${admin}/styles.css`)).headers.get('content-type'), 'text/css; charset=utf-8');
    assert.equal((await fetch(`${admin}/missing.js`)).status, 404);
    assert.equal((await fetch(`${admin}/..%2F..%2Fpackage.json`)).status, 404);
  });
});

describe('admin in insecure mode on the external port', { timeout: 20_000 }, () => {
  let gyre: GyreProcess;
  before(async () => {
    gyre = await startGyre({ client: { insecure: true }, http_api: { key: API_KEY }, admin: { enabled: true, insecure: true, external: true } });
  });
  after(async () => {
    assert.equal(await gyre.stop(), 0);
  });

  it('needs no token and warns at start', async () => {
    assert.deepEqual(await (await fetch(`${gyre.base}/admin/init`)).json(), { insecure: true, edition: 'oss', authenticated: true });
    const res = await fetch(`${gyre.base}/admin/api`, { method: 'POST', body: '{"method":"channels","params":{}}' });
    assert.deepEqual(await res.json(), { result: { channels: {} } });
    assert.equal((await fetch(`${gyre.base}/admin/auth`, { method: 'POST', body: 'password=x' })).status, 400);
    assert.match(gyre.output(), /admin endpoints are insecure/);
  });
});

describe('admin login rate limit', { timeout: 20_000 }, () => {
  let gyre: GyreProcess;

  before(async () => {
    gyre = await startGyre({ client: { insecure: true }, admin: { enabled: true, password: PASSWORD, secret: 'admin-secret' } });
  });
  after(async () => {
    assert.equal(await gyre.stop(), 0);
  });

  /** POSTs a password to /admin/auth from a chosen loopback address. */
  const loginFrom = (localAddress: string, password: string): Promise<{ status: number; retryAfter?: string }> =>
    new Promise((resolveLogin, reject) => {
      const body = new URLSearchParams({ password }).toString();
      const req = httpRequest(
        `${gyre.base}/admin/auth`,
        { method: 'POST', localAddress, agent: false, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.once('end', () => resolveLogin({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] }));
        },
      );
      req.once('error', reject);
      req.end(body);
    });

  it('refuses an address with 429 and Retry-After after 5 wrong passwords, even the right one, and only that address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await loginFrom('127.0.0.1', `wrong-${i}`)).status);
    assert.deepEqual(statuses, [400, 400, 400, 400, 400]);
    // A burst after the allowance: every attempt is refused, bounded work for the server.
    for (let i = 0; i < 20; i++) {
      const refused = await loginFrom('127.0.0.1', `wrong-again-${i}`);
      assert.equal(refused.status, 429);
      const wait = Number(refused.retryAfter);
      assert.ok(Number.isInteger(wait) && wait >= 1 && wait <= 60, `Retry-After ${String(refused.retryAfter)}`);
    }
    assert.equal((await loginFrom('127.0.0.1', PASSWORD)).status, 429, 'the right password does not lift the block');
    // Another address still gets its own allowance and can log in.
    assert.equal((await loginFrom('127.0.0.2', 'wrong')).status, 400);
    assert.equal((await loginFrom('127.0.0.2', PASSWORD)).status, 200);
    assert.match(gyre.output(), /too many wrong passwords/);
  });
});
