/**
 * HTTP surface options end to end: a separate internal port for the API and /health, custom
 * handler prefixes, an env var overriding the file, origin checks, permessage-deflate, and
 * the connection limit (503 once reached).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import WebSocket from 'ws';
import { apiCall } from '../helpers/api.js';
import { RawClient } from '../helpers/raw-ws.js';
import { SdkClients, subscribed } from '../helpers/sdk.js';
import { freePort, startGyre, type GyreProcess } from '../helpers/server-process.js';
import { collect, uniq, waitFor } from '../helpers/wait.js';

type Attempt = { open: true; extensions: string } | { status: number } | { error: string };

/** Tries a WebSocket handshake; closes right away when it succeeds. */
function handshake(url: string, headers: Record<string, string> = {}): Promise<Attempt> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => {
      resolve({ open: true, extensions: ws.extensions });
      ws.close();
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err) => resolve({ error: err.message }));
  });
}

describe('HTTP surface options', { timeout: 60_000 }, () => {
  let gyre: GyreProcess;
  let internalPort: number;
  let wsUrl: string;
  let apiUrl: string;

  before(async () => {
    internalPort = await freePort();
    gyre = await startGyre(
      {
        client: { allow_anonymous_connect_without_token: true, allowed_origins: ['http://ok.example', 'https://*.good.example'], connection_limit: 4 },
        http_server: { internal_port: internalPort },
        http_api: { key: 'key-from-file', handler_prefix: '/custom-api' },
        websocket: { handler_prefix: '/ws', compression: true },
        health: { enabled: true },
        channel: { without_namespace: { allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true } },
      },
      { env: { CENTRIFUGO_HTTP_API_KEY: 'key-from-env' } },
    );
    wsUrl = `ws://127.0.0.1:${gyre.port}/ws`;
    apiUrl = `http://127.0.0.1:${internalPort}/custom-api`;
  });
  after(() => gyre.stop());

  it('API and /health live on the internal port under their prefixes; the env var wins over the file', async () => {
    assert.equal((await apiCall(apiUrl, 'key-from-env', 'info', {})).status, 200);
    assert.equal((await apiCall(apiUrl, 'key-from-file', 'info', {})).status, 401);
    assert.equal((await apiCall(`http://127.0.0.1:${gyre.port}/custom-api`, 'key-from-env', 'info', {})).status, 404);
    assert.equal((await apiCall(`http://127.0.0.1:${internalPort}/api`, 'key-from-env', 'info', {})).status, 404);
    const health = await fetch(`http://127.0.0.1:${internalPort}/health`);
    assert.equal(health.status, 200);
    await health.arrayBuffer();
    const external = await fetch(`http://127.0.0.1:${gyre.port}/health`);
    assert.equal(external.status, 404);
    await external.arrayBuffer();
  });

  it('WebSocket is served at websocket.handler_prefix only', async () => {
    assert.deepEqual(await handshake(`ws://127.0.0.1:${gyre.port}/connection/websocket`), { status: 404 });
    assert.ok('open' in (await handshake(wsUrl)));
  });

  it('allowed_origins: listed origins and glob matches pass (case-insensitive), others get 403', async () => {
    assert.ok('open' in (await handshake(wsUrl, { origin: 'http://ok.example' })));
    assert.ok('open' in (await handshake(wsUrl, { origin: 'http://OK.example' })));
    assert.ok('open' in (await handshake(wsUrl, { origin: 'https://app.good.example' })));
    assert.deepEqual(await handshake(wsUrl, { origin: 'http://evil.example' }), { status: 403 });
    assert.deepEqual(await handshake(wsUrl, { origin: 'https://good.example.evil.test' }), { status: 403 });
    assert.ok('open' in (await handshake(wsUrl)), 'no Origin header (non-browser clients) passes');
  });

  it('websocket.compression negotiates permessage-deflate and the SDK works over it', async (t: TestContext) => {
    const attempt = await handshake(wsUrl);
    assert.ok('open' in attempt && attempt.extensions.includes('permessage-deflate'), JSON.stringify(attempt));
    const cl = new SdkClients(wsUrl, 'json');
    t.after(() => cl.closeAll());
    const c = await cl.connected();
    const channel = uniq('plain');
    const { sub } = await subscribed(c, channel);
    const got = collect(sub, 'publication');
    const big = 'z'.repeat(20_000);
    assert.equal((await apiCall(apiUrl, 'key-from-env', 'publish', { channel, data: { big } })).status, 200);
    await waitFor(() => got.length === 1, 'compressed publication');
    assert.equal(got[0].data.big, big);
  });

  it('connection_limit: once 4 clients are connected, new upgrades get 503', async () => {
    const numClients = async (): Promise<number> => (await apiCall(apiUrl, 'key-from-env', 'info', {})).body.result.nodes[0].num_clients;
    await waitFor(async () => (await numClients()) === 0, 'no clients left from earlier tests');
    const clients: RawClient[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const c = await RawClient.open(wsUrl);
        await c.connect();
        clients.push(c);
      }
      assert.deepEqual(await handshake(wsUrl), { status: 503 });
      await clients.pop()!.close();
      await waitFor(async () => 'open' in (await handshake(wsUrl)), 'a slot frees up');
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });
});
