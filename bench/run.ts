// Benchmark orchestrator: `npm run bench [-- options]`.
//
// Runs a set of scenarios (scenarios.ts); in each, every server under test is started
// fresh per run (runs interleave across servers so machine noise hits all of them),
// driven by the C load client (bench/loadclient.c, compiled at start) and measured from
// /proc (measure.ts). Prints per-run lines, then one table of medians and ratios with
// the targets of each scenario (report.ts).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compileClient } from './clients.js';
import { runScenarioOnce, type RunContext, type RunResult } from './measure.js';
import { ephemeralPorts, fdLimits, findProcess, loadAverage } from './proc.js';
import { medians, printTable, type ScenarioOutcome } from './report.js';
import { DEFAULT_SET, findScenario, listScenarios, type Scenario, type ServerKind } from './scenarios.js';
import { killAllChildren } from './targets.js';

interface Options {
  scenarios: Scenario[];
  serverFilter: Set<ServerKind> | undefined;
  runs: number | undefined;
  clientThreads: number;
  verbose: boolean;
  json: string | undefined;
}

let tmpDir: string | undefined;

function cleanup(): void {
  killAllChildren();
  if (tmpDir !== undefined) {
    try { rmSync(tmpDir, { recursive: true, force: true }); } catch { /* ignore */ }
    tmpDir = undefined;
  }
}

process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });
}

function usage(): string {
  const names = listScenarios()
    .map((s) => `    ${s.name.padEnd(20)} ${DEFAULT_SET.includes(s.name) ? '*' : ' '} ${s.description}`)
    .join('\n');
  return `usage: npm run bench -- [options]
  --scenario NAME[,NAME]  scenarios to run (default: the set marked *)
  --server KIND[,KIND]    run these servers instead of the scenario's (the first is the
                          subject of the ratios): gyre, reference, plain-ws, gyre-history,
                          gyre-redis, gyre-redis-2node, gyre-workers, socketio, gyre-base, uws,
                          gyre-token, gyre-token-sub, gyre-proxy, gyre-proxy-sub
  --runs N                runs per server (default: per scenario)
  --connections N         subscribed connections (capped by the fd limit)
  --messages N            publications in the measured window
  --warmup N              warm-up publications before the window
  --rate N                publications per second (switches to fixed-rate mode)
  --inflight N            concurrent publish requests
  --payload BYTES         approximate publication data size
  --idle-seconds N        idle window of idle scenarios (scale: each of its two windows)
  --client-threads N      load client threads (default 1)
  --max-pending N         concurrent connection attempts during setup
  --json PATH             also write every run and the medians as JSON
  --verbose               extra per-run details
  --list                  this text
environment: BENCH_GYRE_NODE_ARGS adds Node flags to Gyre processes (e.g. "--cpu-prof
  --cpu-prof-dir=/tmp/prof"); BENCH_WORKERS sets the worker count of gyre-workers;
  BENCH_GYRE_BASE=/path/to/other/checkout (built) is the Gyre run as gyre-base;
  BENCH_PROXY_TIMEOUT sets the proxy timeout of gyre-proxy* (default 10s);
  BENCH_BACKEND_NODE_ARGS adds Node flags to the proxy backend; BENCH_LAG_REPORT=1 makes
  each gyre-workers worker print event-loop delays above 1 s.
scenarios (* = default set):
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
  const known = new Set(['scenario', 'server', 'connections', 'messages', 'warmup', 'runs', 'rate', 'inflight', 'payload', 'client-threads', 'max-pending', 'idle-seconds', 'json']);
  for (const k of flags.keys()) if (!known.has(k)) throw new Error(`unknown option --${k}\n${usage()}`);

  // Each process (server, load client) holds one descriptor per connection plus a
  // few; stay under the open-file limit and the ephemeral port range.
  const { soft, hard } = fdLimits();
  const cap = Math.max(1, Math.min(Math.min(soft, hard) - 256, ephemeralPorts() - 1000));

  const names = (flags.get('scenario') ?? DEFAULT_SET.join(',')).split(',').filter(Boolean);
  const scenarios: Scenario[] = [];
  for (const name of names) {
    const base = findScenario(name);
    if (base === undefined) throw new Error(`unknown scenario ${name}\n${usage()}`);
    const sc: Scenario = { ...base };
    sc.connections = num('connections') ?? sc.connections;
    sc.messages = num('messages') ?? sc.messages;
    if (num('messages') !== undefined) sc.messagesBy = undefined;
    sc.warmupMessages = num('warmup') ?? sc.warmupMessages;
    sc.inflight = Math.max(1, num('inflight') ?? sc.inflight);
    sc.payloadBytes = num('payload') ?? sc.payloadBytes;
    sc.maxPending = Math.max(1, num('max-pending') ?? sc.maxPending);
    const idle = num('idle-seconds');
    if (idle !== undefined) {
      sc.idleSeconds = idle;
      sc.idleSecondsBy = undefined;
      if (sc.kind === 'scale') sc.steadySeconds = idle;
    }
    const rate = num('rate');
    if (rate !== undefined && rate > 0) { sc.mode = 'rate'; sc.rate = rate; }
    if (sc.messages < 1) throw new Error('--messages must be at least 1');
    // The scale kind spreads its connections over several server and client processes
    // and checks the per-process limits itself.
    if (sc.kind !== 'scale' && sc.connections > cap) {
      console.log(`note: ${sc.name}: capping connections at ${cap} (open-file limit ${soft}/${hard}, ${ephemeralPorts()} ephemeral ports)`);
      sc.connections = cap;
    }
    if (sc.connections < 1) throw new Error('--connections must be at least 1');
    scenarios.push(sc);
  }
  const server = flags.get('server');
  const kinds: ServerKind[] = ['gyre', 'gyre-base', 'gyre-history', 'gyre-delta', 'gyre-redis', 'gyre-redis-2node', 'gyre-workers', 'reference', 'plain-ws', 'uws', 'socketio', 'gyre-token', 'gyre-token-sub', 'gyre-proxy', 'gyre-proxy-sub'];
  const serverFilter = server === undefined ? undefined : new Set(server.split(',').filter(Boolean) as ServerKind[]);
  for (const k of serverFilter ?? []) if (!kinds.includes(k)) throw new Error(`unknown server ${k}; one of ${kinds.join(', ')}`);
  const runs = num('runs');
  return {
    scenarios,
    serverFilter,
    runs: runs !== undefined ? Math.max(1, runs) : undefined,
    clientThreads: Math.max(1, num('client-threads') ?? 1),
    verbose,
    json: flags.get('json'),
  };
}

function describe(sc: Scenario): string {
  const load =
    sc.kind === 'fanout'
      ? `${sc.channels > 1 ? `${sc.channels} channels, ` : ''}${sc.messages} publications (+${sc.warmupMessages} warm-up), ${sc.mode === 'rate' ? `${sc.rate}/s` : `flood, ${sc.inflight} in flight`}, ${sc.protocol}`
      : sc.kind === 'idle'
        ? `${sc.idleSeconds} s idle`
        : sc.kind === 'storm'
          ? `${sc.maxPending} connection attempts in flight`
          : sc.kind === 'scale'
            ? `${sc.maxPending} connection attempts in flight; ${sc.idleSeconds} + ${sc.steadySeconds ?? 0} s idle; ${sc.singlePublications ?? 0} single publications; flood of ${sc.messages} (+${sc.warmupMessages} warm-up), ${sc.inflight} in flight, ${sc.protocol}`
            : `${sc.messages} publish requests (+${sc.warmupMessages} warm-up), ${sc.inflight} keep-alive connections`;
  return `${sc.name}: ${sc.description}\n  ${sc.connections} connection(s); ${load}`;
}

async function main(): Promise<number> {
  let opts: Options | undefined;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  if (opts === undefined) return 0;

  tmpDir = mkdtempSync(path.join(os.tmpdir(), 'gyre-bench-'));
  const ctx: RunContext = {
    clientBin: compileClient(tmpDir),
    dir: tmpDir,
    cpus: os.cpus().length,
    clientThreads: opts.clientThreads,
    verbose: opts.verbose,
    // The Redis the bench servers use (other redis-servers may run on spare ports).
    redisPid: findProcess('redis-server', ':6379'),
  };
  console.log(`Gyre benchmark: ${opts.scenarios.map((s) => s.name).join(', ')}; ${ctx.cpus} CPUs; load average ${loadAverage()}; node ${process.version}`);

  const outcomes: ScenarioOutcome[] = [];
  const started = Date.now();
  for (const sc of opts.scenarios) {
    // --server replaces the scenario's servers (in the order given; the first is the subject).
    const servers = opts.serverFilter === undefined ? sc.servers : [...opts.serverFilter];
    if (servers.length === 0) continue;
    const runs = opts.runs ?? sc.runs;
    console.log('');
    console.log(describe(sc));
    const outcome: ScenarioOutcome = { scenario: sc, servers, results: [], errors: new Map() };
    const skip = new Set<ServerKind>();
    for (let run = 1; run <= runs; run++) {
      for (const kind of servers) {
        if (skip.has(kind)) continue;
        try {
          const r: RunResult = await runScenarioOnce(sc, kind, run, ctx);
          outcome.results.push(r);
          console.log(`  [run ${run}/${runs}] ${kind.padEnd(16)} ${r.summary}`);
          for (const n of r.notes) console.log(`      note: ${n}`);
        } catch (err) {
          const msg = (err as Error).message;
          const list = outcome.errors.get(kind) ?? [];
          list.push(msg);
          outcome.errors.set(kind, list);
          console.log(`  [run ${run}/${runs}] ${kind.padEnd(16)} FAILED: ${msg}`);
          // A server that cannot start will not start on the next run either.
          if (/exited during startup|did not accept connections|not available/.test(msg)) skip.add(kind);
        }
      }
    }
    outcomes.push(outcome);
  }
  printTable(outcomes);
  console.log(`\ntotal time ${((Date.now() - started) / 1000).toFixed(0)} s; load average ${loadAverage()}`);
  if (opts.json !== undefined) {
    const data = outcomes.map((o) => ({
      scenario: o.scenario,
      medians: Object.fromEntries(medians(o)),
      runs: o.results,
      errors: Object.fromEntries(o.errors),
    }));
    writeFileSync(opts.json, JSON.stringify(data, null, 2));
  }
  return outcomes.some((o) => o.results.length > 0) ? 0 : 1;
}

main().then(
  (code) => { cleanup(); process.exit(code); },
  (err: unknown) => { console.error(err instanceof Error ? err.stack ?? err.message : String(err)); cleanup(); process.exit(1); },
);
