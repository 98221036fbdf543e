// The `scale` scenario kind (scale-100k): more connections than one process may hold.
//
// The server is gyre-workers with enough workers that none needs more than ~15,000
// descriptors; the load client is a LoadClientGroup of K processes on their own loopback
// source addresses. One run, in order:
//   1. connect: every connection connects and subscribes (attempts in flight limited);
//   2. memory: server RSS (primary + workers) and machine-wide kernel memory (slab,
//      TCP buffer pages) before connecting and 2 s after the last subscribe reply;
//   3. idle: two windows (server CPU, user + system, of every server process); Gyre
//      pings every 25 s, so each window holds two pings per connection;
//   4. single publications: one at a time, each waited for until all connections got it:
//      time from the publish request to the last delivery, p50/p99 across connections;
//   5. flood: warm-up, then `messages` publications with `inflight` requests outstanding:
//      deliveries/s, CPU per delivery of the server and of the server plus redis-server.

import { LoadClientGroup, perAddress, type GroupHistograms } from './client-group.js';
import { Publisher } from './clients.js';
import type { RunContext, RunResult } from './measure.js';
import { fmtCount } from './measure.js';
import {
  fdCount, fdLimits, kernelMemory, loadAverage, processCpuUs, SOCKET_SLABS, sysctlValue, tcpCounters,
  totalCpuUs, totalRssKb, totalSystemCpuUs, type KernelMemory,
} from './proc.js';
import type { Scenario, ServerKind } from './scenarios.js';
import { sleep, startServer, tail, workerCount } from './targets.js';

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
const PAGE = 4096;
/** Connections per load-client process when the scenario does not say. */
const PER_CLIENT_PROCESS = 17_000;
/** Idle window before connecting: the CPU of the processes alone. */
const BASELINE_SECONDS = 10;
/** Descriptors a process keeps for itself besides its connections. */
const FD_MARGIN = 256;

const f = (n: number | undefined, d = 2): string => (n !== undefined && Number.isFinite(n) ? n.toFixed(d) : 'n/a');
const median = (v: number[]): number => {
  const s = v.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Kernel memory grown between two readings, bytes: slab plus TCP buffer pages. */
function kernelGrowth(a: KernelMemory, b: KernelMemory): { total: number; slab: number; buffers: number } {
  const slab = (b.slabKb - a.slabKb) * 1024;
  const buffers = (b.tcpMemPages - a.tcpMemPages) * PAGE;
  return { total: slab + buffers, slab, buffers };
}

/** Checks the per-process limits; returns what the run prints about the kernel settings. */
function checkLimits(n: number, procs: number, workers: number, notes: string[]): string {
  const { soft, hard } = fdLimits();
  const limit = Math.min(soft, hard);
  const perProc = Math.ceil(n / procs);
  if (perProc > limit - FD_MARGIN) throw new Error(`${perProc} connections per load-client process exceed the open-file limit ${limit}; use more processes`);
  const perWorker = Math.ceil(n / workers);
  if (perWorker > limit - 2000) notes.push(`${perWorker} connections per worker on average, near the open-file limit ${limit}: an uneven spread may exceed it`);
  const keys = ['net/core/somaxconn', 'net/ipv4/tcp_max_syn_backlog', 'net/ipv4/ip_local_port_range', 'net/ipv4/tcp_mem', 'fs/file-max', 'net/netfilter/nf_conntrack_max'];
  return `open files ${soft}/${hard}; ${keys.map((k) => `${k.split('/').pop()} ${sysctlValue(k) || 'n/a'}`).join('; ')} (nothing changed)`;
}

interface Broadcast { lastMs: number; firstMs: number; p50Ms: number; p99Ms: number; delivered: number }

function broadcastOf(h: GroupHistograms, delivered: number): Broadcast {
  return { lastMs: h.maxUs / 1000, firstMs: h.lat.min() / 1000, p50Ms: h.lat.percentile(0.5) / 1000, p99Ms: h.lat.percentile(0.99) / 1000, delivered };
}

export async function runScale(sc: Scenario, kind: ServerKind, run: number, ctx: RunContext): Promise<RunResult> {
  const notes: string[] = [];
  const n = sc.connections;
  const procs = sc.clientProcesses ?? Math.ceil(n / PER_CLIENT_PROCESS);
  const workers = workerCount(ctx.cpus, sc.workers);
  const limits = checkLimits(n, procs, workers, notes);
  console.log(`    ${kind}: ${workers} workers; ${procs} load-client processes (each address of 127.0.0.2… holds at most ${perAddress()}); load average ${loadAverage()}`);
  console.log(`    limits: ${limits}`);

  const server = await startServer(kind, ctx.dir, ctx.cpus, { workers });
  let group: LoadClientGroup | undefined;
  let pub: Publisher | undefined;
  try {
    await sleep(2000);
    const pids = server.pids();
    const workerPids = pids.slice(1);
    const fds0 = workerPids.map(fdCount);
    // What the processes cost with no connection at all (timers, Redis heartbeats).
    const base0 = totalCpuUs(pids);
    const baseT0 = nowUs();
    await sleep(BASELINE_SECONDS * 1000);
    const baseCpuPct = ((totalCpuUs(pids) - base0) / (nowUs() - baseT0)) * 100;
    notes.push(`server CPU with no connections: ${f(baseCpuPct, 1)} % of one core (${pids.length} processes)`);
    const rss0 = totalRssKb(pids);
    const kern0 = kernelMemory();

    // 1. connect
    const setupTimeoutS = Math.max(120, Math.ceil(n / 200));
    const cpuC0 = totalCpuUs(pids);
    const primaryC0 = processCpuUs(pids[0]!);
    const tcp0 = tcpCounters();
    const t0 = nowUs();
    group = new LoadClientGroup(ctx.clientBin, {
      channel: sc.channel ?? 'bench',
      ports: server.ports,
      connections: n,
      protocol: sc.protocol,
      channels: sc.channels,
      threads: ctx.clientThreads,
      maxPending: Math.max(1, Math.floor(sc.maxPending / procs)),
      setupTimeoutS,
    }, procs);
    // Peak connections per worker while connecting (node:cluster hands them out round-robin
    // to whichever worker is free, so the spread depends on how fast each one takes them).
    const fdWatch = setInterval(() => {
      console.log(`    connecting, ${f((nowUs() - t0) / 1e6, 0)} s: connections per worker ${workerPids.map((p, i) => fdCount(p) - fds0[i]!).join(', ')}`);
    }, 10_000);
    const ready = await group.ready(setupTimeoutS * 1000 + 30_000).finally(() => clearInterval(fdWatch));
    const setupUs = nowUs() - t0;
    const cpuConnect = totalCpuUs(pids) - cpuC0;
    const primaryConnect = processCpuUs(pids[0]!) - primaryC0;
    if (ready === undefined) throw new Error(`load clients did not become ready: ${tail(group.stderr)}`);
    // Subscribed and still open: the server may close a subscribed connection before the last
    // one is ready (e.g. 3012 no pong when the client answered a ping too late).
    const connected = ready.merged.ready - ready.merged.closed;
    const lost = ready.merged.failed + ready.merged.closed;
    if (connected <= 0) throw new Error(`no connection subscribed: ${ready.merged.error || 'unknown error'}; server output: ${tail(server.output())}`);
    if (ready.merged.failed > 0) notes.push(`${ready.merged.failed} connections failed to subscribe (${ready.merged.error})`);
    if (ready.merged.closed > 0) notes.push(`${ready.merged.closed} subscribed connections closed by the server while connecting (close code ${ready.merged.close_code})`);
    const connHist = (await group.histograms()).conn;
    const tcp1 = tcpCounters();
    notes.push(`connect: server CPU ${f(cpuConnect / Math.max(1, connected), 0)} µs per connection, of which the primary (accepts and hands sockets to workers) ${f(primaryConnect / Math.max(1, connected), 0)} µs`);
    notes.push(`source addresses per client process: ${group.sourceIps.map((a) => a.join('+')).join(', ')}`);
    notes.push(`connect: per client process ${ready.perProcess.map((s) => `${f(s.setup_us / 1e6, 1)} s (p99 ${s.conn_p99_ms} ms)`).join(', ')}; TCP counters (machine-wide) ${Object.keys(tcp1).map((k) => `${k} +${tcp1[k]! - (tcp0[k] ?? 0)}`).join(', ')}`);
    console.log(`    ${connected}/${n} subscribed and open (${ready.merged.failed} failed, ${ready.merged.closed} closed) in ${f(setupUs / 1e6, 1)} s; load average ${loadAverage()}`);

    // 2. memory
    await sleep(2000);
    const rss1 = totalRssKb(pids);
    const kern1 = kernelMemory();
    const perWorker = workerPids.map((p, i) => fdCount(p) - fds0[i]!);
    const kg = kernelGrowth(kern0, kern1);
    // The readings are machine-wide: other jobs open and close sockets meanwhile. Scaling by
    // the TCP sockets that appeared (2 per connection expected) removes most of that noise,
    // on the assumption that their sockets cost what ours do.
    const sockets = kern1.tcpInuse - kern0.tcpInuse;
    const perPair = sockets > 0 ? 2 / sockets : 1 / connected;
    notes.push(`connections per worker (descriptors gained): ${perWorker.join(', ')}`);
    notes.push(`RSS ${fmtCount(rss0)}→${fmtCount(rss1)} KB (${pids.length} processes); TCP sockets in use ${kern0.tcpInuse}→${kern1.tcpInuse} (+${sockets}, both ends: expect +${2 * connected})`);
    const perCache = SOCKET_SLABS.filter((c) => kern0.slabBytes[c] !== undefined && kern1.slabBytes[c] !== undefined)
      .map((c) => `${c} ${f((kern1.slabBytes[c]! - kern0.slabBytes[c]!) * perPair, 0)}`);
    notes.push(`kernel per connection (both ends; growth × 2 / new TCP sockets): slab ${f(kg.slab * perPair, 0)} B + TCP buffers ${f(kg.buffers * perPair, 0)} B; slab caches: ${perCache.join(', ') || 'n/a'} B; growth / connections instead: ${f(kg.total / connected, 0)} B`);

    // 3. idle windows
    await group.reset();
    const window = async (seconds: number): Promise<{ cpu: number; sys: number; secs: number }> => {
      const c0 = totalCpuUs(pids);
      const s0 = totalSystemCpuUs(pids);
      const w0 = nowUs();
      await sleep(seconds * 1000);
      return { cpu: totalCpuUs(pids) - c0, sys: totalSystemCpuUs(pids) - s0, secs: (nowUs() - w0) / 1e6 };
    };
    const idle1 = await window(sc.idleSeconds);
    const idle2 = (sc.steadySeconds ?? 0) > 0 ? await window(sc.steadySeconds!) : { cpu: NaN, sys: NaN, secs: NaN };
    const rss2 = totalRssKb(pids);
    const idleStats = await group.report();
    let alive = connected - (idleStats?.closed ?? 0);
    if ((idleStats?.closed ?? 0) > 0) notes.push(`${idleStats!.closed} connections closed while idle (close code ${idleStats!.close_code})`);
    console.log(`    idle: ${f(idle1.cpu / connected / idle1.secs, 3)} then ${f(idle2.cpu / connected / idle2.secs, 3)} µs per connection per second; load average ${loadAverage()}`);

    // 4. single publications
    pub = new Publisher(ctx.clientBin, { port: server.apiPort, connections: sc.inflight, channels: sc.channels, payloadBytes: sc.payloadBytes, rate: 0 });
    const pr = await pub.ready(10_000);
    if (pr === undefined || pr.connections === 0) throw new Error(`publisher could not connect: ${pr?.error ?? tail(pub.stderr)}`);
    let seq = 0;
    const singles: Broadcast[] = [];
    const singleCpu: number[] = [];
    for (let i = 0; i < (sc.singlePublications ?? 0); i++) {
      await group.reset();
      const c0 = totalCpuUs(pids);
      const ps = await pub.publish(1, seq++, 60_000);
      if (ps === undefined || ps.errors > 0) throw new Error(`single publication ${i + 1}: publish failed: ${ps?.error ?? 'no report'}`);
      const w = await group.waitDelivery(alive, 5000, 120_000, 200);
      singleCpu.push((totalCpuUs(pids) - c0) / Math.max(1, w.stats?.received ?? 0));
      const b = broadcastOf(await group.histograms(), w.stats?.received ?? 0);
      singles.push(b);
      alive -= w.stats?.closed ?? 0;
      if (!w.complete) notes.push(`publication ${i + 1}: ${b.delivered}/${alive} delivered`);
      await sleep(1000);
    }
    if (singles.length > 0) {
      notes.push(`single publications (publish → first/p50/p99/last delivery, ms): ${singles.map((b) => `${f(b.firstMs, 1)}/${f(b.p50Ms, 0)}/${f(b.p99Ms, 0)}/${f(b.lastMs, 0)}`).join('; ')}`);
      // From the publish request until the poll that saw the last delivery (≤ 200 ms later; idle pings included).
      notes.push(`single publications: server CPU per delivery ${singleCpu.map((c) => f(c, 1)).join(', ')} µs`);
    }

    // 5. flood
    if (sc.warmupMessages > 0) {
      await group.reset();
      const w0 = await pub.publish(sc.warmupMessages, seq, 120_000);
      if (w0 === undefined || w0.errors > 0) throw new Error(`warm-up publish failed: ${w0?.error ?? 'no report'}`);
      seq += sc.warmupMessages;
      const w = await group.waitDelivery(alive * sc.warmupMessages, 5000, 300_000);
      if (!w.complete) notes.push(`warm-up incomplete (${w.stats?.received ?? 0} delivered)`);
      alive -= w.stats?.closed ?? 0;
    }
    await group.reset();
    const expected = alive * sc.messages;
    const clientPids = group.pids();
    const cpu0 = totalCpuUs(pids);
    const redis0 = ctx.redisPid !== undefined ? processCpuUs(ctx.redisPid) : NaN;
    const client0 = totalCpuUs(clientPids);
    let tcpMemPeak = 0;
    const sampler = setInterval(() => { tcpMemPeak = Math.max(tcpMemPeak, kernelMemory().tcpMemPages); }, 500);
    const tf = nowUs();
    let floodDone;
    try {
      const ps = await pub.publish(sc.messages, seq, 600_000);
      if (ps === undefined) notes.push('publisher did not report');
      else if (ps.errors > 0) notes.push(`${ps.errors} publish errors (${ps.error})`);
      floodDone = await group.waitDelivery(expected, 5000, 600_000, 500);
    } finally {
      clearInterval(sampler);
    }
    const wallUs = nowUs() - tf;
    const cpu = totalCpuUs(pids) - cpu0;
    const redisCpu = ctx.redisPid !== undefined ? processCpuUs(ctx.redisPid) - redis0 : NaN;
    const clientCpu = totalCpuUs(clientPids) - client0;
    const fs = floodDone.stats;
    if (fs === undefined) throw new Error('no statistics from the load clients');
    if (!floodDone.complete) notes.push(`flood incomplete: ${fs.received}/${expected} delivered`);
    if (fs.closed > 0) notes.push(`${fs.closed} connections closed during the flood (close code ${fs.close_code}${fs.error ? `, ${fs.error}` : ''})`);
    const fh = await group.histograms();
    const deliveries = fs.received;
    const floodUs = fs.last_us > 0 ? fs.last_us - tf : wallUs;
    notes.push(`flood: deliveries per WebSocket message ${f(deliveries / Math.max(1, fs.messages))}; TCP buffer pages peak ${tcpMemPeak} (tcp_mem ${sysctlValue('net/ipv4/tcp_mem')}); load average ${loadAverage()}`);

    const values: RunResult['values'] = {
      connected,
      connectFailed: lost,
      connectsPerSec: (connected * 1e6) / setupUs,
      connectP50: connHist.percentile(0.5),
      connectP99: connHist.percentile(0.99),
      rssPerConn: (rss1 - rss0) / connected,
      kernelPerConn: (kg.total * perPair) / 1024,
      rssPerConnIdle: (rss2 - rss0) / connected,
      idleCpuPerConnSec: idle1.cpu / connected / idle1.secs,
      idleSysCpuPerConnSec: idle1.sys / connected / idle1.secs,
      steadyCpuPerConnSec: idle2.cpu / connected / idle2.secs,
      steadySysCpuPerConnSec: idle2.sys / connected / idle2.secs,
      pingsPerConn: idleStats ? idleStats.pings / connected : NaN,
      broadcastLastMs: median(singles.map((b) => b.lastMs)),
      broadcastP50: median(singles.map((b) => b.p50Ms)),
      broadcastP99: median(singles.map((b) => b.p99Ms)),
      deliveriesPerSec: floodUs > 0 ? (deliveries * 1e6) / floodUs : NaN,
      cpuPerDelivery: deliveries > 0 ? cpu / deliveries : NaN,
      cpuPerDeliveryRedis: deliveries > 0 ? (cpu + redisCpu) / deliveries : NaN,
      p50: fh.lat.percentile(0.5) / 1000,
      p99: fh.lat.percentile(0.99) / 1000,
      serverCpuPct: (cpu / wallUs) * 100,
      redisCpuPct: (redisCpu / wallUs) * 100,
      clientCpuPct: (clientCpu / wallUs) * 100,
      delivered: expected > 0 ? (deliveries / expected) * 100 : NaN,
    };
    const summary =
      `${connected}/${n} subscribed in ${f(setupUs / 1e6, 1)} s (${fmtCount(values.connectsPerSec)}/s, server CPU ${f(cpuConnect / connected, 0)} µs per connection); ` +
      `RSS ${f(values.rssPerConn)} KB/conn, kernel ${f(values.kernelPerConn)} KB/conn (both ends); idle ${f(values.idleCpuPerConnSec, 3)}/${f(values.steadyCpuPerConnSec, 3)} µs/conn/s; ` +
      `one publication: last delivery ${f(values.broadcastLastMs, 0)} ms, p50/p99 ${f(values.broadcastP50, 0)}/${f(values.broadcastP99, 0)} ms; ` +
      `flood ${fmtCount(deliveries)} deliveries = ${fmtCount(values.deliveriesPerSec)}/s, ${f(values.cpuPerDelivery, 3)} µs (+redis ${f(values.cpuPerDeliveryRedis, 3)}) per delivery`;
    return { kind, run, values, notes, summary };
  } finally {
    if (pub !== undefined) await pub.stop();
    if (group !== undefined) await group.stop();
    await server.stop();
  }
}
