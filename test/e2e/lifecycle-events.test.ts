/**
 * Lifecycle notifications against real Gyre processes, a node:http backend the test runs and
 * the official SDK: disconnect notifications (client close, API disconnect with the default
 * and a custom code), unsubscribe notifications (client unsubscribe, API unsubscribe, the
 * subscriptions of a closing connection), channel state events on the memory engine (vacated
 * after the delay, cancelled by a resubscribe) and on two nodes sharing Redis (one occupied and
 * one vacated cluster-wide), and delivery through a backend that fails first.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { Centrifuge } from 'centrifuge';
import { apiResult } from '../helpers/api.js';
import { SdkClients, subscribed } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { hmacToken } from '../helpers/tokens.js';
import { sleep, uniq, waitEvent, waitFor } from '../helpers/wait.js';

const SECRET = 'lifecycle-secret';
const API_KEY = 'lifecycle-api-key';
const DELAY_MS = 1000;

interface Batch {
  path: string;
  at: number;
  status: number;
  events: Record<string, unknown>[];
}

/** A backend recording every batch; `failNext[path]` answers that many requests with 500 first. */
class Backend {
  readonly batches: Batch[] = [];
  readonly failNext: Record<string, number> = {};
  private server!: http.Server;
  base = '';

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let text = '';
      req.on('data', (d: Buffer) => (text += d.toString('utf8')));
      req.on('end', () => {
        const path = req.url ?? '';
        const body = JSON.parse(text) as { events: Record<string, unknown>[] };
        const fail = (this.failNext[path] ?? 0) > 0;
        if (fail) this.failNext[path]!--;
        this.batches.push({ path, at: Date.now(), status: fail ? 500 : 200, events: body.events });
        if (fail) res.writeHead(500).end('down');
        else res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":{}}');
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  /** Events accepted (status 200) on `path`, in arrival order. */
  accepted(path: string): Record<string, unknown>[] {
    return this.batches.filter((b) => b.path === path && b.status === 200).flatMap((b) => b.events);
  }

  /** Accepted events on `path` matching `pred`. */
  find(path: string, pred: (e: Record<string, unknown>) => boolean): Record<string, unknown>[] {
    return this.accepted(path).filter(pred);
  }
}

function notifierConfig(base: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    log: { level: 'warn' },
    client: {
      token: { hmac_secret_key: SECRET },
      proxy: { disconnect: { enabled: true, endpoint: `${base}/disconnect`, timeout: '1s' } },
    },
    http_api: { key: API_KEY },
    channel_state: { vacated_event_delay: `${DELAY_MS}ms` },
    channel: {
      proxy: {
        unsubscribe: { endpoint: `${base}/unsubscribe`, timeout: '1s' },
        state: { endpoint: `${base}/state`, timeout: '1s' },
      },
      namespaces: [
        { name: 'chat', allow_subscribe_for_client: true, unsubscribe_proxy_enabled: true },
        { name: 'room', allow_subscribe_for_client: true, presence: true, state_proxy_enabled: true },
        { name: 'quiet', allow_subscribe_for_client: true },
      ],
    },
    ...extra,
  };
}

async function connectUser(t: TestContext, wsUrl: string, user: string): Promise<{ c: Centrifuge; client: string }> {
  const clients = new SdkClients(wsUrl, 'json');
  t.after(() => clients.closeAll());
  const c = clients.make({ token: await hmacToken(SECRET, { sub: user }) });
  const up = waitEvent(c, 'connected');
  c.connect();
  const ctx = await up;
  return { c, client: ctx.client as string };
}

describe('lifecycle notifications (memory engine)', { timeout: 90_000 }, () => {
  const backend = new Backend();
  let gyre: GyreProcess;

  before(async () => {
    await backend.start();
    gyre = await startGyre(notifierConfig(backend.base));
  });
  after(async () => {
    await gyre?.stop();
    await backend.stop();
  });

  it('disconnect notification when the client closes: 3000 "connection closed", exactly the listed fields', async (t) => {
    const user = uniq('u');
    const { c, client } = await connectUser(t, gyre.wsUrl, user);
    c.disconnect();
    const [ev] = await waitFor(() => {
      const f = backend.find('/disconnect', (e) => e.client === client);
      return f.length > 0 ? f : undefined;
    }, 'disconnect notification');
    assert.deepEqual(Object.keys(ev!).sort(), ['client', 'code', 'reason', 'time_ms', 'transport', 'type', 'user']);
    assert.equal(ev!.type, 'disconnect');
    assert.equal(ev!.user, user);
    assert.equal(ev!.code, 3000);
    assert.equal(ev!.reason, 'connection closed');
    assert.equal(ev!.transport, 'websocket');
    assert.ok(typeof ev!.time_ms === 'number' && Math.abs((ev!.time_ms as number) - Date.now()) < 10_000);
  });

  it('disconnect notifications for API disconnects: the default 3503 and a custom code and reason, as the client saw them', async (t) => {
    const u1 = uniq('u');
    const a = await connectUser(t, gyre.wsUrl, u1);
    const seenA = waitEvent(a.c, 'disconnected');
    await apiResult(gyre.apiUrl, API_KEY, 'disconnect', { user: u1 });
    const ctxA = await seenA;
    const u2 = uniq('u');
    const b = await connectUser(t, gyre.wsUrl, u2);
    const seenB = waitEvent(b.c, 'disconnected');
    await apiResult(gyre.apiUrl, API_KEY, 'disconnect', { user: u2, disconnect: { code: 4501, reason: 'go away' } });
    const ctxB = await seenB;
    const evA = await waitFor(() => backend.find('/disconnect', (e) => e.client === a.client)[0], 'notification A');
    const evB = await waitFor(() => backend.find('/disconnect', (e) => e.client === b.client)[0], 'notification B');
    assert.deepEqual([evA.code, evA.reason], [3503, 'force disconnect']);
    assert.deepEqual([evA.code, evA.reason], [ctxA.code, ctxA.reason]);
    assert.deepEqual([evB.code, evB.reason, evB.user], [4501, 'go away', u2]);
    assert.deepEqual([evB.code, evB.reason], [ctxB.code, ctxB.reason]);
  });

  it('unsubscribe notifications: client unsubscribe 0, API unsubscribe 2000, only for namespaces that enable them', async (t) => {
    const user = uniq('u');
    const { c, client } = await connectUser(t, gyre.wsUrl, user);
    const ch1 = `chat:${uniq()}`;
    const ch2 = `chat:${uniq()}`;
    const silent = `quiet:${uniq()}`;
    const s1 = (await subscribed(c, ch1)).sub;
    const s2 = (await subscribed(c, ch2)).sub;
    const s3 = (await subscribed(c, silent)).sub;
    s1.unsubscribe();
    const gone = waitEvent(s2, 'unsubscribed');
    await apiResult(gyre.apiUrl, API_KEY, 'unsubscribe', { user, channel: ch2 });
    const seen = await gone;
    s3.unsubscribe();
    const e1 = await waitFor(() => backend.find('/unsubscribe', (e) => e.channel === ch1)[0], 'client unsubscribe');
    const e2 = await waitFor(() => backend.find('/unsubscribe', (e) => e.channel === ch2)[0], 'server unsubscribe');
    assert.deepEqual(e1, { type: 'unsubscribe', client, user, channel: ch1, code: 0, reason: 'client unsubscribed', time_ms: e1.time_ms });
    assert.deepEqual(Object.keys(e1).sort(), ['channel', 'client', 'code', 'reason', 'time_ms', 'type', 'user']);
    assert.deepEqual([e2.code, e2.reason, e2.client], [2000, 'server unsubscribe', client]);
    assert.deepEqual([e2.code, e2.reason], [seen.code, seen.reason]);
    await sleep(300);
    assert.equal(backend.find('/unsubscribe', (e) => e.channel === silent).length, 0, 'no notification for a namespace without the flag');
  });

  it('a subscribed client that disconnects: unsubscribe 1 "client disconnected" for each subscription, then its disconnect', async (t) => {
    const user = uniq('u');
    const { c, client } = await connectUser(t, gyre.wsUrl, user);
    const chans = [`chat:${uniq()}`, `chat:${uniq()}`];
    for (const ch of chans) await subscribed(c, ch);
    await apiResult(gyre.apiUrl, API_KEY, 'disconnect', { user, disconnect: { code: 4001, reason: 'come back' } });
    await waitFor(() => backend.find('/disconnect', (e) => e.client === client)[0], 'disconnect notification');
    const evs = await waitFor(() => {
      const f = backend.find('/unsubscribe', (e) => e.client === client);
      return f.length === 2 ? f : undefined;
    }, 'two unsubscribe notifications');
    assert.deepEqual(evs.map((e) => e.channel).sort(), [...chans].sort());
    for (const e of evs) assert.deepEqual([e.code, e.reason, e.user], [1, 'client disconnected', user]);
    const d = backend.find('/disconnect', (e) => e.client === client);
    assert.equal(d.length, 1);
    assert.deepEqual([d[0]!.code, d[0]!.reason], [4001, 'come back']);
    c.disconnect();
  });

  it('channel state: one occupied for the first subscriber, one vacated after the delay, none for a resubscribe within it', async (t) => {
    const ch = `room:${uniq()}`;
    const a = await connectUser(t, gyre.wsUrl, uniq('u'));
    const b = await connectUser(t, gyre.wsUrl, uniq('u'));
    const state = (): Record<string, unknown>[] => backend.find('/state', (e) => e.channel === ch);
    const sa = (await subscribed(a.c, ch)).sub;
    const sb = (await subscribed(b.c, ch)).sub;
    await waitFor(() => state().length === 1 || undefined, 'occupied');
    assert.deepEqual(Object.keys(state()[0]!).sort(), ['channel', 'time_ms', 'type']);
    assert.equal(state()[0]!.type, 'occupied');

    // Everyone leaves, one comes back within the delay: the vacated event is cancelled.
    sa.unsubscribe();
    sb.unsubscribe();
    await sleep(DELAY_MS / 3);
    const again = waitEvent(sa, 'subscribed');
    sa.subscribe();
    await again;
    await sleep(DELAY_MS + 700);
    assert.deepEqual(state().map((e) => e.type), ['occupied'], 'no vacated and no second occupied within one episode');

    // The last subscriber leaves for good: vacated once, not before the delay.
    const left = Date.now();
    sa.unsubscribe();
    await waitFor(() => state().length === 2 || undefined, 'vacated', 5000);
    const vacatedAt = backend.batches.find((x) => x.path === '/state' && x.events.some((e) => e.channel === ch && e.type === 'vacated'))!.at;
    assert.equal(state()[1]!.type, 'vacated');
    assert.ok(vacatedAt - left >= DELAY_MS - 50, `vacated came ${vacatedAt - left} ms after the last leave`);
    await sleep(500);
    assert.equal(state().length, 2);
  });

  it('a backend answering 500 first gets the same batch again: nothing lost, nothing repeated within a batch', async (t) => {
    backend.failNext['/disconnect'] = 2;
    const users = [uniq('u'), uniq('u'), uniq('u')];
    const conns = await Promise.all(users.map((u) => connectUser(t, gyre.wsUrl, u)));
    const first = backend.batches.length;
    for (const x of conns) x.c.disconnect();
    const ids = conns.map((x) => x.client);
    await waitFor(() => ids.every((id) => backend.find('/disconnect', (e) => e.client === id).length > 0) || undefined, 'all disconnects after retries', 10_000);
    const mine = backend.batches.slice(first).filter((b) => b.path === '/disconnect');
    assert.ok(mine.filter((b) => b.status === 500).length === 2, 'two failed tries');
    for (const id of ids) assert.equal(backend.find('/disconnect', (e) => e.client === id).length, 1, 'accepted exactly once');
    for (const b of mine) {
      const seen = b.events.map((e) => e.client);
      assert.equal(new Set(seen).size, seen.length, 'no event twice within a batch');
    }
    // A retried batch carries the events of the failed one.
    const failed = mine.find((b) => b.status === 500)!;
    const okAfter = mine.find((b) => b.status === 200 && b.at > failed.at)!;
    assert.deepEqual(okAfter.events.slice(0, failed.events.length), failed.events);
  });
});

describe('channel state events on two nodes sharing Redis', { timeout: 90_000 }, () => {
  const backend = new Backend();
  let nodes: GyreProcess[] = [];

  before(async () => {
    await backend.start();
    const prefix = `gyre-e2e-state-${randomUUID().slice(0, 8)}`;
    const cfg = notifierConfig(backend.base, { engine: { type: 'redis', redis: { address: ['redis://127.0.0.1:6379'], prefix } } });
    nodes = await Promise.all([startGyre(cfg), startGyre(cfg)]);
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await backend.stop();
  });

  it('subscribers on both nodes: exactly one occupied and one vacated cluster-wide', async (t) => {
    const [n1, n2] = nodes as [GyreProcess, GyreProcess];
    const ch = `room:${uniq()}`;
    const state = (): Record<string, unknown>[] => backend.find('/state', (e) => e.channel === ch);
    const a = await connectUser(t, n1.wsUrl, uniq('u'));
    const b = await connectUser(t, n2.wsUrl, uniq('u'));
    const c = await connectUser(t, n2.wsUrl, uniq('u'));
    const subs = await Promise.all([subscribed(a.c, ch), subscribed(b.c, ch), subscribed(c.c, ch)]);
    await waitFor(() => state().length >= 1 || undefined, 'occupied');
    await sleep(500);
    assert.deepEqual(state().map((e) => e.type), ['occupied']);

    // The node-1 subscriber leaves: node 2 still holds the channel, no vacated.
    subs[0].sub.unsubscribe();
    await sleep(DELAY_MS + 1000);
    assert.deepEqual(state().map((e) => e.type), ['occupied']);

    // The rest leave (and one comes back on node 1 within the delay, then leaves): one vacated.
    subs[1].sub.unsubscribe();
    subs[2].sub.unsubscribe();
    await sleep(DELAY_MS / 3);
    const back = waitEvent(subs[0].sub, 'subscribed');
    subs[0].sub.subscribe();
    await back;
    subs[0].sub.unsubscribe();
    await waitFor(() => state().length >= 2 || undefined, 'vacated', 6000);
    await sleep(DELAY_MS + 1000);
    assert.deepEqual(state().map((e) => e.type), ['occupied', 'vacated']);
  });
});

describe('channel state on Redis when a node crashes', { timeout: 120_000 }, () => {
  const backend = new Backend();
  let nodes: GyreProcess[] = [];

  before(async () => {
    await backend.start();
    const prefix = `gyre-e2e-crash-${randomUUID().slice(0, 8)}`;
    const cfg = notifierConfig(backend.base, { engine: { type: 'redis', redis: { address: ['redis://127.0.0.1:6379'], prefix } } });
    nodes = await Promise.all([startGyre(cfg), startGyre(cfg)]);
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await backend.stop();
  });

  it('the surviving node sends vacated for a channel whose only subscriber was on the killed node', async (t) => {
    const [, n2] = nodes as [GyreProcess, GyreProcess];
    const ch = `room:${uniq()}`;
    const state = (): Record<string, unknown>[] => backend.find('/state', (e) => e.channel === ch);
    const a = await connectUser(t, n2.wsUrl, uniq('u'));
    await subscribed(a.c, ch);
    await waitFor(() => state().length === 1 || undefined, 'occupied');
    a.c.on('disconnected', () => undefined);
    n2.child.kill('SIGKILL');
    const killed = Date.now();
    await sleep(DELAY_MS + 1500);
    assert.deepEqual(state().map((e) => e.type), ['occupied'], 'the membership outlives the crash for a while');
    // Memberships expire 30 s after their last refresh (every 10 s); then the next sweep on the live node leaves for the dead one.
    await waitFor(() => state().length === 2 || undefined, 'vacated from the surviving node', 50_000);
    assert.equal(state()[1]!.type, 'vacated');
    assert.ok(Date.now() - killed >= 15_000, 'not before the membership expired');
  });
});
