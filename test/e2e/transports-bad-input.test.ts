/**
 * Bad input on the HTTP transports and the emulation endpoint, against a real gyre
 * process: unknown sessions and nodes, malformed connect data, oversized bodies, wrong
 * methods, CORS and preflight answers, and the connection limit. After each bad request
 * the server keeps serving.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { bytes, Cmd, decode, fBytes, frame, fVarint, msg, num, Rep, str } from '../helpers/proto.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { StreamClient } from '../helpers/streams.js';

const ORIGIN = 'http://app.example';

/** Opens a JSON http_stream session and returns it with its connect result. */
async function httpStream(base: string): Promise<{ s: StreamClient; connect: any }> {
  const s = await StreamClient.open(`${base}/connection/http_stream`, { method: 'POST', body: '{"connect":{},"id":1}' }, 'lines');
  assert.equal(s.status, 200);
  const reply = await s.message((m) => m.id === 1, 'connect reply');
  return { s, connect: reply.connect };
}

const emulate = (base: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(`${base}/emulation`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : new Uint8Array(body) });

describe('HTTP transports: bad input', { timeout: 60_000 }, () => {
  let gyre: GyreProcess;

  before(async () => {
    gyre = await startGyre({
      client: { insecure: true, allowed_origins: [ORIGIN] },
      http_stream: { enabled: true, max_request_body_size: 1024 },
      sse: { enabled: true },
      emulation: { max_request_body_size: 2048 },
      uni_sse: { enabled: true },
      uni_http_stream: { enabled: true },
      uni_websocket: { enabled: true },
    });
  });
  after(async () => {
    const code = await gyre.stop();
    assert.equal(code, 0, `graceful shutdown should exit 0; output:\n${gyre.output().slice(-4000)}`);
  });

  it('emulation: an unknown session gets 204 and the commands are dropped; an unknown node gets 404', async () => {
    const { s, connect } = await httpStream(gyre.base);
    const unknown = await emulate(gyre.base, JSON.stringify({ session: 'no-such-session', node: connect.node, data: '{"id":2,"presence":{"channel":"x"}}' }));
    assert.equal(unknown.status, 204);
    const otherNode = await emulate(gyre.base, JSON.stringify({ session: connect.session, node: 'another-node', data: '{"id":2,"rpc":{}}' }));
    assert.equal(otherNode.status, 404);
    // The real session still works afterwards.
    const ok = await emulate(gyre.base, JSON.stringify({ session: connect.session, node: connect.node, data: '{"id":3,"subscribe":{"channel":"news"}}' }));
    assert.equal(ok.status, 204);
    const reply = await s.message((m) => m.id === 3, 'subscribe reply');
    assert.deepEqual(reply.subscribe, {});
    assert.equal(
      s.messages.some((m) => m.id === 2),
      false,
      'nothing answered the dropped commands',
    );
    await s.close();
  });

  it('emulation: malformed bodies get 400, big ones 413, other methods 405, OPTIONS a preflight answer', async () => {
    assert.equal((await emulate(gyre.base, '{"session":')).status, 400);
    assert.equal((await emulate(gyre.base, Buffer.from([0xff, 0xff, 0xff]), { 'content-type': 'application/octet-stream' })).status, 400);
    assert.equal((await emulate(gyre.base, JSON.stringify({ session: 's', data: 'x'.repeat(4096) }))).status, 413);
    assert.equal((await fetch(`${gyre.base}/emulation`)).status, 405);
    const pre = await fetch(`${gyre.base}/emulation`, {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-max-age'), '300');
    assert.equal(pre.headers.get('access-control-allow-methods'), 'POST, OPTIONS');
    assert.equal(pre.headers.get('access-control-allow-origin'), ORIGIN);
    assert.equal(pre.headers.get('access-control-allow-credentials'), 'true');
    assert.equal(pre.headers.get('access-control-allow-headers'), 'content-type');
  });

  it('emulation: garbage commands for a live session close it with a 3501 disconnect push', async () => {
    const { s, connect } = await httpStream(gyre.base);
    const res = await emulate(gyre.base, JSON.stringify({ session: connect.session, node: connect.node, data: '{broken' }));
    assert.equal(res.status, 204);
    const d = await s.message((m) => m.push?.disconnect, 'disconnect push');
    assert.deepEqual(d.push.disconnect, { code: 3501, reason: 'bad request' });
    await s.waitEnd();
  });

  it('http_stream: wrong method 405, malformed frame 400, oversized body 413, Protobuf content type with JSON 400', async () => {
    const url = `${gyre.base}/connection/http_stream`;
    assert.equal((await fetch(url)).status, 405);
    assert.equal((await fetch(url, { method: 'POST', body: '{"connect":' })).status, 400);
    assert.equal((await fetch(url, { method: 'POST', body: `{"connect":{"data":"${'x'.repeat(2000)}"},"id":1}` })).status, 413);
    const proto = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: '{"connect":{},"id":1}' });
    assert.equal(proto.status, 400);
  });

  it('http_stream: Protobuf sessions stream length-prefixed replies and take Protobuf emulation requests', async () => {
    const url = `${gyre.base}/connection/http_stream`;
    const body = frame(msg(fVarint(Cmd.id, 1), fBytes(Cmd.connect, msg())));
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(body) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    const reader = res.body!.getReader();
    let buf = Buffer.alloc(0);
    /** The next complete length-prefixed item of the stream. */
    const next = async (): Promise<Buffer> => {
      for (;;) {
        let len = 0;
        let mul = 1;
        let p = 0;
        while (p < buf.length) {
          const b = buf[p++]!;
          len += (b & 0x7f) * mul;
          mul *= 0x80;
          if ((b & 0x80) === 0) break;
        }
        if (p > 0 && (buf[p - 1]! & 0x80) === 0 && buf.length >= p + len) {
          const item = buf.subarray(p, p + len);
          buf = buf.subarray(p + len);
          return item;
        }
        const { value, done } = await reader.read();
        assert.ok(!done, 'stream ended early');
        buf = Buffer.concat([buf, Buffer.from(value)]);
      }
    };
    const reply = decode(await next());
    assert.equal(num(reply, Rep.id), 1);
    const connect = decode(bytes(reply, Rep.connect)!);
    const session = str(connect, 9)!;
    const node = str(connect, 10)!;
    assert.ok(session && node, 'the connect result names session and node');
    // EmulationRequest{node=1, session=2, data=3}; data holds a framed Command{id:2, rpc:{method:"x"}}.
    const cmd = frame(msg(fVarint(Cmd.id, 2), fBytes(Cmd.rpc, msg(fBytes(2, 'x')))));
    const em = await emulate(gyre.base, msg(fBytes(1, node), fBytes(2, session), fBytes(3, cmd)), { 'content-type': 'application/octet-stream' });
    assert.equal(em.status, 204);
    // Pings (empty replies) may come first; the reply with id 2 follows.
    let r2 = decode(await next());
    while (num(r2, Rep.id) === undefined) r2 = decode(await next());
    assert.equal(num(r2, Rep.id), 2, 'reply id 2 arrives down the stream');
    await reader.cancel();
  });

  it('sse: GET without or with malformed cf_connect 400, other methods 405, big POST 413', async () => {
    const url = `${gyre.base}/connection/sse`;
    assert.equal((await fetch(url)).status, 400);
    assert.equal((await fetch(`${url}?cf_connect=${encodeURIComponent('{"connect":')}`)).status, 400);
    assert.equal((await fetch(url, { method: 'PUT', body: '{}' })).status, 405);
    assert.equal((await fetch(url, { method: 'POST', body: 'x'.repeat(70_000) })).status, 413);
  });

  it('uni_sse and uni_http_stream: malformed connect requests 400, wrong methods 405, big bodies 413', async () => {
    const sse = `${gyre.base}/connection/uni_sse`;
    const hs = `${gyre.base}/connection/uni_http_stream`;
    assert.equal((await fetch(`${sse}?cf_connect=${encodeURIComponent('{"token":')}`)).status, 400);
    assert.equal((await fetch(sse, { method: 'POST', body: '[1,' })).status, 400);
    assert.equal((await fetch(sse, { method: 'DELETE' })).status, 405);
    assert.equal((await fetch(hs)).status, 405);
    assert.equal((await fetch(hs, { method: 'POST', body: '{"token":' })).status, 400);
    assert.equal((await fetch(hs, { method: 'POST', body: `{"token":"${'x'.repeat(70_000)}"}` })).status, 413);
    // `null` is an empty connect request.
    const s = await StreamClient.open(hs, { method: 'POST', body: 'null' }, 'lines');
    await s.message((m) => m.connect, 'connect push');
    await s.close();
  });

  it('CORS: an allowed origin is reflected with credentials, another origin gets no CORS headers', async () => {
    const url = `${gyre.base}/connection/uni_http_stream`;
    const allowed = await StreamClient.open(url, { method: 'POST', body: '{}', headers: { origin: ORIGIN } }, 'lines');
    assert.equal(allowed.response.headers.get('access-control-allow-origin'), ORIGIN);
    assert.equal(allowed.response.headers.get('access-control-allow-credentials'), 'true');
    await allowed.close();
    const other = await StreamClient.open(url, { method: 'POST', body: '{}', headers: { origin: 'http://evil.example' } }, 'lines');
    assert.equal(other.response.headers.get('access-control-allow-origin'), null);
    await other.close();
    const ws = await new Promise<number>((resolve) => {
      const c = new WebSocket(`ws://127.0.0.1:${gyre.port}/connection/uni_websocket`, { headers: { origin: 'http://evil.example' } });
      c.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      c.on('open', () => resolve(101));
      c.on('error', () => undefined);
    });
    assert.equal(ws, 403, 'uni_websocket upgrades from a disallowed origin are refused');
  });
});

describe('HTTP transports: client.connection_limit', { timeout: 30_000 }, () => {
  let gyre: GyreProcess;
  before(async () => {
    gyre = await startGyre({ client: { insecure: true, connection_limit: 1 }, http_stream: { enabled: true }, uni_sse: { enabled: true }, uni_websocket: { enabled: true } });
  });
  after(async () => {
    await gyre.stop();
  });

  it('answers 503 on every connection endpoint once the limit is reached; /emulation is not limited', async () => {
    const { s, connect } = await httpStream(gyre.base);
    assert.equal((await fetch(`${gyre.base}/connection/http_stream`, { method: 'POST', body: '{"connect":{},"id":1}' })).status, 503);
    assert.equal((await fetch(`${gyre.base}/connection/uni_sse`)).status, 503);
    const ws = await new Promise<number>((resolve) => {
      const c = new WebSocket(`ws://127.0.0.1:${gyre.port}/connection/uni_websocket`);
      c.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      c.on('open', () => resolve(101));
      c.on('error', () => undefined);
    });
    assert.equal(ws, 503);
    const em = await emulate(gyre.base, JSON.stringify({ session: connect.session, node: connect.node, data: '{"id":2,"subscribe":{"channel":"a"}}' }));
    assert.equal(em.status, 204);
    await s.message((m) => m.id === 2, 'subscribe reply');
    await s.close();
  });
});
