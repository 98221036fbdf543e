// Shared-poll bench (subscriptions.md §6): N official-SDK clients (Node processes of up to
// 1,000 clients each) track keys of one shared-poll channel, `spb:bench`, in a namespace
// with `refresh_interval` 1 s and `refresh_batch_size` B. Keys k0..k999: client i tracks the
// 100 keys of group i mod 10, so the channel holds 1,000 distinct keys whatever N is. The
// refresh backend is node:http in its own process: it answers each poll with the items whose
// version moved past the one Gyre sent, and records the time of every request.
// Measured over W refresh cycles once every client has its first versions:
//  - backend requests per refresh cycle (cycles are told apart by the gap between request
//    bursts): must be ceil(1000 / B) for every N, since polls are shared;
//  - changes: every cycle the backend bumps one key per group (10 keys), each delivered to the
//    N/10 clients of its group; server CPU per change delivered = Gyre's CPU over the window /
//    updates counted by the clients (the idle polling cost is included).
// Track signatures are HMAC-SHA256 (§6.5) minted in the client processes with the bench key,
// as an application backend would hand them out.
// After a build: `node dist/bench/shared-poll.js [clients=2000,5000] [batch=100] [cycles=10]`.
// Not part of `npm test` or `npm run bench`.

import { fork, type ChildProcess } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { fmt, sleep, startGyre } from './kinds-common.js';
import { loadAverage, processCpuUs } from './proc.js';
import { freePort, terminate, track } from './targets.js';

const self = fileURLToPath(import.meta.url);
const SECRET = 'gyre-bench-poll-secret';
const CHANNEL = 'spb:bench';
const KEYS = 1000;
const GROUPS = 10;
const INTERVAL_MS = 1000;

function sign(channel: string, keys: string[]): string {
  const iat = Math.floor(Date.now() / 1000);
  const exp = iat + 3600;
  const keysHash = createHash('sha256').update(keys.join('\0')).digest('hex');
  const mac = createHmac('sha256', SECRET).update(`${iat}\0${exp}\0\0${channel}\0${keysHash}`).digest('hex');
  return `${iat}:${exp}:${mac}`;
}

const groupKeys = (g: number): string[] => Array.from({ length: KEYS / GROUPS }, (_, j) => `k${g * (KEYS / GROUPS) + j}`);

// ---------------------------------------------------------------------------
// backend process: `shared-poll.js backend <port>`

function backendMain(port: number): void {
  const versions = new Map<string, number>();
  for (let i = 0; i < KEYS; i++) versions.set(`k${i}`, 1);
  let times: number[] = [];
  let sizes: number[] = [];
  let firsts: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { items: { key: string; version?: number }[] };
      if (times.length < 100_000) {
        times.push(performance.now());
        sizes.push(body.items.length);
        firsts.push(body.items[0]?.key ?? '');
      }
      const items = [];
      for (const it of body.items) {
        const v = versions.get(it.key);
        if (v !== undefined && (it.version === undefined || v > it.version)) items.push({ key: it.key, data: { v }, version: v });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ result: { items } }));
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(port, '127.0.0.1', () => process.send!({ ready: true }));
  process.on('message', (msg: any) => {
    if (msg.cmd === 'bump') {
      for (const k of msg.keys as string[]) versions.set(k, (versions.get(k) ?? 0) + 1);
      process.send!({ ok: true });
    } else if (msg.cmd === 'reset') {
      times = [];
      sizes = [];
      firsts = [];
      process.send!({ ok: true });
    } else if (msg.cmd === 'report') {
      process.send!({ times, sizes, firsts });
    }
  });
}

// ---------------------------------------------------------------------------
// client process: `shared-poll.js clients <wsUrl> <count> <first index>`

async function clientsMain(wsUrl: string, count: number, first: number): Promise<void> {
  const { Centrifuge } = await import('centrifuge');
  const WebSocket = (await import('ws')).default;
  let updates = 0;
  let errors = 0;
  const clients: InstanceType<typeof Centrifuge>[] = [];
  const batch = 50;
  for (let b = 0; b < count; b += batch) {
    const ready: Promise<unknown>[] = [];
    for (let i = b; i < Math.min(count, b + batch); i++) {
      const keys = groupKeys((first + i) % GROUPS);
      const c = new Centrifuge(wsUrl, { websocket: WebSocket });
      c.on('error', () => undefined);
      const sub = c.newSharedPollSubscription(CHANNEL, { getSignature: async (ctx: any) => ({ keys: ctx.keys, signature: sign(CHANNEL, ctx.keys) }) });
      sub.on('update', () => updates++);
      sub.on('error', () => errors++);
      ready.push(new Promise((r) => sub.once('subscribed', r)).then(() => sub.track(keys.map((key) => ({ key, version: 0 })), sign(CHANNEL, keys))));
      sub.subscribe();
      c.connect();
      clients.push(c);
    }
    await Promise.all(ready);
  }
  process.on('message', (msg: any) => {
    if (msg.cmd === 'report') process.send!({ updates, errors });
    else if (msg.cmd === 'stop') {
      for (const c of clients) c.disconnect();
      process.exit(0);
    }
  });
  process.send!({ ready: true });
}

// ---------------------------------------------------------------------------
// orchestrator

function ask(child: ChildProcess, cmd: object): Promise<any> {
  return new Promise((resolve) => {
    child.once('message', resolve);
    child.send(cmd);
  });
}

async function totalUpdates(procs: ChildProcess[]): Promise<{ updates: number; errors: number }> {
  const rs = await Promise.all(procs.map((p) => ask(p, { cmd: 'report' })));
  return { updates: rs.reduce((s, r) => s + r.updates, 0), errors: rs.reduce((s, r) => s + r.errors, 0) };
}

async function measure(n: number, batchSize: number, cycles: number): Promise<void> {
  const bport = await freePort();
  const backend = fork(self, ['backend', String(bport)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  track(backend);
  await new Promise((r) => backend.once('message', r));
  const gyre = await startGyre({
    client: { allow_anonymous_connect_without_token: true },
    shared_poll: { hmac_secret_key: SECRET },
    channel: {
      proxy: { shared_poll_refresh: { endpoint: `http://127.0.0.1:${bport}/refresh`, timeout: '5s' } },
      namespaces: [
        {
          name: 'spb',
          subscription_type: 'shared_poll',
          allow_subscribe_for_client: true,
          allow_subscribe_for_anonymous: true,
          shared_poll: { mode: 'versioned', refresh_interval: `${INTERVAL_MS}ms`, refresh_batch_size: batchSize },
        },
      ],
    },
  });
  const pid = gyre.child.pid!;
  const procs: ChildProcess[] = [];
  const per = 1000;
  const t0 = performance.now();
  for (let first = 0; first < n; first += per) {
    const p = fork(self, ['clients', gyre.wsUrl, String(Math.min(per, n - first)), String(first)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    track(p);
    procs.push(p);
  }
  await Promise.all(procs.map((p) => new Promise((r) => p.once('message', r))));
  // every client has the first version of its 100 keys
  const want = n * (KEYS / GROUPS);
  const deadline = Date.now() + 120_000;
  let u = await totalUpdates(procs);
  while (u.updates < want && Date.now() < deadline) {
    await sleep(250);
    u = await totalUpdates(procs);
  }
  console.log(
    `${n} clients: tracked and first versions ${u.updates}/${want} in ${fmt((performance.now() - t0) / 1000, 1)} s (errors ${u.errors}), load average ${loadAverage()}`,
  );
  await sleep(2 * INTERVAL_MS);
  await ask(backend, { cmd: 'reset' });
  const u0 = (await totalUpdates(procs)).updates;
  const c0 = processCpuUs(pid);
  const w0 = performance.now();
  for (let c = 0; c < cycles; c++) {
    const keys = Array.from({ length: GROUPS }, (_, g) => `k${g * (KEYS / GROUPS) + (c % (KEYS / GROUPS))}`);
    await ask(backend, { cmd: 'bump', keys });
    await sleep(INTERVAL_MS - ((performance.now() - w0) % INTERVAL_MS) + 0);
  }
  await sleep(2.5 * INTERVAL_MS); // the last bump's poll (a cycle can take ~2 intervals, see README) and fan-out
  const cpu = processCpuUs(pid) - c0;
  const wallS = (performance.now() - w0) / 1000;
  const delivered = (await totalUpdates(procs)).updates - u0;
  const expected = cycles * GROUPS * (n / GROUPS);
  const rep = await ask(backend, { cmd: 'report' });
  // Split the requests into refresh cycles: a cycle polls the keys in sorted order, so a
  // request starting with the first key ('k0') starts one; requests before the first such
  // request (the tail of a cycle begun before the window) are left out.
  const perCycle: number[] = [];
  const keysPerCycle: number[] = [];
  rep.firsts.forEach((first: string, i: number) => {
    if (first === 'k0') {
      perCycle.push(0);
      keysPerCycle.push(0);
    }
    if (perCycle.length === 0) return;
    perCycle[perCycle.length - 1]!++;
    keysPerCycle[keysPerCycle.length - 1]! += rep.sizes[i];
  });
  // The last cycle may be cut by the end of the window.
  if (perCycle.length > 1 && keysPerCycle[keysPerCycle.length - 1]! < KEYS) {
    perCycle.pop();
    keysPerCycle.pop();
  }
  const starts = rep.times.filter((_: number, i: number) => rep.firsts[i] === 'k0');
  const period = starts.length > 1 ? (starts[starts.length - 1] - starts[0]) / (starts.length - 1) : NaN;
  const span = rep.times.length > 1 ? rep.times[rep.times.length - 1] - rep.times[0] : 0;
  if (process.env.BENCH_VERBOSE) console.log(rep.firsts.map((f: string, i: number) => `${f}@${Math.round(rep.times[i] - rep.times[0])}`).join(' '));
  const expectReq = Math.ceil(KEYS / batchSize);
  console.log(
    `  backend requests per refresh cycle: min ${Math.min(...perCycle)} max ${Math.max(...perCycle)} over ${perCycle.length} whole cycles (expected ${expectReq}); ${rep.times.length} requests in ${fmt(span / 1000, 1)} s; ` +
      `keys per cycle min ${Math.min(...keysPerCycle)} max ${Math.max(...keysPerCycle)}; cycle period ${fmt(period, 0)} ms`,
  );
  console.log(
    `  changes: ${cycles * GROUPS} (10 per cycle), delivered ${delivered}/${expected}; server CPU ${fmt(cpu / 1000, 0)} ms over ${fmt(wallS, 1)} s ` +
      `(${fmt(cpu / 1e4 / wallS, 1)} % of a core): ${fmt(cpu / delivered, 2)} µs per change delivered`,
  );
  for (const p of procs) p.send({ cmd: 'stop' });
  await Promise.all(procs.map((p) => terminate(p)));
  await gyre.stop();
  await terminate(backend);
}

async function main(): Promise<void> {
  const counts = (process.argv[2] ?? '2000,5000').split(',').map(Number);
  const batchSize = Number(process.argv[3] ?? 100);
  const cycles = Number(process.argv[4] ?? 10);
  console.log(`shared-poll bench ${new Date().toISOString()}: 1,000 keys, refresh_interval ${INTERVAL_MS} ms, refresh_batch_size ${batchSize}, ${cycles} cycles`);
  for (const n of counts) await measure(n, batchSize, cycles);
  process.exit(0);
}

const role = process.argv[2];
if (role === 'backend') backendMain(Number(process.argv[3]));
else if (role === 'clients') await clientsMain(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5]));
else await main();
