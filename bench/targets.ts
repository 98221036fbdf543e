// Starting and stopping the servers under test (ServerKind in scenarios.ts).
//
// Every server runs as child processes on free ports on 127.0.0.1; a handle gives the
// ports the load client connects to, the port publications are posted to, and the pids
// whose CPU time and RSS count as "the server".

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { descendants } from './proc.js';
import type { ServerKind } from './scenarios.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
export const repoRoot = path.resolve(here, '../..');
const gyreBin = path.join(repoRoot, 'bin', 'gyre.js');

export const API_KEY = 'bench';
/** HS256 key of the token server kinds (bench/tokens.ts signs with it). */
export const TOKEN_SECRET = 'gyre-bench-hmac-secret-0123456789';
export const REDIS_ADDRESS = 'redis://127.0.0.1:6379';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// child process bookkeeping: everything we start is killed when we exit

const children = new Set<ChildProcess>();

export function track(cp: ChildProcess): void {
  children.add(cp);
  cp.once('exit', () => children.delete(cp));
}

export function killAllChildren(): void {
  for (const cp of children) {
    try { cp.kill('SIGKILL'); } catch { /* already gone */ }
  }
  children.clear();
}

export function waitExit(cp: ChildProcess, ms: number): Promise<boolean> {
  if (cp.exitCode !== null || cp.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    cp.once('exit', () => { clearTimeout(t); resolve(true); });
  });
}

export async function terminate(cp: ChildProcess): Promise<void> {
  if (cp.exitCode !== null || cp.signalCode !== null) return;
  cp.kill('SIGTERM');
  if (!(await waitExit(cp, 3000))) {
    cp.kill('SIGKILL');
    await waitExit(cp, 2000);
  }
}

function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address();
      const got = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(got));
    });
  });
}

/**
 * A port free on 127.0.0.1 now, below the ephemeral range when there is room: a port the
 * kernel picks from that range can be taken as the source port of any outgoing connection
 * on the machine before the server binds it (seen with busy neighbours and a multi-worker
 * Gyre that needs seconds to start listening).
 */
export async function freePort(): Promise<number> {
  const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  for (let i = 0; low > 12_000 && i < 50; i++) {
    const port = await tryListen(10_000 + Math.floor(Math.random() * (low - 10_000)));
    if (port !== undefined) return port;
  }
  const port = await tryListen(0);
  if (port === undefined) throw new Error('no free port');
  return port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => { s.destroy(); resolve(false); });
  });
}

/** A short excerpt of process output: the first error line if any, else the end. */
export function tail(s: string, n = 400): string {
  const lines = s.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  if (lines.length === 0) return '(no output)';
  const err = lines.find((l) => /^(\w*Error\b|error\b)/i.test(l) || /"level":\s*(50|60)/.test(l));
  const t = err ?? lines.slice(-5).join(' | ');
  return t.length > n ? `${t.slice(0, n)}…` : t;
}

// ---------------------------------------------------------------------------
// servers

export interface ServerHandle {
  kind: ServerKind;
  /** Ports the load client spreads its connections over (connection i -> ports[i mod n]). */
  ports: number[];
  /** Port of the HTTP publish endpoint. */
  apiPort: number;
  /** Socket.IO speaks its own protocol to the load client. */
  clientProtocol: 'centrifugo' | 'socketio';
  /** Every process that counts as the server (resolved after start; cluster workers included). */
  pids(): number[];
  /** Uses the Redis engine (its CPU is shown separately). */
  redis: boolean;
  /**
   * How the load client's connections authenticate: `none` (insecure mode), `token` (an HS256
   * JWT per connection in the connect command; `subToken` adds one per subscribe), `proxy`
   * (no token: the connect proxy asks the backend, which reads the `sid` cookie).
   */
  auth: 'none' | 'token' | 'proxy';
  subToken: boolean;
  /** The proxy backend process (its CPU is shown separately, not counted as the server's). */
  backendPid: number | undefined;
  output(): string;
  stop(): Promise<void>;
}

interface Proc {
  child: ChildProcess;
  output(): string;
}

function startProcess(args: string[], env: NodeJS.ProcessEnv = process.env): Proc {
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'], env });
  track(child);
  child.stdin?.on('error', () => { /* server gone */ });
  let out = '';
  const log = process.env.BENCH_SERVER_LOG;
  const keep = (c: Buffer): void => {
    out = (out + c.toString('utf8')).slice(-4000);
    // BENCH_SERVER_LOG=path keeps every server's whole output (e.g. with --trace-gc).
    if (log) appendFileSync(log, c);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, output: () => out.trim() };
}

async function waitListening(kind: string, proc: Proc, port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = proc.child;
    if (c.exitCode !== null || c.signalCode !== null) {
      throw new Error(`${kind} exited during startup (code ${c.exitCode ?? c.signalCode}): ${tail(proc.output())}`);
    }
    if (await canConnect(port)) return;
    if (Date.now() > deadline) {
      await terminate(c);
      throw new Error(`${kind} did not accept connections on port ${port} within ${timeoutMs / 1000} s: ${tail(proc.output())}`);
    }
    await sleep(100);
  }
}

/** Where the uws kind's package is installed (bench/uws/package.json pins it; never the root package). */
const uwsDir = path.join(repoRoot, 'bench', 'uws');
let uwsInstall: string | undefined;

/**
 * Installs uWebSockets.js under bench/uws (`npm ci --prefix bench/uws`) unless it is there
 * already; returns undefined when it can be loaded, else why not. Tried once per bench run.
 */
function ensureUws(): string | undefined {
  if (existsSync(path.join(uwsDir, 'node_modules', 'uwebsockets', 'package.json'))) return undefined;
  if (uwsInstall !== undefined) return uwsInstall;
  console.log('  installing uWebSockets.js for the uws server: npm ci --prefix bench/uws');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['ci', '--prefix', uwsDir, '--no-audit', '--no-fund'], { cwd: repoRoot, encoding: 'utf8', timeout: 300_000 });
  if (r.status === 0 && existsSync(path.join(uwsDir, 'node_modules', 'uwebsockets', 'package.json'))) return undefined;
  uwsInstall = `npm ci --prefix bench/uws failed (${r.error?.message ?? `exit ${r.status}`}): ${tail(`${r.stdout ?? ''}\n${r.stderr ?? ''}`)}`;
  return uwsInstall;
}

let redisPrefixSeq = 0;

/** Proxy timeout of the proxy kinds (BENCH_PROXY_TIMEOUT, default 10s). */
const PROXY_TIMEOUT = process.env.BENCH_PROXY_TIMEOUT ?? '10s';

function gyreConfig(kind: ServerKind, port: number, redisPrefix: string, backendUrl?: string): object {
  const config: Record<string, unknown> = {
    client: { insecure: true },
    http_api: { key: API_KEY },
    http_server: { address: '127.0.0.1', port },
    log: { level: 'error' },
  };
  if (kind === 'gyre-history') {
    config.channel = { without_namespace: { history_size: 100, history_ttl: '300s', force_recovery: true } };
  }
  if (kind === 'gyre-delta') {
    config.channel = {
      without_namespace: { history_size: 100, history_ttl: '300s', force_recovery: true, allowed_delta_types: ['fossil'], delta_publish: true },
    };
  }
  if (kind === 'gyre-token' || kind === 'gyre-token-sub') {
    config.client = { token: { hmac_secret_key: TOKEN_SECRET } };
    config.channel = { namespaces: [{ name: 'px', allow_subscribe_for_client: true }] };
  }
  if ((kind === 'gyre-proxy' || kind === 'gyre-proxy-sub') && backendUrl !== undefined) {
    // The pool, keep-alive and headers are the defaults; the timeout is raised from 1 s
    // because a storm queues every connect at once (see bench/README.md).
    config.client = {
      proxy: { connect: { enabled: true, endpoint: `${backendUrl}/connect`, timeout: PROXY_TIMEOUT, http_headers: ['Cookie'] } },
    };
    config.channel =
      kind === 'gyre-proxy-sub'
        ? {
            proxy: { subscribe: { endpoint: `${backendUrl}/subscribe`, timeout: PROXY_TIMEOUT, http_headers: ['Cookie'] } },
            namespaces: [{ name: 'px', subscribe_proxy_enabled: true }],
          }
        : { namespaces: [{ name: 'px', allow_subscribe_for_client: true }] };
  }
  if (kind === 'gyre-workers') config.health = { enabled: true };
  if (kind === 'gyre-redis' || kind === 'gyre-redis-2node' || kind === 'gyre-workers') {
    config.engine = { type: 'redis', redis: { address: [REDIS_ADDRESS], prefix: redisPrefix } };
  }
  return config;
}

/** Node flags for Gyre processes, e.g. BENCH_GYRE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
function gyreNodeArgs(): string[] {
  return (process.env.BENCH_GYRE_NODE_ARGS ?? '').split(' ').filter(Boolean);
}

/** Number of Gyre workers for gyre-workers (BENCH_WORKERS; else the scenario's count; else one per CPU). */
export function workerCount(cpus: number, scenarioWorkers?: number): number {
  const n = Number(process.env.BENCH_WORKERS ?? '');
  if (Number.isFinite(n) && n >= 1) return Math.floor(n);
  return scenarioWorkers !== undefined && scenarioWorkers >= 1 ? scenarioWorkers : Math.max(2, cpus);
}

/**
 * The multi-process Gyre of gyre-workers (one port shared by N Gyre processes on the Redis
 * engine), the only place that names its launcher: the command line after `node [flags]`,
 * and how to tell that every worker listens (from the launcher's output so far, or by
 * asking the port). Its workers must be children of the launched process (their CPU and
 * RSS count as the server's).
 */
const CLUSTER = {
  args: (configFile: string, workers: number): string[] => [gyreBin, '--config', configFile, '--workers', String(workers)],
  /** The supervisor's /health answers 200 once every worker is up (503 before). */
  allListening: async (_output: string, port: number): Promise<boolean> => {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) });
      const body = (await res.json()) as { workers?: { up: number; total: number } };
      return res.status === 200 && body.workers !== undefined && body.workers.up === body.workers.total;
    } catch {
      return false;
    }
  },
};

export interface StartOptions {
  /** gyre-workers: the scenario's worker count (BENCH_WORKERS overrides it). */
  workers?: number;
}

export async function startServer(kind: ServerKind, dir: string, cpus: number, opts: StartOptions = {}): Promise<ServerHandle> {
  const procs: Proc[] = [];
  const ports: number[] = [];
  let clientProtocol: ServerHandle['clientProtocol'] = 'centrifugo';
  const redisPrefix = `gyre-bench-${process.pid}-${++redisPrefixSeq}`;
  const redis = kind === 'gyre-redis' || kind === 'gyre-redis-2node' || kind === 'gyre-workers';
  let pidsOf: () => number[] = () => procs.map((p) => p.child.pid ?? -1);
  let auth: ServerHandle['auth'] = 'none';
  let backend: Proc | undefined;

  const launch = async (args: string[], port: number, env?: NodeJS.ProcessEnv, timeoutMs?: number): Promise<void> => {
    const proc = startProcess(args, env);
    procs.push(proc);
    ports.push(port);
    await waitListening(kind, proc, port, timeoutMs);
  };

  try {
    switch (kind) {
      case 'reference':
      case 'plain-ws':
      case 'socketio': {
        const script = path.join(here, `${kind === 'reference' ? 'reference-server' : kind === 'plain-ws' ? 'plain-ws-server' : 'socketio-server'}.js`);
        const port = await freePort();
        await launch([script, '--port', String(port), '--watch-stdin'], port);
        if (kind === 'socketio') clientProtocol = 'socketio';
        break;
      }
      case 'uws': {
        const missing = ensureUws();
        if (missing !== undefined) throw new Error(`uws not available, skipped: ${missing}`);
        const port = await freePort();
        await launch([path.join(here, 'uws-server.js'), '--port', String(port), '--watch-stdin'], port);
        break;
      }
      case 'gyre':
      case 'gyre-base':
      case 'gyre-history':
      case 'gyre-delta':
      case 'gyre-redis':
      case 'gyre-redis-2node': {
        const nodes = kind === 'gyre-redis-2node' ? 2 : 1;
        let bin = gyreBin;
        if (kind === 'gyre-base') {
          const base = process.env.BENCH_GYRE_BASE;
          if (!base) throw new Error('gyre-base exited during startup: set BENCH_GYRE_BASE to a built Gyre checkout');
          bin = path.resolve(base, 'bin', 'gyre.js');
        }
        for (let i = 0; i < nodes; i++) {
          const port = await freePort();
          const file = path.join(dir, `gyre-${port}.json`);
          writeFileSync(file, JSON.stringify(gyreConfig(kind, port, redisPrefix), null, 2));
          await launch([...gyreNodeArgs(), bin, '--config', file], port);
        }
        break;
      }
      case 'gyre-token':
      case 'gyre-token-sub':
      case 'gyre-proxy':
      case 'gyre-proxy-sub': {
        let backendUrl: string | undefined;
        if (kind === 'gyre-proxy' || kind === 'gyre-proxy-sub') {
          auth = 'proxy';
          const bport = await freePort();
          const backendArgs = (process.env.BENCH_BACKEND_NODE_ARGS ?? '').split(' ').filter(Boolean);
          backend = startProcess([...backendArgs, path.join(here, 'proxy-backend.js'), '--port', String(bport), '--watch-stdin']);
          await waitListening(`${kind} backend`, backend, bport);
          backendUrl = `http://127.0.0.1:${bport}`;
        } else {
          auth = 'token';
        }
        const port = await freePort();
        const file = path.join(dir, `gyre-${port}.json`);
        writeFileSync(file, JSON.stringify(gyreConfig(kind, port, redisPrefix, backendUrl), null, 2));
        await launch([...gyreNodeArgs(), gyreBin, '--config', file], port);
        break;
      }
      case 'gyre-workers': {
        const port = await freePort();
        const file = path.join(dir, `gyre-${port}.json`);
        writeFileSync(file, JSON.stringify(gyreConfig(kind, port, redisPrefix), null, 2));
        const want = workerCount(cpus, opts.workers);
        // Every worker loads Gyre at once: on a busy machine that takes a while.
        await launch([...gyreNodeArgs(), ...CLUSTER.args(file, want)], port, undefined, 20_000 + want * 5000);
        const primary = procs[0]!.child.pid ?? -1;
        // The port accepts as soon as the first worker listens; connections made before the
        // others listen would all go to the first ones.
        const deadline = Date.now() + 20_000 + want * 5000;
        // (the same allowance again once the first worker listens)
        while (!(await CLUSTER.allListening(procs[0]!.output(), port))) {
          if (Date.now() > deadline) throw new Error(`gyre-workers did not accept connections: ${want} workers not listening: ${tail(procs[0]!.output())}`);
          await sleep(100);
        }
        await sleep(500);
        const all = [primary, ...descendants(primary)];
        if (all.length < want + 1) throw new Error(`gyre-workers exited during startup: ${all.length - 1} of ${want} workers`);
        pidsOf = () => all;
        break;
      }
    }
  } catch (err) {
    for (const p of procs) await terminate(p.child);
    if (backend) await terminate(backend.child);
    throw err;
  }

  return {
    kind,
    ports,
    apiPort: ports[0]!,
    clientProtocol,
    redis,
    auth,
    subToken: kind === 'gyre-token-sub',
    backendPid: backend?.child.pid,
    pids: () => pidsOf(),
    output: () => [...procs, ...(backend ? [backend] : [])].map((p) => p.output()).join('\n'),
    stop: async () => {
      await Promise.all(procs.map((p) => terminate(p.child)));
      if (backend) await terminate(backend.child);
    },
  };
}
