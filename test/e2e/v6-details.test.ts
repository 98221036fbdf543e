/**
 * Details Centrifugo added in v6.5–v6.9, against a real Gyre process: `/connection/init`,
 * the inflated-size bound of compressed WebSocket messages (`decompressed_message_size_limit`,
 * bidirectional and uni_websocket), the global `publication_data_format` default on server API
 * publishes, the JWKS URL template safety rule at start, and `prometheus.native_histograms`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { apiCall } from '../helpers/api.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { uniq } from '../helpers/wait.js';

const API_KEY = 'v6-details-key';
const LIMIT = 1024;

/** Opens a permessage-deflate WebSocket, sends one message and resolves with the first reply or the close code. */
function exchange(url: string, message: string): Promise<{ reply?: string; closeCode?: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: { threshold: 0 } });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('no reply and no close within 5 s'));
    }, 5000);
    ws.on('error', () => undefined);
    ws.on('open', () => {
      assert.match(String(ws.extensions), /permessage-deflate/, 'compression negotiated');
      ws.send(message);
    });
    ws.on('message', (data) => {
      clearTimeout(timer);
      ws.close();
      resolve({ reply: String(data) });
    });
    ws.on('close', (code) => {
      clearTimeout(timer);
      resolve({ closeCode: code });
    });
  });
}

/** A JSON connect command whose padding (highly compressible) makes it `size` bytes long. */
function bigConnect(size: number): string {
  const head = '{"id":1,"connect":{"data":{"pad":"';
  const tail = '"}}}';
  return head + 'a'.repeat(size - head.length - tail.length) + tail;
}

/** The uni_websocket connect request (its first message), `size` bytes long. */
function bigUniConnect(size: number): string {
  const head = '{"data":{"pad":"';
  const tail = '"}}';
  return head + 'a'.repeat(size - head.length - tail.length) + tail;
}

describe('v6.5–v6.9 details', { timeout: 60_000 }, () => {
  let gyre: GyreProcess;
  let plain: GyreProcess;

  before(async () => {
    [gyre, plain] = await Promise.all([
      startGyre({
        client: { insecure: true },
        http_api: { key: API_KEY },
        init: { enabled: true, handler_prefix: '/warmup' },
        websocket: { compression: true, message_size_limit: LIMIT },
        uni_websocket: { enabled: true, compression: true, message_size_limit: LIMIT, decompressed_message_size_limit: 3 * LIMIT },
        channel: {
          publication_data_format: 'json',
          namespaces: [{ name: 'bin', publication_data_format: 'binary' }, { name: 'obj', publication_data_format: 'json_object' }],
        },
        prometheus: { enabled: true, native_histograms: true },
      }),
      startGyre({ client: { insecure: true }, prometheus: { enabled: true } }),
    ]);
  });
  after(async () => {
    await Promise.all([gyre?.stop(), plain?.stop()]);
  });

  it('init.enabled serves GET <handler_prefix> with {} and refuses other methods; off by default', async () => {
    const res = await fetch(`${gyre.base}/warmup`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(await res.text(), '{}');
    assert.equal((await fetch(`${gyre.base}/warmup`, { method: 'POST', body: 'x' })).status, 405);
    assert.equal((await fetch(`${plain.base}/connection/init`)).status, 404);
  });

  it('websocket: a compressed message may inflate to 10 x message_size_limit by default, beyond it the connection closes with 1009', async () => {
    const url = `${gyre.wsUrl}`;
    const ok = await exchange(url, bigConnect(5 * LIMIT));
    assert.match(ok.reply ?? `closed ${ok.closeCode}`, /"connect":\{/);
    const tooBig = await exchange(url, bigConnect(10 * LIMIT + 1));
    assert.equal(tooBig.closeCode, 1009, 'message too big');
  });

  it('uni_websocket: decompressed_message_size_limit bounds the inflated connect message', async () => {
    const url = `ws://127.0.0.1:${gyre.port}/connection/uni_websocket`;
    const ok = await exchange(url, bigUniConnect(2 * LIMIT));
    assert.match(ok.reply ?? `closed ${ok.closeCode}`, /"connect":\{/);
    const tooBig = await exchange(url, bigUniConnect(3 * LIMIT + 1));
    assert.equal(tooBig.closeCode, 1009, 'message too big');
  });

  it('the global channel.publication_data_format applies to server API publishes; a namespace value wins', async () => {
    const publish = async (channel: string, bytes: string): Promise<unknown> => {
      const r = await apiCall(gyre.apiUrl, API_KEY, 'publish', { channel, b64data: Buffer.from(bytes).toString('base64') });
      return r.body.error?.code ?? 'ok';
    };
    assert.equal(await publish(uniq('plain'), 'not json'), 107);
    assert.equal(await publish(uniq('plain'), '[1,2]'), 'ok');
    assert.equal(await publish(`bin:${uniq()}`, 'not json'), 'ok');
    assert.equal(await publish(`obj:${uniq()}`, '[1,2]'), 107);
    assert.equal(await publish(`obj:${uniq()}`, '{"a":1}'), 'ok');
  });

  it('prometheus.native_histograms drops the summaries and keeps the histograms', async () => {
    const withNative = await (await fetch(`${gyre.base}/metrics`)).text();
    const classic = await (await fetch(`${plain.base}/metrics`)).text();
    assert.match(classic, /^# TYPE centrifugo_client_command_duration_seconds summary$/m);
    assert.doesNotMatch(withNative, /^# TYPE centrifugo_client_command_duration_seconds summary$/m);
    assert.match(withNative, /^# TYPE centrifugo_client_command_duration_seconds_histogram histogram$/m);
  });
});

/** Resolves with the start error of a config that must not start; a server that does start is stopped first. */
async function startError(config: Record<string, unknown>): Promise<string> {
  let g: GyreProcess;
  try {
    g = await startGyre(config);
  } catch (err) {
    return (err as Error).message;
  }
  await g.stop();
  throw new Error('the server started');
}

describe('JWKS URL template safety rule at start', { timeout: 30_000 }, () => {
  const token = { jwks_public_endpoint: 'http://127.0.0.1:9/tenants/{{tenant}}/jwks', issuer_regex: '^(?P<tenant>.+)$' };

  it('an open named group or a character class feeding the template stops the start, naming the key', async () => {
    assert.match(await startError({ client: { token } }), /client\.token\.issuer_regex: named group tenant/);
    const audience = { jwks_public_endpoint: token.jwks_public_endpoint, audience_regex: '^(?P<tenant>[a-z]+)$' };
    assert.match(await startError({ client: { token: audience } }), /client\.token\.audience_regex: contains a character class/);
  });

  it('client.token.insecure_skip_jwks_endpoint_safety_check lets it start', async () => {
    const g = await startGyre({ client: { token: { ...token, insecure_skip_jwks_endpoint_safety_check: true } } });
    await g.stop();
  });

  it('a literal alternation passes the rule', async () => {
    const g = await startGyre({ client: { token: { ...token, issuer_regex: '^(?P<tenant>acme|globex)$' } } });
    await g.stop();
  });
});
