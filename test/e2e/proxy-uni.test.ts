/**
 * The connect proxy on the unidirectional transports, against a real Gyre process and a
 * node:http backend: the cookie of the uni request reaches the backend, whose user and
 * channels shape the connect push; the backend's errors become disconnects through
 * `client.connect_code_to_unidirectional_disconnect` (and the reference table for codes it
 * does not list), its disconnects pass through as they are, and on uni_http_stream with
 * `connect_code_to_http_response` an error becomes a plain HTTP answer.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { apiResult } from '../helpers/api.js';
import { RawClient } from '../helpers/raw-ws.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { StreamClient } from '../helpers/streams.js';
import { uniq } from '../helpers/wait.js';

const API_KEY = 'proxy-uni-key';

/** What the backend answers for a connect whose data says `{"mode": ...}`. */
function answerFor(body: any, cookie: string | undefined): { status: number; json?: unknown } {
  switch (body.data?.mode) {
    case 'deny':
      return { status: 200, json: { error: { code: 1000, message: 'who are you' } } };
    case 'forbidden':
      return { status: 200, json: { error: { code: 103, message: 'permission denied' } } };
    case 'kick':
      return { status: 200, json: { disconnect: { code: 4501, reason: 'banned' } } };
    case 'down':
      return { status: 502 };
    default:
      return { status: 200, json: { result: { user: cookie?.replace('sessionid=', 'user-') ?? '', channels: [body.data?.channel ?? 'news:lobby'] } } };
  }
}

describe('the connect proxy on unidirectional transports', { timeout: 90_000 }, () => {
  let gyre: GyreProcess;
  let backend: http.Server;
  const seen: { cookie?: string; transport: string }[] = [];
  const api = (method: string, params: unknown): Promise<any> => apiResult(gyre.apiUrl, API_KEY, method, params);

  before(async () => {
    backend = http.createServer((req, res) => {
      let text = '';
      req.on('data', (d: Buffer) => (text += d.toString('utf8')));
      req.on('end', () => {
        const body = JSON.parse(text);
        seen.push({ cookie: req.headers.cookie, transport: body.transport });
        const a = answerFor(body, req.headers.cookie);
        if (a.json === undefined) res.writeHead(a.status).end('<html>bad gateway</html>');
        else res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.json));
      });
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    const base = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
    gyre = await startGyre({
      log: { level: 'error' },
      client: {
        proxy: { connect: { enabled: true, endpoint: `${base}/connect`, timeout: '500ms', http_headers: ['cookie'] } },
        connect_code_to_unidirectional_disconnect: { enabled: true, transforms: [{ code: 1000, to: { code: 4403, reason: 'login required' } }] },
      },
      http_api: { key: API_KEY },
      uni_websocket: { enabled: true },
      uni_sse: { enabled: true },
      uni_http_stream: {
        enabled: true,
        connect_code_to_http_response: { enabled: true, transforms: [{ code: 1000, to: { status_code: 401, body: 'log in first' } }] },
      },
      channel: { namespaces: [{ name: 'news' }] },
    });
  });
  after(async () => {
    await gyre?.stop();
    backend?.closeAllConnections();
    await new Promise((r) => backend?.close(r));
  });

  const cookie = { cookie: 'sessionid=s7' };

  async function uniWs(data: unknown): Promise<RawClient> {
    const req = encodeURIComponent(JSON.stringify({ data }));
    return RawClient.open(`ws://127.0.0.1:${gyre.port}/connection/uni_websocket?cf_connect=${req}`, { headers: cookie });
  }

  async function uniSse(data: unknown): Promise<StreamClient> {
    const req = encodeURIComponent(JSON.stringify({ data }));
    return StreamClient.open(`${gyre.base}/connection/uni_sse?cf_connect=${req}`, { headers: cookie }, 'sse');
  }

  it('connects uni_websocket and uni_sse as the backend\'s user, with its channels, from the request cookie', async () => {
    for (const kind of ['uni_websocket', 'uni_sse'] as const) {
      const channel = `news:${uniq()}`;
      seen.length = 0;
      if (kind === 'uni_websocket') {
        const raw = await uniWs({ channel });
        try {
          const first = await raw.waitUntil(() => raw.json[0], 'connect push');
          assert.ok(first.connect?.subs?.[channel], JSON.stringify(first));
          await api('publish', { channel, data: { via: kind } });
          const pub = await raw.waitUntil(() => raw.json.find((m) => m.pub), 'publication');
          assert.deepEqual(pub.pub.data, { via: kind });
        } finally {
          await raw.close();
        }
      } else {
        const s = await uniSse({ channel });
        try {
          const first = await s.message(() => true, 'connect push');
          assert.ok(first.connect?.subs?.[channel], JSON.stringify(first));
          await api('publish', { channel, data: { via: kind } });
          const pub = await s.message((m) => m.pub, 'publication');
          assert.deepEqual(pub.pub.data, { via: kind });
        } finally {
          await s.close();
        }
      }
      assert.deepEqual(seen, [{ cookie: 'sessionid=s7', transport: kind }]);
    }
  });

  it('maps backend errors with connect_code_to_unidirectional_disconnect, then the reference table; disconnects pass through', async () => {
    for (const [mode, code] of [
      ['deny', 4403],
      ['forbidden', 3507],
      ['kick', 4501],
      ['down', 3004],
    ] as const) {
      const raw = await uniWs({ mode });
      try {
        const closed = await raw.waitClose();
        assert.equal(closed.code, code, `uni_websocket, ${mode}`);
        const d = raw.json.find((m) => m.disconnect);
        assert.equal(d?.disconnect.code, code, `uni_websocket disconnect push, ${mode}`);
      } finally {
        await raw.close();
      }
      const s = await uniSse({ mode });
      try {
        const d = await s.message((m) => m.disconnect, `uni_sse disconnect push, ${mode}`);
        assert.equal(d.disconnect.code, code, `uni_sse, ${mode}`);
        await s.waitEnd();
        assert.equal(s.messages.length, 1, 'nothing but the disconnect push');
      } finally {
        await s.close();
      }
    }
  });

  it('answers uni_http_stream connect errors with the configured HTTP response', async () => {
    const post = (data: unknown): Promise<Response> =>
      fetch(`${gyre.base}/connection/uni_http_stream`, { method: 'POST', headers: cookie, body: JSON.stringify({ data }) });
    const denied = await post({ mode: 'deny' });
    assert.equal(denied.status, 401);
    assert.equal(await denied.text(), 'log in first');
    const down = await post({ mode: 'down' });
    assert.equal(down.status, 500, 'codes without a transform are a 500');
    await down.text();
    const channel = `news:${uniq()}`;
    const ok = await StreamClient.open(
      `${gyre.base}/connection/uni_http_stream`,
      { method: 'POST', headers: cookie, body: JSON.stringify({ data: { channel } }) },
      'lines',
    );
    try {
      assert.equal(ok.status, 200);
      const first = await ok.message(() => true, 'connect push');
      assert.ok(first.connect?.subs?.[channel], JSON.stringify(first));
    } finally {
      await ok.close();
    }
  });
});
