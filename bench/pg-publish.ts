// PostgreSQL broker bench: one Gyre process per broker (memory, Redis, PostgreSQL with
// use_notify off, PostgreSQL with use_notify on), each with S official-SDK subscribers (a
// separate Node process) on `pb:bench` (history on). For each broker, in the same run:
//  - sustained maximum: a closed loop of R `publish` calls with 64 in flight (keep-alive
//    node:http client): publishes/s, server CPU per publish, and PostgreSQL's CPU per publish
//    (summed over the postgres processes, read from /proc) for the PostgreSQL rows;
//  - the same closed loop spread over 64 channels (no subscribers there): publishes/s when
//    publishes do not queue on one channel's shard lock (PostgreSQL rows only serialise per shard);
//  - publish → delivery latency at 1,000 publishes/s: 3,000 calls paced at 1 ms, each payload
//    carrying the send time; p50/p99 of (receive time in the subscriber process − send time).
// After a build: `node dist/bench/pg-publish.js [subscribers=10] [calls=10000]`.
// Not part of `npm test` or `npm run bench`.

import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { apiCall, closedLoop, fmt, nowMs, percentile, sleep, startGyre, type GyreChild } from './kinds-common.js';
import { loadAverage, processCpuUs } from './proc.js';
import { track, terminate, REDIS_ADDRESS } from './targets.js';

const self = fileURLToPath(import.meta.url);
const PG_DSN = process.env.GYRE_BENCH_PG_DSN ?? 'postgres://postgres@127.0.0.1:5432/postgres';

// ---------------------------------------------------------------------------
// subscriber process: `pg-publish.js sub <wsUrl> <count>`

async function subscriberMain(wsUrl: string, count: number): Promise<void> {
  const { Centrifuge } = await import('centrifuge');
  const WebSocket = (await import('ws')).default;
  let lat: number[] = [];
  const clients: InstanceType<typeof Centrifuge>[] = [];
  for (let i = 0; i < count; i++) {
    const c = new Centrifuge(wsUrl, { websocket: WebSocket });
    c.on('error', () => undefined);
    const s = c.newSubscription('pb:bench');
    s.on('publication', (p: any) => {
      if (p.data && typeof p.data.t === 'number') lat.push(nowMs() - p.data.t);
    });
    const ready = new Promise((r) => s.once('subscribed', r));
    s.subscribe();
    c.connect();
    clients.push(c);
    await ready;
  }
  process.on('message', (msg: any) => {
    if (msg.cmd === 'reset') {
      lat = [];
      process.send!({ ok: true });
    } else if (msg.cmd === 'report') {
      const s = [...lat].sort((a, b) => a - b);
      process.send!({ n: s.length, p50: percentile(s, 50), p99: percentile(s, 99) });
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

async function deliveriesSettle(sub: ChildProcess, expected: number): Promise<any> {
  const deadline = Date.now() + 60_000;
  let last = -1;
  let stillSince = Date.now();
  for (;;) {
    const r = await ask(sub, 'report');
    if (r.n >= expected || Date.now() > deadline) return r;
    if (r.n !== last) {
      last = r.n;
      stillSince = Date.now();
    } else if (Date.now() - stillSince > 3000) return r;
    await sleep(100);
  }
}

/** CPU time (µs) of every postgres server process on this machine, from /proc. */
function postgresCpuUs(): number {
  let pids: string[];
  try {
    pids = execFileSync('pgrep', ['-x', 'postgres'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    return NaN;
  }
  let total = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += ((Number(f[11]) + Number(f[12])) * 1e6) / 100; // utime + stime in clock ticks (100 Hz)
    } catch {
      // process gone
    }
  }
  return total;
}

async function measureBroker(label: string, broker: object, subscribers: number, calls: number, pg: boolean): Promise<void> {
  const gyre: GyreChild = await startGyre({
    client: { insecure: true },
    broker: { enabled: true, ...broker },
    channel: { namespaces: [{ name: 'pb', history_size: 100, history_ttl: '300s' }] },
  });
  const pid = gyre.child.pid!;
  const sub = fork(self, ['sub', gyre.wsUrl, String(subscribers)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  track(sub);
  await new Promise((r) => sub.once('message', r));
  const call = (): Promise<unknown> => apiCall(gyre.port, 'publish', { channel: 'pb:bench', data: { t: nowMs() } });

  for (let round = 0; round < 2; round++) {
    // Deliveries still on their way from the previous window must not count in this one.
    await sleep(500);
    await ask(sub, 'reset');
    await closedLoop(1000, 64, call);
    await deliveriesSettle(sub, 1000 * subscribers);
    await ask(sub, 'reset');
    const c0 = processCpuUs(pid);
    const p0 = pg ? postgresCpuUs() : 0;
    const ms = await closedLoop(calls, 64, call);
    const cpu = processCpuUs(pid) - c0;
    const pgCpu = pg ? postgresCpuUs() - p0 : NaN;
    const d = await deliveriesSettle(sub, calls * subscribers);
    const spreadMs = await closedLoop(calls, 64, (i) => apiCall(gyre.port, 'publish', { channel: `pb:spread-${i % 64}`, data: { i } }));
    await sleep(500);
    await ask(sub, 'reset');
    const paced = 3000;
    const t0 = performance.now();
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < paced; i++) {
      const wait = t0 + i - performance.now();
      if (wait > 1) await sleep(wait);
      pending.push(call());
    }
    await Promise.all(pending);
    const l = await deliveriesSettle(sub, paced * subscribers);
    console.log(
      `${label.padEnd(26)} round ${round + 1}: max ${fmt((calls / ms) * 1000, 0).padStart(6)} publishes/s, Gyre CPU ${fmt(cpu / calls).padStart(6)} µs/publish` +
        (pg ? `, PostgreSQL CPU ${fmt(pgCpu / calls).padStart(6)} µs/publish` : '') +
        ` (delivered ${fmt((100 * d.n) / (calls * subscribers))} %); over 64 channels ${fmt((calls / spreadMs) * 1000, 0)} publishes/s; at 1k/s: p50 ${fmt(l.p50, 2)} ms p99 ${fmt(l.p99, 2)} ms (delivered ${fmt((100 * l.n) / (paced * subscribers))} %)`,
    );
  }
  sub.send({ cmd: 'stop' });
  await terminate(sub);
  await gyre.stop();
}

async function main(): Promise<void> {
  const subscribers = Number(process.argv[2] ?? 10);
  const calls = Number(process.argv[3] ?? 10_000);
  const tag = `${process.pid}_${Date.now() % 1e6}`;
  console.log(`pg-publish bench ${new Date().toISOString()}: ${subscribers} subscribers, ${calls} calls per window, load average ${loadAverage()}`);
  await measureBroker('memory', { type: 'memory' }, subscribers, calls, false);
  await measureBroker('redis', { type: 'redis', redis: { address: [REDIS_ADDRESS], prefix: `gyre-bench-pg-${tag}` } }, subscribers, calls, false);
  for (const useNotify of [false, true]) {
    const prefix = `gyrebench${useNotify ? 'n' : 'p'}${tag}`;
    await measureBroker(
      `postgres use_notify=${useNotify}`,
      { type: 'postgres', postgres: { dsn: PG_DSN, table_prefix: prefix, use_notify: useNotify, num_shards: 8 } },
      subscribers,
      calls,
      true,
    );
    dropPrefix(prefix);
  }
  process.exit(0);
}

/** Drops the tables and functions a PostgreSQL run created under `prefix`. */
function dropPrefix(prefix: string): void {
  const sql = `DO $$ DECLARE r record; BEGIN
    FOR r IN SELECT relname AS tablename FROM pg_class WHERE relkind IN ('r', 'p') AND NOT relispartition AND relname LIKE '${prefix}%' LOOP EXECUTE 'DROP TABLE IF EXISTS ' || quote_ident(r.tablename) || ' CASCADE'; END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS f FROM pg_proc p WHERE p.proname LIKE '${prefix}%' LOOP EXECUTE 'DROP FUNCTION IF EXISTS ' || r.f || ' CASCADE'; END LOOP;
  END $$;`;
  try {
    execFileSync('psql', [PG_DSN, '-q', '-c', sql], { stdio: 'ignore' });
  } catch {
    console.log(`(could not drop the bench tables under ${prefix})`);
  }
}

if (process.argv[2] === 'sub') await subscriberMain(process.argv[3]!, Number(process.argv[4]));
else await main();
