/**
 * The unidirectional transports (uni_websocket, uni_sse, uni_http_stream) against a real
 * gyre process, with raw clients: the connect push, publications of server-side
 * subscriptions (token `channels`, ConnectRequest.subs, the personal channel), `{}` pings,
 * disconnect pushes, recovery through ConnectRequest.subs, connect errors turned into
 * disconnects or HTTP answers, and the uni_websocket switches.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { apiResult } from '../helpers/api.js';
import { RawClient } from '../helpers/raw-ws.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { StreamClient } from '../helpers/streams.js';
import { hmacToken } from '../helpers/tokens.js';
import { sleep, uniq, waitFor } from '../helpers/wait.js';

const SECRET = 'transports-uni-secret-0123456789abcdef';
const API_KEY = 'transports-uni-key';
type Kind = 'uni_websocket' | 'uni_sse' | 'uni_http_stream';

/** One open unidirectional connection, whatever its transport. */
interface UniConn {
  readonly messages: any[];
  message(pred: (m: any) => boolean, what: string, timeoutMs?: number): Promise<any>;
  /** Resolves when the server ended the connection. */
  ended(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

function wsConn(raw: RawClient): UniConn {
  return {
    messages: raw.json,
    message: (pred, what, timeoutMs) => raw.waitUntil(() => raw.json.find(pred), what, timeoutMs),
    ended: async (timeoutMs) => void (await raw.waitClose(timeoutMs)),
    close: () => raw.close(),
  };
}

function streamConn(s: StreamClient): UniConn {
  return {
    messages: s.messages,
    message: (pred, what, timeoutMs) => s.message(pred, what, timeoutMs),
    ended: (timeoutMs) => s.waitEnd(timeoutMs),
    close: () => s.close(),
  };
}

const serverConfig = (uniWebsocket: Record<string, unknown> = {}): Record<string, unknown> => ({
  client: {
    token: { hmac_secret_key: SECRET },
    allow_anonymous_connect_without_token: true,
    ping_interval: '1s',
    pong_timeout: '500ms',
    subscribe_to_user_personal_channel: { enabled: true, personal_channel_namespace: 'personal' },
    connect_code_to_unidirectional_disconnect: { enabled: true, transforms: [{ code: 102, to: { code: 4102, reason: 'unknown channel in token' } }] },
  },
  http_api: { key: API_KEY },
  uni_websocket: { enabled: true, ...uniWebsocket },
  uni_sse: { enabled: true },
  uni_http_stream: { enabled: true, connect_code_to_http_response: { enabled: true, transforms: [{ code: 3500, to: { status_code: 401, body: '' } }] } },
  channel: {
    namespaces: [
      { name: 'personal' },
      { name: 'news', allow_subscribe_for_client: true, history_size: 10, history_ttl: '300s', force_recovery: true },
    ],
  },
});

describe('unidirectional transports', { timeout: 120_000 }, () => {
  let gyre: GyreProcess;
  const api = (method: string, params: unknown): Promise<any> => apiResult(gyre.apiUrl, API_KEY, method, params);
  const wsBase = (): string => `ws://127.0.0.1:${gyre.port}/connection/uni_websocket`;

  /** Opens a uni connection; `via` picks where the ConnectRequest travels. */
  async function open(kind: Kind, req: unknown, via: 'query' | 'body' | 'message' = kind === 'uni_http_stream' ? 'body' : 'query'): Promise<UniConn> {
    const json = JSON.stringify(req);
    if (kind === 'uni_websocket') {
      const raw = await RawClient.open(via === 'query' ? `${wsBase()}?cf_connect=${encodeURIComponent(json)}` : wsBase());
      if (via === 'message') raw.sendRaw(json);
      return wsConn(raw);
    }
    const url = `${gyre.base}/connection/${kind}`;
    const s =
      via === 'query'
        ? await StreamClient.open(`${url}?cf_connect=${encodeURIComponent(json)}`, {}, 'sse')
        : await StreamClient.open(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: json }, kind === 'uni_sse' ? 'sse' : 'lines');
    assert.equal(s.status, 200);
    return streamConn(s);
  }

  before(async () => {
    gyre = await startGyre(serverConfig());
  });
  after(async () => {
    const code = await gyre.stop();
    assert.equal(code, 0, `graceful shutdown should exit 0; output:\n${gyre.output().slice(-4000)}`);
  });

  for (const kind of ['uni_websocket', 'uni_sse', 'uni_http_stream'] as const) {
    describe(kind, () => {
      it('sends the connect push first, then publications of every server-side subscription, pings and the disconnect push', async () => {
        const user = uniq('u');
        const tokenChannel = `news:${uniq()}`;
        const askedChannel = `news:${uniq()}`;
        const token = await hmacToken(SECRET, { sub: user, channels: [tokenChannel] });
        const conn = await open(kind, { token, subs: { [askedChannel]: {} } });
        try {
          const first = await conn.message(() => true, 'first push');
          assert.ok(first.connect, `first push is connect: ${JSON.stringify(first)}`);
          const c = first.connect;
          assert.equal(typeof c.client, 'string');
          assert.equal(typeof c.session, 'string');
          assert.equal(c.ping, 1);
          assert.equal(c.pong, undefined, 'uni connect pushes never ask for pongs');
          assert.equal(c.node, undefined, 'node is for emulation transports only');
          const personal = `personal:#${user}`;
          assert.deepEqual(Object.keys(c.subs).sort(), [askedChannel, personal, tokenChannel].sort());

          for (const channel of [tokenChannel, askedChannel, personal]) await api('publish', { channel, data: { to: channel } });
          for (const channel of [tokenChannel, askedChannel, personal]) {
            const push = await conn.message((m) => m.channel === channel && m.pub, `publication in ${channel}`);
            assert.deepEqual(push.pub.data, { to: channel });
          }
          await conn.message((m) => Object.keys(m).length === 0, 'a {} ping', 3000);

          await api('disconnect', { user, disconnect: { code: 4501, reason: 'bye' } });
          const d = await conn.message((m) => m.disconnect, 'disconnect push');
          assert.deepEqual(d.disconnect, { code: 4501, reason: 'bye' });
          await conn.ended();
        } finally {
          await conn.close();
        }
      });

      it('turns connect errors into disconnect pushes (reference table and configured transforms)', async () => {
        const expired = await hmacToken(SECRET, { sub: 'x', exp: Math.floor(Date.now() / 1000) - 60 });
        const unknownChannel = await hmacToken(SECRET, { sub: 'x', channels: ['nowhere:1'] });
        if (kind === 'uni_http_stream') {
          // uni_http_stream has connect_code_to_http_response on: plain HTTP answers instead.
          const post = (token: string): Promise<Response> =>
            fetch(`${gyre.base}/connection/uni_http_stream`, { method: 'POST', body: JSON.stringify({ token }) });
          const bad = await post('not-a-jwt');
          assert.equal(bad.status, 401);
          assert.equal(await bad.text(), 'invalid token', 'an empty transform body means the reason');
          const unmapped = await post(expired);
          assert.equal(unmapped.status, 500);
          assert.equal(await unmapped.text(), 'Internal Server Error');
          return;
        }
        for (const [token, code] of [
          [expired, 3005],
          [unknownChannel, 4102],
          ['not-a-jwt', 3500],
        ] as const) {
          const conn = await open(kind, { token });
          const d = await conn.message((m) => m.disconnect, `disconnect for ${code}`);
          assert.equal(d.disconnect.code, code);
          assert.equal(conn.messages.length, 1, 'nothing but the disconnect push');
          await conn.ended();
          await conn.close();
        }
      });
    });
  }

  it('uni_http_stream recovers a server-side subscription from ConnectRequest.subs', async () => {
    const channel = `news:${uniq()}`;
    const token = await hmacToken(SECRET, { sub: uniq('u') });
    const first = await open('uni_http_stream', { token, subs: { [channel]: {} } });
    const r = (await first.message((m) => m.connect, 'connect')).connect.subs[channel];
    assert.equal(r.recoverable, true);
    await first.close();
    await api('publish', { channel, data: { n: 1 } });
    await api('publish', { channel, data: { n: 2 } });
    const second = await open('uni_http_stream', { token, subs: { [channel]: { recover: true, offset: r.offset ?? 0, epoch: r.epoch } } });
    const s = (await second.message((m) => m.connect, 'connect')).connect.subs[channel];
    assert.equal(s.recovered, true);
    assert.deepEqual(
      s.publications.map((p: any) => p.data),
      [{ n: 1 }, { n: 2 }],
    );
    await second.close();
  });

  it('uni_websocket takes the ConnectRequest from the first message and ignores later ones', async () => {
    const user = uniq('u');
    const conn = await open('uni_websocket', { token: await hmacToken(SECRET, { sub: user }) }, 'message');
    const c = await conn.message((m) => m.connect, 'connect push');
    assert.ok(c.connect.subs[`personal:#${user}`]);
    const raw = conn as UniConn;
    await api('publish', { channel: `personal:#${user}`, data: { ok: 1 } });
    await raw.message((m) => m.pub, 'publication');
    await conn.close();
  });

  it('uni_websocket: `null` means an empty request; garbage as first message closes with 3501', async () => {
    const ok = await open('uni_websocket', null, 'message');
    await ok.message((m) => m.connect, 'connect push for null');
    await ok.close();
    const raw = await RawClient.open(wsBase());
    raw.sendRaw('{not json');
    const closed = await raw.waitClose();
    assert.deepEqual(closed, { code: 3501, reason: 'bad request' });
    assert.equal(raw.json.length, 0, 'no disconnect push before the 3501 close, like the reference');
  });

  it('uni_websocket: a malformed cf_connect is refused with HTTP 400 before the upgrade', async () => {
    const err = await RawClient.open(`${wsBase()}?cf_connect=${encodeURIComponent('{"token":')}`).then(
      () => undefined,
      (e: Error) => e,
    );
    assert.match(String(err?.message), /400/);
  });

  it('uni_websocket sends WebSocket ping frames and drops a client that never answers them', async () => {
    const pings: number[] = [];
    const ws = new WebSocket(`${wsBase()}?cf_connect=%7B%7D`, { autoPong: false });
    ws.on('ping', () => pings.push(Date.now()));
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws.on('error', () => undefined);
    await waitFor(() => pings.length >= 1, 'a ping frame', 4000);
    const code = await Promise.race([closed, sleep(6000).then(() => -1)]);
    assert.notEqual(code, -1, 'the silent client was dropped');
  });
});

describe('uni_websocket switches: join_push_messages, disable_disconnect_push, disable_closing_handshake', { timeout: 60_000 }, () => {
  let gyre: GyreProcess;
  before(async () => {
    gyre = await startGyre(serverConfig({ join_push_messages: true, disable_disconnect_push: true, disable_closing_handshake: true }));
  });
  after(async () => {
    await gyre.stop();
  });

  it('joins pushes of one flush with \\n, and disconnects without push or close frame', async () => {
    const user = uniq('u');
    const token = await hmacToken(SECRET, { sub: user });
    const raw = await RawClient.open(`ws://127.0.0.1:${gyre.port}/connection/uni_websocket?cf_connect=${encodeURIComponent(JSON.stringify({ token }))}`);
    await raw.waitUntil(() => raw.json.find((m) => m.connect), 'connect push');
    const channel = `personal:#${user}`;
    await apiResult(gyre.apiUrl, API_KEY, 'batch', {
      commands: [1, 2, 3].map((n) => ({ publish: { channel, data: { n } } })),
    });
    await raw.waitUntil(() => (raw.json.filter((m) => m.pub).length >= 3 ? true : undefined), 'three publications');
    const joined = raw.frames.some((f) => f.data.toString('utf8').split('\n').filter((l) => l.includes('"pub"')).length > 1);
    assert.ok(joined, `several pushes share a frame: ${raw.frames.map((f) => f.data.toString('utf8')).join(' | ')}`);
    await apiResult(gyre.apiUrl, API_KEY, 'disconnect', { user, disconnect: { code: 4501, reason: 'bye' } });
    const closed = await raw.waitClose();
    assert.equal(closed.code, 1006, 'no closing handshake: the connection is just dropped');
    assert.equal(
      raw.json.some((m) => m.disconnect),
      false,
      'no disconnect push',
    );
  });
});
