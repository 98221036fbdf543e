// Map publish bench (subscriptions.md map kind): one Gyre process on the memory map broker,
// then one on the Redis map broker, each with S official-SDK clients (a separate Node
// process) holding both a map subscription (`newMapSubscription`) on `mb:bench` and a stream
// subscription on `sb:bench`. Compares the server API's `map_publish` against stream
// `publish` in the same run:
//  - throughput: a closed loop of R calls with 16 in flight (keep-alive node:http client);
//    calls/s and server CPU per call;
//  - publish → delivery latency: 1,000 calls paced at 200/s, each payload carrying the send
//    time; p50/p99 of (receive time in the subscriber process − send time) over every delivery.
// Then a 100k-key map state is written (`map_publish` closed loop, 32 in flight) and read
// back with `map_read_state` pages of 1,000 keys: total read time and keys/s.
// After a build: `node dist/bench/map-publish.js [subscribers=100] [requests=10000]`.
// Not part of `npm test` or `npm run bench`.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { apiCall, closedLoop, fmt, nowMs, percentile, sleep, startGyre, type GyreChild } from './kinds-common.js';
import { loadAverage, processCpuUs } from './proc.js';
import { track, terminate, REDIS_ADDRESS } from './targets.js';

const self = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------------------
// subscriber process: `map-publish.js sub <wsUrl> <count>`

async function subscriberMain(wsUrl: string, count: number): Promise<void> {
  const { Centrifuge } = await import('centrifuge');
  const WebSocket = (await import('ws')).default;
  const lat: Record<'map' | 'stream', number[]> = { map: [], stream: [] };
  const record = (kind: 'map' | 'stream', data: any): void => {
    if (data && typeof data.t === 'number') lat[kind].push(nowMs() - data.t);
  };
  const clients: InstanceType<typeof Centrifuge>[] = [];
  for (let i = 0; i < count; i++) {
    const c = new Centrifuge(wsUrl, { websocket: WebSocket });
    c.on('error', () => undefined);
    const m = c.newMapSubscription('mb:bench', {});
    m.on('update', (u: any) => record('map', u.data));
    const s = c.newSubscription('sb:bench');
    s.on('publication', (p: any) => record('stream', p.data));
    const ready = Promise.all([
      new Promise((r) => m.once('subscribed', r)),
      new Promise((r) => s.once('subscribed', r)),
    ]);
    m.subscribe();
    s.subscribe();
    c.connect();
    clients.push(c);
    await ready;
  }
  process.on('message', (msg: any) => {
    if (msg.cmd === 'reset') {
      lat.map = [];
      lat.stream = [];
      process.send!({ ok: true });
    } else if (msg.cmd === 'report') {
      const out: Record<string, unknown> = {};
      for (const k of ['map', 'stream'] as const) {
        const s = lat[k].sort((a, b) => a - b);
        out[k] = { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99) };
      }
      process.send!(out);
    } else if (msg.cmd === 'stop') {
      for (const c of clients) c.disconnect();
      process.exit(0);
    }
  });
  process.send!({ ready: true });
}

// ---------------------------------------------------------------------------
// orchestrator

function ask(child: ChildProcess, cmd: string): Promise<any> {
  return new Promise((resolve) => {
    child.once('message', resolve);
    child.send({ cmd });
  });
}

async function deliveriesSettle(sub: ChildProcess, kind: 'map' | 'stream', expected: number): Promise<any> {
  const deadline = Date.now() + 30_000;
  let last = -1;
  let stillSince = Date.now();
  for (;;) {
    const r = (await ask(sub, 'report'))[kind];
    if (r.n >= expected || Date.now() > deadline) return r;
    if (r.n !== last) { last = r.n; stillSince = Date.now(); }
    else if (Date.now() - stillSince > 3000) return r;
    await sleep(100);
  }
}

async function measureBroker(label: string, mapBroker: object, subscribers: number, requests: number): Promise<void> {
  const gyre: GyreChild = await startGyre({
    client: { insecure: true },
    map_broker: mapBroker,
    channel: {
      namespaces: [
        { name: 'mb', subscription_type: 'map', map: { mode: 'persistent' } },
        { name: 'big', subscription_type: 'map', map: { mode: 'persistent' } },
        { name: 'sb' },
      ],
    },
  });
  const pid = gyre.child.pid!;
  const sub = fork(self, ['sub', gyre.wsUrl, String(subscribers)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  track(sub);
  await new Promise((r) => sub.once('message', r));
  console.log(`${label}: ${subscribers} SDK subscribers ready (map + stream each), load average ${loadAverage()}`);

  const call = (kind: 'map' | 'stream', i: number): Promise<unknown> =>
    kind === 'map'
      ? apiCall(gyre.port, 'map_publish', { channel: 'mb:bench', key: `k${i % 1000}`, data: { t: nowMs() } })
      : apiCall(gyre.port, 'publish', { channel: 'sb:bench', data: { t: nowMs() } });

  for (let round = 0; round < 2; round++) {
    for (const kind of ['stream', 'map'] as const) {
      const name = kind === 'map' ? 'map_publish' : 'publish    ';
      // warm-up, then the closed-loop throughput window
      await closedLoop(1000, 16, (i) => call(kind, i));
      await deliveriesSettle(sub, kind, 1000 * subscribers);
      await ask(sub, 'reset');
      const c0 = processCpuUs(pid);
      const ms = await closedLoop(requests, 16, (i) => call(kind, i));
      const cpu = processCpuUs(pid) - c0;
      const d = await deliveriesSettle(sub, kind, requests * subscribers);
      // paced latency window
      await ask(sub, 'reset');
      const paced = 1000;
      const t0 = performance.now();
      const pending: Promise<unknown>[] = [];
      for (let i = 0; i < paced; i++) {
        const due = t0 + i * 5;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        pending.push(call(kind, i));
      }
      await Promise.all(pending);
      const l = await deliveriesSettle(sub, kind, paced * subscribers);
      console.log(
        `  round ${round + 1} ${name}  ${fmt((requests / ms) * 1000, 0).padStart(6)} calls/s  server CPU ${fmt(cpu / requests).padStart(6)} µs/call ` +
          `(delivered ${fmt((100 * d.n) / (requests * subscribers))} %)  at 200/s: p50 ${fmt(l.p50, 2)} ms p99 ${fmt(l.p99, 2)} ms (delivered ${fmt((100 * l.n) / (paced * subscribers))} %)`,
      );
    }
  }
  sub.send({ cmd: 'stop' });
  await terminate(sub);

  // 100k-key state, written then read back in pages of 1,000
  const keys = 100_000;
  const data = { v: 'x'.repeat(32) };
  const w0 = performance.now();
  await closedLoop(keys, 32, (i) => apiCall(gyre.port, 'map_publish', { channel: 'big:state', key: `key-${i}`, data }));
  const writeMs = performance.now() - w0;
  for (let rep = 0; rep < 2; rep++) {
    let cursor = '';
    let n = 0;
    let pages = 0;
    const c0 = processCpuUs(pid);
    const r0 = performance.now();
    do {
      const r = await apiCall(gyre.port, 'map_read_state', { channel: 'big:state', limit: 1000, ...(cursor ? { cursor } : {}) });
      n += r.entries?.length ?? 0;
      pages++;
      cursor = r.cursor ?? '';
    } while (cursor);
    const readMs = performance.now() - r0;
    const cpu = processCpuUs(pid) - c0;
    console.log(
      `  map_read_state 100k keys (written at ${fmt((keys / writeMs) * 1000, 0)} map_publish/s, 32 in flight), read ${rep + 1}: ${n} entries in ${pages} pages, ` +
        `${fmt(readMs, 0)} ms (${fmt(readMs / pages, 2)} ms/page, ${fmt((n / readMs) * 1000, 0)} keys/s), server CPU ${fmt(cpu / 1000, 0)} ms`,
    );
  }
  await gyre.stop();
}

async function main(): Promise<void> {
  const subscribers = Number(process.argv[2] ?? 100);
  const requests = Number(process.argv[3] ?? 10_000);
  console.log(`map-publish bench ${new Date().toISOString()}: ${subscribers} subscribers, ${requests} calls per window`);
  await measureBroker('memory map broker', { type: 'memory' }, subscribers, requests);
  await measureBroker('redis map broker', { type: 'redis', redis: { address: [REDIS_ADDRESS], prefix: `gyre-bench-map-${process.pid}-${Date.now()}` } }, subscribers, requests);
  process.exit(0);
}

if (process.argv[2] === 'sub') await subscriberMain(process.argv[3]!, Number(process.argv[4]));
else await main();
