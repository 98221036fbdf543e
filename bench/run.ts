// Fan-out benchmark orchestrator: `npm run bench [-- options]`.
//
// For each run and each server under test it starts the server as a child
// process, connects N subscribed WebSocket clients with the C load client
// (bench/loadclient.c, compiled at start), publishes over HTTP, and measures:
//   - server CPU time per delivery, from /proc/<pid>/stat over the window
//   - deliveries per second (first publish -> last delivery)
//   - delivery latency percentiles (publish timestamp embedded in the payload)
//   - server RSS per idle subscribed connection
//   - CPU use of the load client and of this publisher process
// and prints per-run lines plus a table of medians with the ratio Gyre/reference.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ephemeralPorts, fdLimits, loadAverage, processCpuUs, processRssKb } from './proc.js';
import { findScenario, listScenarios, type Scenario } from './scenarios.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const repoRoot = path.resolve(here, '../..');
const clientSource = path.join(repoRoot, 'bench', 'loadclient.c');
const referenceScript = path.join(here, 'reference-server.js');
const gyreBin = path.join(repoRoot, 'bin', 'gyre.js');

const API_KEY = 'bench';
const CHANNEL = 'bench';

type ServerKind = 'reference' | 'gyre';

interface Options {
  scenario: Scenario;
  servers: ServerKind[];
  runs: number;
  clientThreads: number;
  maxPending: number;
  verbose: boolean;
}

// ---------------------------------------------------------------------------
// small utilities

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

function fmt(n: number, digits = 2): string {
  if (!Number.isFinite(n)) return 'n/a';
  return n.toFixed(digits);
}

function fmtCount(n: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => { s.destroy(); resolve(false); });
  });
}

// ---------------------------------------------------------------------------
// child process bookkeeping: everything we start is killed when we exit

const children = new Set<ChildProcess>();
let tmpDir: string | undefined;

function track(cp: ChildProcess): void {
  children.add(cp);
  cp.once('exit', () => children.delete(cp));
}

function killAll(): void {
  for (const cp of children) {
    try { cp.kill('SIGKILL'); } catch { /* already gone */ }
  }
  children.clear();
  if (tmpDir !== undefined) {
    try { rmSync(tmpDir, { recursive: true, force: true }); } catch { /* ignore */ }
    tmpDir = undefined;
  }
}

process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

function waitExit(cp: ChildProcess, ms: number): Promise<boolean> {
  if (cp.exitCode !== null || cp.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    cp.once('exit', () => { clearTimeout(t); resolve(true); });
  });
}

async function terminate(cp: ChildProcess): Promise<void> {
  if (cp.exitCode !== null || cp.signalCode !== null) return;
  cp.kill('SIGTERM');
  if (!(await waitExit(cp, 3000))) {
    cp.kill('SIGKILL');
    await waitExit(cp, 2000);
  }
}

// ---------------------------------------------------------------------------
// servers under test

interface ServerHandle {
  kind: ServerKind;
  pid: number;
  port: number;
  child: ChildProcess;
  output(): string;
}

async function startServer(kind: ServerKind, dir: string): Promise<ServerHandle> {
  const port = await freePort();
  let args: string[];
  if (kind === 'reference') {
    args = [referenceScript, '--port', String(port), '--watch-stdin'];
  } else {
    const config = {
      client: { insecure: true },
      http_api: { key: API_KEY },
      http_server: { address: '127.0.0.1', port },
      log: { level: 'error' },
    };
    const file = path.join(dir, `gyre-${port}.json`);
    writeFileSync(file, JSON.stringify(config, null, 2));
    // BENCH_GYRE_NODE_ARGS adds Node flags for profiling, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    const nodeArgs = (process.env.BENCH_GYRE_NODE_ARGS ?? '').split(' ').filter(Boolean);
    args = [...nodeArgs, gyreBin, '--config', file];
  }
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    stdio: [kind === 'reference' ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  track(child);
  child.stdin?.on('error', () => { /* server gone */ });
  let out = '';
  const keep = (c: Buffer): void => { out = (out + c.toString('utf8')).slice(-4000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const handle: ServerHandle = { kind, pid: child.pid ?? -1, port, child, output: () => out.trim() };

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${kind} exited during startup (code ${child.exitCode ?? child.signalCode}): ${tail(handle.output())}`);
    }
    if (await canConnect(port)) return handle;
    if (Date.now() > deadline) {
      await terminate(child);
      throw new Error(`${kind} did not accept connections on port ${port} within 20 s: ${tail(handle.output())}`);
    }
    await sleep(100);
  }
}

/** A short excerpt of process output: the first error line if any, else the end. */
function tail(s: string, n = 400): string {
  const lines = s.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  if (lines.length === 0) return '(no output)';
  const err = lines.find((l) => /^(\w*Error\b|error\b)/i.test(l) || /"level":\s*(50|60)/.test(l));
  const t = err ?? lines.slice(-5).join(' | ');
  return t.length > n ? `${t.slice(0, n)}…` : t;
}

// ---------------------------------------------------------------------------
// load client (C, receiving side)

function compileClient(dir: string): string {
  const out = path.join(dir, 'loadclient');
  try {
    execFileSync('gcc', ['-O2', '-pthread', '-o', out, clientSource], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`compiling ${clientSource} failed: ${e.stderr?.toString() ?? e.message}`);
  }
  return out;
}

interface ClientStats {
  received: number;
  samples: number;
  first_us: number;
  last_us: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
  mean_us: number;
  ready: number;
  failed: number;
  closed: number;
  pings: number;
  order_errors: number;
  write_errors: number;
  other_msgs: number;
  close_code: number;
  error: string;
}

interface Line { tag: string; data: ClientStats | undefined }

class LoadClient {
  readonly child: ChildProcess;
  private queue: Line[] = [];
  private waiters: Array<{ tags: string[]; resolve: (l: Line | undefined) => void; timer: NodeJS.Timeout }> = [];
  private errText = '';

  constructor(bin: string, args: string[]) {
    this.child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    track(this.child);
    this.child.stderr!.on('data', (c: Buffer) => { this.errText = (this.errText + c.toString()).slice(-2000); });
    const rl = createInterface({ input: this.child.stdout! });
    rl.on('line', (raw) => this.onLine(raw));
    this.child.stdin!.on('error', () => { /* client gone; reported via timeouts */ });
  }

  get pid(): number { return this.child.pid ?? -1; }
  get stderr(): string { return this.errText; }

  private onLine(raw: string): void {
    const sp = raw.indexOf(' ');
    const tag = sp < 0 ? raw : raw.slice(0, sp);
    let data: ClientStats | undefined;
    if (sp >= 0) {
      try { data = JSON.parse(raw.slice(sp + 1)) as ClientStats; } catch { data = undefined; }
    }
    const line: Line = { tag, data };
    const i = this.waiters.findIndex((w) => w.tags.includes(tag));
    if (i >= 0) {
      const w = this.waiters.splice(i, 1)[0]!;
      clearTimeout(w.timer);
      w.resolve(line);
    } else {
      this.queue.push(line);
    }
  }

  next(tags: string[], timeoutMs: number): Promise<Line | undefined> {
    const i = this.queue.findIndex((l) => tags.includes(l.tag));
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
    return new Promise((resolve) => {
      const waiter = {
        tags,
        resolve,
        timer: setTimeout(() => {
          const k = this.waiters.indexOf(waiter);
          if (k >= 0) this.waiters.splice(k, 1);
          resolve(undefined);
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  drop(tag: string): void {
    this.queue = this.queue.filter((l) => l.tag !== tag);
  }

  send(cmd: string): void {
    if (this.child.stdin!.writable) this.child.stdin!.write(`${cmd}\n`);
  }

  async stop(): Promise<void> {
    this.send('QUIT');
    this.child.stdin!.end();
    if (!(await waitExit(this.child, 3000))) {
      this.child.kill('SIGKILL');
      await waitExit(this.child, 2000);
    }
  }
}

// ---------------------------------------------------------------------------
// publisher (this process, HTTP keep-alive)

class Publisher {
  private readonly agent: http.Agent;
  private readonly pad: string;
  errors = 0;
  firstError = '';

  constructor(private readonly port: number, payloadBytes: number, inflight: number) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: inflight, maxFreeSockets: inflight });
    // Base data is {"t":<16 digits>,"s":<n>} (~30 bytes); pad the rest.
    const padLen = Math.max(0, payloadBytes - 38);
    this.pad = padLen > 0 ? `,"p":"${'x'.repeat(padLen)}"` : '';
  }

  publish(seq: number): Promise<void> {
    return new Promise((resolve) => {
      const body = `{"channel":"${CHANNEL}","data":{"t":${nowUs()},"s":${seq}${this.pad}}}`;
      const req = http.request({
        host: '127.0.0.1',
        port: this.port,
        path: '/api/publish',
        method: 'POST',
        agent: this.agent,
        headers: {
          'Content-Type': 'application/json',
          'X-API-Key': API_KEY,
          'Content-Length': Buffer.byteLength(body),
        },
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { text += c; });
        res.on('end', () => {
          if (res.statusCode !== 200 || text.includes('"error"')) this.fail(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
          resolve();
        });
        res.on('error', (e) => { this.fail(e.message); resolve(); });
      });
      req.on('error', (e) => { this.fail(e.message); resolve(); });
      req.end(body);
    });
  }

  private fail(msg: string): void {
    this.errors++;
    if (this.firstError === '') this.firstError = msg;
  }

  close(): void {
    this.agent.destroy();
  }
}

async function publishFlood(pub: Publisher, firstSeq: number, count: number, inflight: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const seq = firstSeq + next++;
      await pub.publish(seq);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(inflight, count)) }, worker));
}

async function publishPaced(pub: Publisher, firstSeq: number, count: number, rate: number, inflight: number): Promise<void> {
  const start = nowUs();
  const intervalUs = 1e6 / rate;
  const pending = new Set<Promise<void>>();
  for (let i = 0; i < count; i++) {
    const wait = start + i * intervalUs - nowUs();
    if (wait > 1000) await sleep(Math.floor(wait / 1000));
    while (pending.size >= inflight) await Promise.race(pending);
    const p: Promise<void> = pub.publish(firstSeq + i).then(() => { pending.delete(p); });
    pending.add(p);
  }
  await Promise.all(pending);
}

async function publish(pub: Publisher, sc: Scenario, firstSeq: number, count: number): Promise<void> {
  if (sc.mode === 'rate' && sc.rate > 0) await publishPaced(pub, firstSeq, count, sc.rate, sc.inflight);
  else await publishFlood(pub, firstSeq, count, sc.inflight);
}

/** Waits for DONE; gives up when deliveries stall for stallMs or after hardMs. */
async function waitDelivery(client: LoadClient, stallMs: number, hardMs: number): Promise<{ stats: ClientStats | undefined; complete: boolean }> {
  const start = Date.now();
  let last = -1;
  let lastChange = Date.now();
  let latest: ClientStats | undefined;
  for (;;) {
    const done = await client.next(['DONE'], 1000);
    if (done !== undefined) return { stats: done.data, complete: true };
    client.drop('STATS');
    client.send('REPORT');
    const s = await client.next(['STATS', 'DONE'], 3000);
    if (s?.tag === 'DONE') return { stats: s.data, complete: true };
    if (s?.data !== undefined) {
      latest = s.data;
      if (s.data.received !== last) {
        last = s.data.received;
        lastChange = Date.now();
      }
    }
    if (Date.now() - lastChange > stallMs || Date.now() - start > hardMs) return { stats: latest, complete: false };
  }
}

// ---------------------------------------------------------------------------
// one measured run

interface RunResult {
  kind: ServerKind;
  run: number;
  subscribed: number;
  failed: number;
  expected: number;
  deliveries: number;
  complete: boolean;
  cpuPerDeliveryUs: number;
  deliveriesPerSec: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  rssPerConnKb: number;
  serverCpuPct: number;
  clientCpuPct: number;
  publisherCpuPct: number;
  windowMs: number;
  notes: string[];
}

async function runOnce(kind: ServerKind, opts: Options, run: number, clientBin: string, dir: string): Promise<RunResult> {
  const sc = opts.scenario;
  const server = await startServer(kind, dir);
  const notes: string[] = [];
  try {
    await sleep(500);
    const rssBefore = processRssKb(server.pid);
    const client = new LoadClient(clientBin, [
      '--port', String(server.port),
      '--path', '/connection/websocket',
      '--conns', String(sc.connections),
      '--threads', String(opts.clientThreads),
      '--maxpending', String(opts.maxPending),
      '--setup-timeout', '120',
    ]);
    try {
      const ready = await client.next(['READY'], 130_000);
      if (ready?.data === undefined) throw new Error(`load client did not become ready: ${tail(client.stderr)}`);
      const subscribed = ready.data.ready;
      const failed = ready.data.failed;
      if (subscribed === 0) throw new Error(`no connection subscribed: ${ready.data.error || 'unknown error'}; server output: ${tail(server.output())}`);
      if (failed > 0) notes.push(`${failed} connections failed (${ready.data.error})`);
      await sleep(1000);
      const rssAfter = processRssKb(server.pid);
      const rssPerConnKb = (rssAfter - rssBefore) / subscribed;

      const pub = new Publisher(server.port, sc.payloadBytes, sc.inflight);
      try {
        let seq = 0;
        let alive = subscribed;
        if (sc.warmupMessages > 0) {
          client.send(`EXPECT ${alive * sc.warmupMessages}`);
          await publishFlood(pub, seq, sc.warmupMessages, sc.inflight);
          seq += sc.warmupMessages;
          const w = await waitDelivery(client, 3000, 30_000);
          if (!w.complete) notes.push(`warm-up incomplete (${w.stats?.received ?? 0}/${alive * sc.warmupMessages})`);
          alive -= w.stats?.closed ?? 0;
          client.drop('DONE');
          client.send('RESET');
          if ((await client.next(['RESET_OK'], 5000)) === undefined) throw new Error('load client did not reset');
        }
        if (pub.errors > 0) throw new Error(`publish failed: ${pub.firstError}`);

        const expected = alive * sc.messages;
        client.send(`EXPECT ${expected}`);
        const serverCpu0 = processCpuUs(server.pid);
        const clientCpu0 = processCpuUs(client.pid);
        const pubCpu0 = process.cpuUsage();
        const t0 = nowUs();

        await publish(pub, sc, seq, sc.messages);
        const pubMs = (nowUs() - t0) / 1000;
        const { stats, complete } = await waitDelivery(client, 3000, Math.max(30_000, pubMs * 5));

        const t1 = nowUs();
        const serverCpu = processCpuUs(server.pid) - serverCpu0;
        const clientCpu = processCpuUs(client.pid) - clientCpu0;
        const pubCpuUsage = process.cpuUsage(pubCpu0);
        const wallUs = t1 - t0;
        if (stats === undefined) throw new Error('no statistics from load client');
        if (pub.errors > 0) notes.push(`${pub.errors} publish errors (${pub.firstError})`);
        if (!complete) notes.push(`incomplete: ${stats.received}/${expected} delivered`);
        if (stats.closed > 0) notes.push(`${stats.closed} connections closed during the window (close code ${stats.close_code}${stats.error ? `, ${stats.error}` : ''})`);
        if (opts.verbose) {
          notes.push(`pings ${stats.pings}, out-of-order ${stats.order_errors} (expected when inflight > 1), other ${stats.other_msgs}, p99.9 ${fmt(stats.p999_us / 1000)} ms, max ${fmt(stats.max_us / 1000)} ms, RSS ${rssBefore}→${rssAfter} KB`);
        }
        const deliveries = stats.received;
        const windowUs = stats.last_us > 0 ? stats.last_us - t0 : wallUs;
        return {
          kind,
          run,
          subscribed,
          failed,
          expected,
          deliveries,
          complete,
          cpuPerDeliveryUs: deliveries > 0 ? serverCpu / deliveries : NaN,
          deliveriesPerSec: windowUs > 0 ? (deliveries * 1e6) / windowUs : NaN,
          p50Ms: stats.p50_us / 1000,
          p90Ms: stats.p90_us / 1000,
          p99Ms: stats.p99_us / 1000,
          rssPerConnKb,
          serverCpuPct: (serverCpu / wallUs) * 100,
          clientCpuPct: (clientCpu / wallUs) * 100,
          publisherCpuPct: ((pubCpuUsage.user + pubCpuUsage.system) / wallUs) * 100,
          windowMs: windowUs / 1000,
          notes,
        };
      } finally {
        pub.close();
      }
    } finally {
      await client.stop();
    }
  } finally {
    await terminate(server.child);
  }
}

// ---------------------------------------------------------------------------
// reporting

interface Metric {
  label: string;
  get: (r: RunResult) => number;
  digits: number;
  count?: boolean;
}

const METRICS: Metric[] = [
  { label: 'server CPU per delivery (µs)', get: (r) => r.cpuPerDeliveryUs, digits: 3 },
  { label: 'deliveries/s', get: (r) => r.deliveriesPerSec, digits: 0, count: true },
  { label: 'latency p50 (ms)', get: (r) => r.p50Ms, digits: 2 },
  { label: 'latency p90 (ms)', get: (r) => r.p90Ms, digits: 2 },
  { label: 'latency p99 (ms)', get: (r) => r.p99Ms, digits: 2 },
  { label: 'server RSS per connection (KB)', get: (r) => r.rssPerConnKb, digits: 2 },
  { label: 'server CPU (% of one core)', get: (r) => r.serverCpuPct, digits: 0 },
  { label: 'load client CPU (% of one core)', get: (r) => r.clientCpuPct, digits: 0 },
  { label: 'publisher CPU (% of one core)', get: (r) => r.publisherCpuPct, digits: 0 },
  { label: 'delivered (%)', get: (r) => (r.expected > 0 ? (r.deliveries / r.expected) * 100 : NaN), digits: 1 },
];

function describeRun(r: RunResult, totalRuns: number): string {
  const lines = [
    `  [run ${r.run}/${totalRuns}] ${r.kind.padEnd(9)} ${fmtCount(r.deliveries)} deliveries in ${fmt(r.windowMs / 1000)} s = ${fmtCount(r.deliveriesPerSec)}/s; ` +
      `CPU ${fmt(r.cpuPerDeliveryUs, 3)} µs/delivery; latency p50/p90/p99 ${fmt(r.p50Ms)}/${fmt(r.p90Ms)}/${fmt(r.p99Ms)} ms; ` +
      `RSS ${fmt(r.rssPerConnKb)} KB/conn; CPU% server ${fmt(r.serverCpuPct, 0)} client ${fmt(r.clientCpuPct, 0)} publisher ${fmt(r.publisherCpuPct, 0)}`,
  ];
  for (const n of r.notes) lines.push(`      note: ${n}`);
  return lines.join('\n');
}

function printTable(opts: Options, results: RunResult[], errors: Map<ServerKind, string[]>): void {
  const kinds = opts.servers;
  const header = ['metric (median)', ...kinds];
  const showRatio = kinds.includes('gyre') && kinds.includes('reference');
  if (showRatio) header.push('gyre/reference');
  const rows: string[][] = [];
  for (const m of METRICS) {
    const meds = kinds.map((k) => median(results.filter((r) => r.kind === k).map(m.get)));
    const row = [m.label, ...meds.map((v) => (m.count ? fmtCount(v) : fmt(v, m.digits)))];
    if (showRatio) {
      const g = meds[kinds.indexOf('gyre')]!;
      const ref = meds[kinds.indexOf('reference')]!;
      row.push(Number.isFinite(g) && Number.isFinite(ref) && ref !== 0 ? `${fmt(g / ref, 2)}x` : 'n/a');
    }
    rows.push(row);
  }
  const runsRow = ['runs completed', ...kinds.map((k) => String(results.filter((r) => r.kind === k).length))];
  if (showRatio) runsRow.push('');
  rows.push(runsRow);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log('');
  console.log(`Results: scenario ${opts.scenario.name}, ${opts.scenario.connections} connections, ${opts.scenario.messages} publications per run, medians of ${opts.runs} run(s)`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  for (const [k, errs] of errors) {
    for (const e of errs) console.log(`${k}: run failed: ${e}`);
  }
}

// ---------------------------------------------------------------------------
// options

function usage(): string {
  const names = listScenarios().map((s) => `    ${s.name.padEnd(18)} ${s.description}`).join('\n');
  return `usage: npm run bench -- [options]
  --scenario NAME       scenario to run (default fanout-json)
  --server KIND         reference | gyre | both (default both)
  --connections N       subscribed connections (default from scenario, capped by fd limit)
  --messages N          publications in the measured window
  --warmup N            warm-up publications before the window
  --runs N              repetitions per server (default 3)
  --rate N              publications per second (switches to fixed-rate mode)
  --inflight N          concurrent publish requests
  --payload BYTES       approximate publication data size
  --client-threads N    load client threads (default 1)
  --max-pending N       concurrent connection attempts during setup (default 256)
  --verbose             extra per-run details
  --list                list scenarios
scenarios:
${names}`;
}

function parseOptions(argv: string[]): Options | undefined {
  const flags = new Map<string, string>();
  let verbose = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h' || a === '--list') {
      console.log(usage());
      return undefined;
    }
    if (a === '--verbose') { verbose = true; continue; }
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}\n${usage()}`);
    const eq = a.indexOf('=');
    if (eq > 0) { flags.set(a.slice(2, eq), a.slice(eq + 1)); continue; }
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`missing value for ${a}`);
    flags.set(a.slice(2), v);
    i++;
  }
  const num = (name: string): number | undefined => {
    const v = flags.get(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} needs a non-negative number`);
    return Math.floor(n);
  };
  const known = new Set(['scenario', 'server', 'connections', 'messages', 'warmup', 'runs', 'rate', 'inflight', 'payload', 'client-threads', 'max-pending']);
  for (const k of flags.keys()) if (!known.has(k)) throw new Error(`unknown option --${k}\n${usage()}`);

  const name = flags.get('scenario') ?? 'fanout-json';
  const base = findScenario(name);
  if (base === undefined) throw new Error(`unknown scenario ${name}\n${usage()}`);
  const sc: Scenario = { ...base };
  sc.connections = num('connections') ?? sc.connections;
  sc.messages = num('messages') ?? sc.messages;
  sc.warmupMessages = num('warmup') ?? sc.warmupMessages;
  sc.inflight = Math.max(1, num('inflight') ?? sc.inflight);
  sc.payloadBytes = num('payload') ?? sc.payloadBytes;
  const rate = num('rate');
  if (rate !== undefined && rate > 0) { sc.mode = 'rate'; sc.rate = rate; }
  if (sc.messages < 1) throw new Error('--messages must be at least 1');

  const server = flags.get('server') ?? 'both';
  let servers: ServerKind[];
  if (server === 'both') servers = ['reference', 'gyre'];
  else if (server === 'reference' || server === 'gyre') servers = [server];
  else throw new Error(`--server must be reference, gyre or both`);

  // Each process (server, load client) holds one descriptor per connection
  // plus a few; stay under the open-file limit and the ephemeral port range.
  const { soft, hard } = fdLimits();
  const fdCap = Math.min(soft, hard) - 256;
  const portCap = ephemeralPorts() - 1000;
  const cap = Math.max(1, Math.min(fdCap, portCap));
  if (sc.connections > cap) {
    console.log(`note: capping connections at ${cap} (open-file limit ${soft}/${hard}, ${ephemeralPorts()} ephemeral ports)`);
    sc.connections = cap;
  }
  if (sc.connections < 1) throw new Error('--connections must be at least 1');

  return {
    scenario: sc,
    servers,
    runs: Math.max(1, num('runs') ?? 3),
    clientThreads: Math.max(1, num('client-threads') ?? 1),
    maxPending: Math.max(1, num('max-pending') ?? 256),
    verbose,
  };
}

// ---------------------------------------------------------------------------

async function main(): Promise<number> {
  let opts: Options | undefined;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  if (opts === undefined) return 0;
  const sc = opts.scenario;

  tmpDir = mkdtempSync(path.join(os.tmpdir(), 'gyre-bench-'));
  const clientBin = compileClient(tmpDir);

  const shape = sc.mode === 'rate' ? `${sc.rate} publications/s` : `flood, ${sc.inflight} publish requests in flight`;
  console.log(`Gyre fan-out benchmark: scenario ${sc.name} (${sc.description})`);
  console.log(`  ${sc.connections} connections, ${sc.messages} publications (+${sc.warmupMessages} warm-up), ${shape}, payload ~${Math.max(sc.payloadBytes, 30)} B`);
  console.log(`  servers: ${opts.servers.join(', ')}; ${opts.runs} run(s); load client threads ${opts.clientThreads}; ${os.cpus().length} CPUs; load average ${loadAverage()}; node ${process.version}`);

  const results: RunResult[] = [];
  const errors = new Map<ServerKind, string[]>();
  const skip = new Set<ServerKind>();
  for (let run = 1; run <= opts.runs; run++) {
    for (const kind of opts.servers) {
      if (skip.has(kind)) continue;
      try {
        const r = await runOnce(kind, opts, run, clientBin, tmpDir);
        results.push(r);
        console.log(describeRun(r, opts.runs));
      } catch (err) {
        const msg = (err as Error).message;
        const list = errors.get(kind) ?? [];
        list.push(msg);
        errors.set(kind, list);
        console.log(`  [run ${run}/${opts.runs}] ${kind.padEnd(9)} FAILED: ${msg}`);
        // A server that cannot start will not start on the next run either.
        if (/exited during startup|did not accept connections/.test(msg)) skip.add(kind);
      }
    }
  }
  printTable(opts, results, errors);
  return results.length > 0 ? 0 : 1;
}

main().then(
  (code) => { killAll(); process.exit(code); },
  (err: unknown) => { console.error(err instanceof Error ? err.stack ?? err.message : String(err)); killAll(); process.exit(1); },
);
