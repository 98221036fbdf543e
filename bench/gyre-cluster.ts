// Runs N Gyre processes sharing one listening port with node:cluster (the primary
// accepts connections and hands them to the workers round-robin). The workers must
// be joined by a broker that connects nodes (the Redis engine), or publications made
// on one worker never reach the subscribers of another.
//
// Usage: node dist/bench/gyre-cluster.js --workers N -- <gyre arguments>
// The primary prints "gyre-cluster: N workers listening" (stderr) once every worker
// listens. It exits when a worker dies or on SIGTERM/SIGINT (stopping the workers),
// and when stdin closes if --watch-stdin is given.

import cluster from 'node:cluster';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const mainModule = pathToFileURL(path.resolve(here, '../src/cli/main.js')).href;

const argv = process.argv.slice(2);
const sep = argv.indexOf('--');
const own = sep >= 0 ? argv.slice(0, sep) : argv;
const gyreArgs = sep >= 0 ? argv.slice(sep + 1) : [];

if (cluster.isPrimary) {
  let workers = 2;
  let watchStdin = false;
  for (let i = 0; i < own.length; i++) {
    if (own[i] === '--workers') workers = Math.max(1, Number(own[++i] ?? 2));
    else if (own[i] === '--watch-stdin') watchStdin = true;
  }
  let stopping = false;
  const stop = (code: number): void => {
    if (stopping) return;
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    setTimeout(() => process.exit(code), 3000).unref();
    let alive = Object.keys(cluster.workers ?? {}).length;
    if (alive === 0) process.exit(code);
    cluster.on('exit', () => {
      alive--;
      if (alive <= 0) process.exit(code);
    });
  };
  if (watchStdin) {
    process.stdin.on('end', () => stop(0));
    process.stdin.on('error', () => stop(0));
    process.stdin.resume();
  }
  for (let i = 0; i < workers; i++) cluster.fork();
  const listening = new Set<number>();
  cluster.on('listening', (w) => {
    listening.add(w.id);
    if (listening.size === workers) process.stderr.write(`gyre-cluster: ${workers} workers listening\n`);
  });
  cluster.on('exit', (w, code) => {
    if (!stopping) {
      process.stderr.write(`worker ${w.process.pid} exited with ${code}\n`);
      stop(1);
    }
  });
  process.on('SIGTERM', () => stop(0));
  process.on('SIGINT', () => stop(0));
} else {
  // BENCH_LAG_REPORT=1: each worker reports event-loop delays above 1 s (every 5 s), to tell
  // a starved worker from a slow client.
  if (process.env.BENCH_LAG_REPORT) {
    const delay = monitorEventLoopDelay({ resolution: 20 });
    delay.enable();
    setInterval(() => {
      if (delay.max > 1e9) process.stderr.write(`worker ${process.pid}: event loop delay max ${(delay.max / 1e6).toFixed(0)} ms, mean ${(delay.mean / 1e6).toFixed(0)} ms\n`);
      delay.reset();
    }, 5000).unref();
  }
  const { main } = (await import(mainModule)) as { main: (args: string[]) => Promise<number | void> };
  const code = await main(gyreArgs);
  if (typeof code === 'number') process.exitCode = code;
}
