// One measured run of one server in one scenario, per scenario kind (fanout, idle,
// storm, api). Each run starts the server fresh, measures, and stops everything.

import { LoadClient, Publisher, type ClientStats } from './clients.js';
import { processCpuSplitUs, processCpuUs, totalCpuUs, totalRssKb, totalSystemCpuUs } from './proc.js';
import type { MetricKey, Scenario, ServerKind } from './scenarios.js';
import { sleep, startServer, tail, TOKEN_SECRET, type ServerHandle } from './targets.js';
import { writeTokenFile } from './tokens.js';
import { runScale } from './scale.js';
import path from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';

export interface RunContext {
  clientBin: string;
  dir: string;
  cpus: number;
  clientThreads: number;
  verbose: boolean;
  /** pid of redis-server, when running locally (its CPU is shown for Redis scenarios). */
  redisPid: number | undefined;
}

export interface RunResult {
  kind: ServerKind;
  run: number;
  values: Partial<Record<MetricKey, number>>;
  notes: string[];
  /** One-line summary for the progress output. */
  summary: string;
}

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

function fmt(n: number | undefined, digits = 2): string {
  return n === undefined || !Number.isFinite(n) ? 'n/a' : n.toFixed(digits);
}

export function fmtCount(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return 'n/a';
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}

/** Subscribers of channel k when N connections are spread over K channels by index. */
function subscribersOf(k: number, n: number, channels: number): number {
  return Math.floor(n / channels) + (k < n % channels ? 1 : 0);
}

/** Deliveries expected for publications firstSeq.. (round-robin over channels) to n live connections. */
export function expectedDeliveries(n: number, channels: number, firstSeq: number, count: number): number {
  if (channels <= 1) return n * count;
  let sum = 0;
  for (let s = firstSeq; s < firstSeq + count; s++) sum += subscribersOf(s % channels, n, channels);
  return sum;
}

function messagesFor(sc: Scenario, kind: ServerKind): number {
  return sc.messagesBy?.[kind] ?? sc.messages;
}

function clientProtocol(sc: Scenario, server: ServerHandle): 'json' | 'protobuf' | 'socketio' {
  return server.clientProtocol === 'socketio' ? 'socketio' : sc.protocol;
}

async function connectClients(sc: Scenario, server: ServerHandle, ctx: RunContext, connections: number): Promise<{ client: LoadClient; ready: ClientStats }> {
  const channel = sc.channel ?? 'bench';
  let tokensFile: string | undefined;
  if (server.auth === 'token') {
    tokensFile = path.join(ctx.dir, `tokens-${server.subToken ? 'sub-' : ''}${connections}.txt`);
    writeTokenFile(tokensFile, TOKEN_SECRET, connections, server.subToken ? channel : undefined);
  }
  const client = new LoadClient(ctx.clientBin, {
    channel,
    subscribe: sc.subscribe !== false,
    tokensFile,
    cookie: server.auth === 'proxy',
    delta: server.kind === 'gyre-delta',
    ports: server.ports,
    connections,
    protocol: clientProtocol(sc, server),
    channels: sc.channels,
    threads: ctx.clientThreads,
    maxPending: sc.maxPending,
  });
  const ready = await client.ready(130_000);
  if (ready === undefined) {
    await client.stop();
    throw new Error(`load client did not become ready: ${tail(client.stderr)}`);
  }
  if (ready.ready === 0) {
    await client.stop();
    throw new Error(`no connection subscribed: ${ready.error || 'unknown error'}; server output: ${tail(server.output())}`);
  }
  return { client, ready };
}

async function withServer<T>(kind: ServerKind, ctx: RunContext, fn: (s: ServerHandle) => Promise<T>): Promise<T> {
  const server = await startServer(kind, ctx.dir, ctx.cpus);
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}

// ---------------------------------------------------------------------------
// fanout: subscribed connections, publications over HTTP, deliveries counted

async function runFanout(sc: Scenario, kind: ServerKind, run: number, ctx: RunContext): Promise<RunResult> {
  return withServer(kind, ctx, async (server) => {
    const notes: string[] = [];
    await sleep(500);
    const rssBefore = totalRssKb(server.pids());
    const { client, ready } = await connectClients(sc, server, ctx, sc.connections);
    try {
      const subscribed = ready.ready;
      if (ready.failed > 0) notes.push(`${ready.failed} connections failed (${ready.error})`);
      await sleep(1000);
      const rssAfter = totalRssKb(server.pids());
      const pub = new Publisher(ctx.clientBin, {
        port: server.apiPort,
        connections: sc.inflight,
        channels: sc.channels,
        payloadBytes: sc.payloadBytes,
        rate: sc.mode === 'rate' ? sc.rate : 0,
      });
      try {
        const pr = await pub.ready(10_000);
        if (pr === undefined || pr.connections === 0) throw new Error(`publisher could not connect: ${pr?.error ?? tail(pub.stderr)}`);
        let seq = 0;
        let alive = subscribed;
        if (sc.warmupMessages > 0) {
          client.send(`EXPECT ${expectedDeliveries(alive, sc.channels, seq, sc.warmupMessages)}`);
          const w0 = await pub.publish(sc.warmupMessages, seq, 120_000);
          if (w0 === undefined) throw new Error('publisher did not finish the warm-up');
          if (w0.errors > 0) throw new Error(`publish failed: ${w0.error}`);
          seq += sc.warmupMessages;
          const w = await client.waitDelivery(3000, 60_000);
          if (!w.complete) notes.push(`warm-up incomplete (${w.stats?.received ?? 0} delivered)`);
          alive -= w.stats?.closed ?? 0;
          await client.reset();
        }
        const messages = messagesFor(sc, kind);
        const expected = expectedDeliveries(alive, sc.channels, seq, messages);
        client.send(`EXPECT ${expected}`);
        const pids = server.pids();
        const serverCpu0 = totalCpuUs(pids);
        const serverSys0 = totalSystemCpuUs(pids);
        const split0 = ctx.verbose ? pids.map(cpuSplitOrZero) : [];
        const switches0 = ctx.verbose ? pids.map(contextSwitches) : [];
        const clientCpu0 = processCpuUs(client.pid);
        const pubCpu0 = processCpuUs(pub.pid);
        const redisCpu0 = ctx.redisPid !== undefined && server.redis ? processCpuUs(ctx.redisPid) : 0;
        const t0 = nowUs();
        const ps = await pub.publish(messages, seq, 300_000);
        const pubMs = (nowUs() - t0) / 1000;
        const { stats, complete } = await client.waitDelivery(3000, Math.max(30_000, pubMs * 5));
        const t1 = nowUs();
        const serverCpu = totalCpuUs(pids) - serverCpu0;
        const serverSys = totalSystemCpuUs(pids) - serverSys0;
        const split1 = ctx.verbose ? pids.map(cpuSplitOrZero) : [];
        const switches1 = ctx.verbose ? pids.map(contextSwitches) : [];
        const clientCpu = processCpuUs(client.pid) - clientCpu0;
        const pubCpu = processCpuUs(pub.pid) - pubCpu0;
        const redisCpu = ctx.redisPid !== undefined && server.redis ? processCpuUs(ctx.redisPid) - redisCpu0 : NaN;
        const wallUs = t1 - t0;
        if (stats === undefined) throw new Error('no statistics from load client');
        if (ps === undefined) notes.push('publisher did not report');
        else if (ps.errors > 0) notes.push(`${ps.errors} publish errors (${ps.error})`);
        if (!complete) notes.push(`incomplete: ${stats.received}/${expected} delivered`);
        if (stats.closed > 0) notes.push(`${stats.closed} connections closed during the window (close code ${stats.close_code}${stats.error ? `, ${stats.error}` : ''})`);
        if (ctx.verbose) {
          const per = (us: number): string => fmt(us / Math.max(1, stats.received), 3);
          const procs = pids.map((pid, i) => `${pid} ${per(split1[i]!.user - split0[i]!.user)}+${per(split1[i]!.system - split0[i]!.system)} (${openFds(pid)} fds, ${fmtCount(switches1[i]!.voluntary - switches0[i]!.voluntary)}+${fmtCount(switches1[i]!.involuntary - switches0[i]!.involuntary)} context switches)`);
          notes.push(`server CPU per delivery by process, user+system µs (open descriptors, voluntary+involuntary context switches of the main thread): ${procs.join(', ')}` + (server.redis && ctx.redisPid !== undefined ? `; redis-server ${per(redisCpu)} µs, summed with the server ${per(serverCpu + redisCpu)} µs` : ''));
          notes.push(`deliveries per WebSocket message ${fmt(stats.received / Math.max(1, stats.messages))}, pings ${stats.pings}, out-of-order ${stats.order_errors} (expected when inflight > 1), other ${stats.other_msgs}, p99.9 ${fmt(stats.p999_us / 1000)} ms, max ${fmt(stats.max_us / 1000)} ms, RSS ${rssBefore}→${rssAfter} KB, publish p99 ${fmt((ps?.p99_us ?? NaN) / 1000)} ms`);
        }
        const deliveries = stats.received;
        const windowUs = stats.last_us > 0 ? stats.last_us - t0 : wallUs;
        const values: RunResult['values'] = {
          cpuPerDelivery: deliveries > 0 ? serverCpu / deliveries : NaN,
          sysCpuPerDelivery: deliveries > 0 ? serverSys / deliveries : NaN,
          deliveriesPerSec: windowUs > 0 ? (deliveries * 1e6) / windowUs : NaN,
          p50: stats.p50_us / 1000,
          p99: stats.p99_us / 1000,
          rssPerConn: (rssAfter - rssBefore) / subscribed,
          serverCpuPct: (serverCpu / wallUs) * 100,
          clientCpuPct: (clientCpu / wallUs) * 100,
          publisherCpuPct: (pubCpu / wallUs) * 100,
          redisCpuPct: (redisCpu / wallUs) * 100,
          delivered: expected > 0 ? (deliveries / expected) * 100 : NaN,
        };
        const summary =
          `${fmtCount(deliveries)} deliveries in ${fmt(windowUs / 1e6)} s = ${fmtCount(values.deliveriesPerSec)}/s; ` +
          `CPU ${fmt(values.cpuPerDelivery, 3)} µs/delivery (kernel ${fmt(values.sysCpuPerDelivery, 3)}); latency p50/p99 ${fmt(values.p50)}/${fmt(values.p99)} ms; ` +
          `RSS ${fmt(values.rssPerConn)} KB/conn; CPU% server ${fmt(values.serverCpuPct, 0)} client ${fmt(values.clientCpuPct, 0)} publisher ${fmt(values.publisherCpuPct, 0)}` +
          (server.redis ? ` redis ${fmt(values.redisCpuPct, 0)}` : '');
        return { kind, run, values, notes, summary };
      } finally {
        await pub.stop();
      }
    } finally {
      await client.stop();
    }
  });
}

// ---------------------------------------------------------------------------
// idle: memory per subscribed connection and keepalive CPU

async function runIdle(sc: Scenario, kind: ServerKind, run: number, ctx: RunContext): Promise<RunResult> {
  return withServer(kind, ctx, async (server) => {
    const notes: string[] = [];
    await sleep(500);
    const pids = server.pids();
    const rssBefore = totalRssKb(pids);
    const { client, ready } = await connectClients(sc, server, ctx, sc.connections);
    try {
      const n = ready.ready;
      if (ready.failed > 0) notes.push(`${ready.failed} connections failed (${ready.error})`);
      await sleep(2000);
      const rssReady = totalRssKb(pids);
      await client.reset();
      const cpu0 = totalCpuUs(pids);
      const sys0 = totalSystemCpuUs(pids);
      const t0 = nowUs();
      const idleSeconds = sc.idleSecondsBy?.[kind] ?? sc.idleSeconds;
      await sleep(idleSeconds * 1000);
      const cpu = totalCpuUs(pids) - cpu0;
      const sys = totalSystemCpuUs(pids) - sys0;
      const secs = (nowUs() - t0) / 1e6;
      // A second window: the first one also holds the one-time clean-up after the connection
      // burst (V8's memory reducer compacts the heap a few seconds after allocation stops).
      const steadySeconds = sc.steadySecondsBy?.[kind] ?? sc.steadySeconds ?? 0;
      let steadyCpu = NaN;
      let steadySys = NaN;
      let steadySecs = NaN;
      if (steadySeconds > 0) {
        const c1 = totalCpuUs(pids);
        const s1 = totalSystemCpuUs(pids);
        const t1 = nowUs();
        await sleep(steadySeconds * 1000);
        steadyCpu = totalCpuUs(pids) - c1;
        steadySys = totalSystemCpuUs(pids) - s1;
        steadySecs = (nowUs() - t1) / 1e6;
      }
      const rssEnd = totalRssKb(pids);
      const stats = await client.report();
      if (stats && stats.closed > 0) notes.push(`${stats.closed} connections closed while idle (close code ${stats.close_code})`);
      if (ctx.verbose) notes.push(`RSS ${rssBefore}→${rssReady}→${rssEnd} KB; server CPU ${fmt(cpu / 1000, 0)} ms over ${fmt(secs, 1)} s`);
      const values: RunResult['values'] = {
        rssPerConn: (rssReady - rssBefore) / n,
        rssPerConnIdle: (rssEnd - rssBefore) / n,
        idleCpuPerConnSec: cpu / n / secs,
        idleSysCpuPerConnSec: sys / n / secs,
        steadyCpuPerConnSec: steadyCpu / n / steadySecs,
        steadySysCpuPerConnSec: steadySys / n / steadySecs,
        pingsPerConn: stats ? stats.pings / n : NaN,
      };
      const summary = `${n} connections; RSS ${fmt(values.rssPerConn)} KB/conn after connect, ${fmt(values.rssPerConnIdle)} after ${idleSeconds + steadySeconds} s idle; idle CPU ${fmt(values.idleCpuPerConnSec, 3)} µs per connection per second (kernel ${fmt(values.idleSysCpuPerConnSec, 3)}), then ${fmt(values.steadyCpuPerConnSec, 3)} (kernel ${fmt(values.steadySysCpuPerConnSec, 3)}) over the next ${steadySeconds} s; ${fmt(values.pingsPerConn)} pings/conn`;
      return { kind, run, values, notes, summary };
    } finally {
      await client.stop();
    }
  });
}

// ---------------------------------------------------------------------------
// storm: everything connects at once

async function runStorm(sc: Scenario, kind: ServerKind, run: number, ctx: RunContext): Promise<RunResult> {
  return withServer(kind, ctx, async (server) => {
    const notes: string[] = [];
    await sleep(500);
    const pids = server.pids();
    const cpu0 = totalCpuUs(pids);
    const sys0 = totalSystemCpuUs(pids);
    const backendCpu0 = server.backendPid !== undefined ? processCpuUs(server.backendPid) : NaN;
    const t0 = nowUs();
    const { client, ready } = await connectClients(sc, server, ctx, sc.connections);
    try {
      const cpu = totalCpuUs(pids) - cpu0;
      const sys = totalSystemCpuUs(pids) - sys0;
      const backendCpu = server.backendPid !== undefined ? processCpuUs(server.backendPid) - backendCpu0 : NaN;
      const clientCpu = processCpuUs(client.pid);
      const wallUs = nowUs() - t0;
      if (ready.failed > 0) notes.push(`${ready.failed} connections failed (${ready.error})`);
      const rate = ready.setup_us > 0 ? (ready.ready * 1e6) / ready.setup_us : NaN;
      const subscribing = sc.subscribe !== false;
      const values: RunResult['values'] = {
        connectsPerSec: subscribing ? rate : NaN,
        connectP50: subscribing ? ready.conn_p50_ms : NaN,
        connectP99: subscribing ? ready.conn_p99_ms : NaN,
        connectOnlyPerSec: subscribing ? NaN : rate,
        connectOnlyP50: subscribing ? NaN : ready.conn_p50_ms,
        connectOnlyP99: subscribing ? NaN : ready.conn_p99_ms,
        connectFailed: ready.failed,
        cpuPerConnect: ready.ready > 0 ? cpu / ready.ready : NaN,
        sysCpuPerConnect: ready.ready > 0 ? sys / ready.ready : NaN,
        backendCpuPerConnect: ready.ready > 0 ? backendCpu / ready.ready : NaN,
        serverCpuPct: (cpu / wallUs) * 100,
        backendCpuPct: (backendCpu / wallUs) * 100,
        clientCpuPct: (clientCpu / wallUs) * 100,
      };
      const what = subscribing ? 'subscribed' : 'connected';
      const summary =
        `${ready.ready}/${sc.connections} ${what} in ${fmt(ready.setup_us / 1e6)} s = ${fmtCount(rate)}/s; ` +
        `connect${subscribing ? '+subscribe' : ''} p50/p99/max ${ready.conn_p50_ms}/${ready.conn_p99_ms}/${ready.conn_max_ms} ms; server CPU ${fmt(values.cpuPerConnect, 0)} µs per connection (kernel ${fmt(values.sysCpuPerConnect, 0)})` +
        (server.backendPid !== undefined ? `, backend ${fmt(values.backendCpuPerConnect, 0)} µs` : '') +
        `; CPU% server ${fmt(values.serverCpuPct, 0)}${server.backendPid !== undefined ? ` backend ${fmt(values.backendCpuPct, 0)}` : ''} client ${fmt(values.clientCpuPct, 0)}`;
      return { kind, run, values, notes, summary };
    } finally {
      await client.stop();
    }
  });
}

// ---------------------------------------------------------------------------
// api: publish throughput with one subscriber

async function runApi(sc: Scenario, kind: ServerKind, run: number, ctx: RunContext): Promise<RunResult> {
  return withServer(kind, ctx, async (server) => {
    const notes: string[] = [];
    await sleep(500);
    const { client } = await connectClients(sc, server, ctx, sc.connections);
    const pub = new Publisher(ctx.clientBin, { port: server.apiPort, connections: sc.inflight, channels: 1, payloadBytes: sc.payloadBytes, rate: 0 });
    try {
      const pr = await pub.ready(10_000);
      if (pr === undefined || pr.connections === 0) throw new Error(`publisher could not connect: ${pr?.error ?? tail(pub.stderr)}`);
      client.send(`EXPECT ${sc.warmupMessages * sc.connections}`);
      const w = await pub.publish(sc.warmupMessages, 0, 120_000);
      if (w === undefined || w.errors > 0) throw new Error(`warm-up publish failed: ${w?.error ?? 'no report'}`);
      await client.waitDelivery(3000, 30_000);
      await client.reset();
      const expected = sc.messages * sc.connections;
      client.send(`EXPECT ${expected}`);
      const pids = server.pids();
      const cpu0 = totalCpuUs(pids);
      const sys0 = totalSystemCpuUs(pids);
      const pubCpu0 = processCpuUs(pub.pid);
      const t0 = nowUs();
      const ps = await pub.publish(sc.messages, sc.warmupMessages, 300_000);
      const cpu = totalCpuUs(pids) - cpu0;
      const sys = totalSystemCpuUs(pids) - sys0;
      const pubCpu = processCpuUs(pub.pid) - pubCpu0;
      const wallUs = nowUs() - t0;
      if (ps === undefined) throw new Error('publisher did not report');
      if (ps.errors > 0) notes.push(`${ps.errors} publish errors (${ps.error})`);
      const { stats, complete } = await client.waitDelivery(3000, 30_000);
      if (!complete) notes.push(`incomplete: ${stats?.received ?? 0}/${expected} delivered`);
      const values: RunResult['values'] = {
        requestsPerSec: (ps.requests * 1e6) / ps.elapsed_us,
        requestP50: ps.p50_us / 1000,
        requestP99: ps.p99_us / 1000,
        cpuPerRequest: ps.requests > 0 ? cpu / ps.requests : NaN,
        sysCpuPerRequest: ps.requests > 0 ? sys / ps.requests : NaN,
        serverCpuPct: (cpu / wallUs) * 100,
        publisherCpuPct: (pubCpu / wallUs) * 100,
        delivered: stats ? (stats.received / expected) * 100 : NaN,
      };
      const summary = `${fmtCount(ps.requests)} publish requests in ${fmt(ps.elapsed_us / 1e6)} s = ${fmtCount(values.requestsPerSec)}/s; latency p50/p99 ${fmt(values.requestP50, 3)}/${fmt(values.requestP99, 3)} ms; server CPU ${fmt(values.cpuPerRequest, 1)} µs/request (kernel ${fmt(values.sysCpuPerRequest, 1)}) (${fmt(values.serverCpuPct, 0)} %); publisher ${fmt(values.publisherCpuPct, 0)} %`;
      return { kind, run, values, notes, summary };
    } finally {
      await pub.stop();
      await client.stop();
    }
  });
}

export function runScenarioOnce(sc: Scenario, kind: ServerKind, run: number, ctx: RunContext): Promise<RunResult> {
  switch (sc.kind) {
    case 'fanout':
      return runFanout(sc, kind, run, ctx);
    case 'idle':
      return runIdle(sc, kind, run, ctx);
    case 'storm':
      return runStorm(sc, kind, run, ctx);
    case 'api':
      return runApi(sc, kind, run, ctx);
    case 'scale':
      return runScale(sc, kind, run, ctx);
  }
}

function cpuSplitOrZero(pid: number): { user: number; system: number } {
  try {
    return processCpuSplitUs(pid);
  } catch {
    return { user: 0, system: 0 };
  }
}

/** Open descriptors of a process (about its connection count), or NaN when unreadable. */
function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

/** Context switches of a process's main thread so far (zeros when unreadable). */
function contextSwitches(pid: number): { voluntary: number; involuntary: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const v = /^voluntary_ctxt_switches:\s+(\d+)/m.exec(status);
    const n = /^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status);
    return { voluntary: Number(v?.[1] ?? 0), involuntary: Number(n?.[1] ?? 0) };
  } catch {
    return { voluntary: 0, involuntary: 0 };
  }
}
