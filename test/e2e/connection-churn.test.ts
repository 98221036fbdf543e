/**
 * Nothing outlives a connection: thousands of anonymous and token connections (tokens that
 * expire an hour later) over every client transport, subscribed to a channel with presence
 * and history, are opened and closed by either side; a heap snapshot of the server process
 * must then hold no client session, connection writer or socket beyond its idle baseline.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { snapshotCounts } from '../helpers/heap-snapshot.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { StreamClient } from '../helpers/streams.js';
import { hmacToken } from '../helpers/tokens.js';
import { sleep } from '../helpers/wait.js';

const SECRET = 'churn-secret';
const TRACKED = ['ClientSession', 'ConnectionWriter', 'Socket', 'LeanWebSocket', 'HttpStreamTransport', 'UniWebSocketTransport', 'UpgradeRequest'] as const;

/** Runs `fn` for 0..n-1 with at most `width` in flight. */
async function inBatches(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < n; i += width) {
    await Promise.all(Array.from({ length: Math.min(width, n - i) }, (_, k) => fn(i + k)));
  }
}

describe('closed connections are freed', { timeout: 120_000 }, () => {
  let gyre: GyreProcess;
  let token: string;

  before(async () => {
    gyre = await startGyre(
      {
        log: { level: 'warn' },
        client: { token: { hmac_secret_key: SECRET }, allow_anonymous_connect_without_token: true, ping_interval: '25s', pong_timeout: '8s' },
        channel: {
          without_namespace: {
            allow_subscribe_for_client: true,
            allow_subscribe_for_anonymous: true,
            presence: true,
            join_leave: true,
            history_size: 10,
            history_ttl: '300s',
            force_recovery: true,
          },
        },
        http_stream: { enabled: true },
        sse: { enabled: true },
        uni_sse: { enabled: true },
        uni_http_stream: { enabled: true },
        uni_websocket: { enabled: true },
      },
      { nodeArgs: ['--heapsnapshot-signal=SIGUSR2'] },
    );
    // One token for all: its exp is an hour ahead, so only closing can free its expiry timer.
    token = await hmacToken(SECRET, { sub: 'churner' }, 3600);
  });
  after(async () => {
    await gyre?.stop();
  });

  /** WebSocket: connect, subscribe, then a clean close or an abrupt reset. */
  async function websocket(i: number, withToken: boolean): Promise<void> {
    const ws = new WebSocket(gyre.wsUrl);
    const replies = new Map<number, (m: any) => void>();
    ws.on('message', (data) => {
      for (const line of data.toString().split('\n')) {
        if (!line) continue;
        const m = JSON.parse(line);
        replies.get(m.id)?.(m);
      }
    });
    const reply = (id: number): Promise<any> => new Promise((r) => replies.set(id, r));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const c = reply(1);
    ws.send(JSON.stringify({ id: 1, connect: withToken ? { token } : {} }));
    const connected = await c;
    assert.ok(connected.connect, JSON.stringify(connected));
    const s = reply(2);
    ws.send(JSON.stringify({ id: 2, subscribe: { channel: `room${i % 7}` } }));
    const subscribed = await s;
    assert.ok(subscribed.subscribe, JSON.stringify(subscribed));
    const closed = new Promise((r) => ws.once('close', r));
    if (i % 2 === 0) ws.close(1000);
    else ws.terminate();
    await closed;
  }

  async function uniWebsocket(withToken: boolean): Promise<void> {
    const req = encodeURIComponent(JSON.stringify(withToken ? { token, subs: { uniroom: {} } } : {}));
    const ws = new WebSocket(`${gyre.wsUrl.replace('/websocket', '/uni_websocket')}?cf_connect=${req}`);
    await new Promise<void>((resolve, reject) => {
      ws.once('message', () => resolve());
      ws.once('error', reject);
    });
    const closed = new Promise((r) => ws.once('close', r));
    ws.terminate();
    await closed;
  }

  async function stream(kind: 'http_stream' | 'sse' | 'uni_sse' | 'uni_http_stream', withToken: boolean): Promise<void> {
    const connect = withToken ? { token } : {};
    let s: StreamClient;
    if (kind === 'http_stream') {
      s = await StreamClient.open(`${gyre.base}/connection/http_stream`, { method: 'POST', body: JSON.stringify({ id: 1, connect }) }, 'lines');
    } else if (kind === 'sse') {
      s = await StreamClient.open(`${gyre.base}/connection/sse?cf_connect=${encodeURIComponent(JSON.stringify({ id: 1, connect }))}`, {}, 'sse');
    } else if (kind === 'uni_sse') {
      s = await StreamClient.open(`${gyre.base}/connection/uni_sse?cf_connect=${encodeURIComponent(JSON.stringify(connect))}`, {}, 'sse');
    } else {
      s = await StreamClient.open(`${gyre.base}/connection/uni_http_stream`, { method: 'POST', body: JSON.stringify(connect) }, 'lines');
    }
    const first = await s.message((m) => m.connect ?? m.id === 1, `${kind} connect`);
    if (kind === 'http_stream' || kind === 'sse') {
      const res = await fetch(`${gyre.base}/emulation`, {
        method: 'POST',
        body: JSON.stringify({ session: first.connect.session, node: first.connect.node, data: JSON.stringify({ id: 2, subscribe: { channel: 'streamroom' } }) }),
      });
      assert.equal(res.status, 204);
      await s.message((m) => m.id === 2, `${kind} subscribe`);
    }
    await s.close();
  }

  /** A socket that sends a WebSocket upgrade head and vanishes before any frame. */
  function halfOpen(): Promise<void> {
    return new Promise((resolve) => {
      const sock = net.connect(gyre.port, '127.0.0.1', () => {
        sock.write(`GET /connection/websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
        sock.once('data', () => {
          sock.destroy();
          resolve();
        });
      });
      sock.once('error', () => resolve());
    });
  }

  it('leaves no session, writer or socket behind, whoever closed and over every transport', async () => {
    // Warm every path once so lazily created singletons are in the baseline.
    await websocket(0, true);
    await uniWebsocket(true);
    for (const kind of ['http_stream', 'sse', 'uni_sse', 'uni_http_stream'] as const) await stream(kind, true);
    await sleep(300);
    const baseline = await snapshotCounts(gyre.child, gyre.dir, TRACKED);

    for (const kind of ['http_stream', 'sse', 'uni_sse', 'uni_http_stream'] as const) {
      await inBatches(100, 25, (i) => stream(kind, i % 2 === 0));
    }
    await inBatches(100, 50, () => halfOpen());
    // WebSockets last: a closed one must be freed at once, not after the 5 s close wait.
    await inBatches(200, 50, (i) => uniWebsocket(i % 2 === 0));
    await inBatches(1000, 100, (i) => websocket(i, i % 2 === 0));

    // Closes finish asynchronously on the server (socket 'close' events, broker leave calls).
    await sleep(1000);
    const soon = await snapshotCounts(gyre.child, gyre.dir, TRACKED);
    const counts = JSON.stringify({ baseline, soon });
    assert.equal(soon.ClientSession, 0, `sessions left: ${counts}`);
    assert.equal(soon.ConnectionWriter, 0, `writers left: ${counts}`);
    for (const name of ['LeanWebSocket', 'HttpStreamTransport', 'UniWebSocketTransport', 'UpgradeRequest'] as const) {
      assert.equal(soon[name], 0, `${name} left: ${counts}`);
    }
    // The HTTP connections fetch keeps alive close after node:http's 5 s keep-alive timeout.
    await sleep(4500);
    const later = await snapshotCounts(gyre.child, gyre.dir, ['Socket']);
    // A handful of sockets may still be in their close handshake; thousands may not remain.
    assert.ok(later.Socket! <= baseline.Socket! + 5, `sockets: ${baseline.Socket} before, ${later.Socket} after`);
    assert.equal(gyre.exitCode(), null, 'the server is still running');
  });
});
