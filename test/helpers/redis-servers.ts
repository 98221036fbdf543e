/**
 * Throwaway redis-server processes for tests: single servers, a 3-master cluster and a sentinel,
 * on spare loopback ports, with data only in a temp dir. Every helper returns a stop function.
 */
import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A random loopback port in 16379..36378 that is free, and whose +10000 cluster bus port is free too. */
export async function sparePort(): Promise<number> {
  for (;;) {
    const port = 16379 + Math.floor(Math.random() * 20000);
    if ((await portFree(port)) && (await portFree(port + 10000))) return port;
  }
}

/** Resolves when the server on `port` answers PING with PONG; rejects after timeoutMs. */
export async function waitPing(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect(port, '127.0.0.1');
      let buf = '';
      sock.setTimeout(500, () => sock.destroy());
      sock.on('connect', () => sock.write('PING\r\n'));
      sock.on('data', (d) => {
        buf += d.toString();
        if (buf.includes('\r\n')) {
          sock.destroy();
          resolve(buf.startsWith('+PONG'));
        }
      });
      sock.on('error', () => resolve(false));
      sock.on('close', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`redis on ${port} did not answer PING within ${timeoutMs}ms`);
}

/** redis-cli against a port; returns stdout. */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args]);
  return stdout;
}

export interface RedisProcess {
  port: number;
  proc: ChildProcess;
  dir: string;
  /** Kills the process (SIGKILL when `hard`) and waits for it to exit. */
  kill(hard?: boolean): Promise<void>;
  /** Kills the process and removes its directory. */
  stop(): Promise<void>;
}

/** Starts `redis-server` on `port` without persistence; resolves once it answers PING. */
export async function startRedis(port: number, extra: string[] = [], dir = mkdtempSync(join(tmpdir(), 'gyre-redis-'))): Promise<RedisProcess> {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const kill = async (hard = false): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await exited;
  };
  const stop = async (): Promise<void> => {
    await kill(true);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitPing(port);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, proc, dir, kill, stop };
}

/** Starts several servers and returns them with one stop function that also removes their dirs. */
async function group(starts: Promise<RedisProcess>[]): Promise<{ servers: RedisProcess[]; stop: () => Promise<void> }> {
  const settled = await Promise.allSettled(starts);
  const servers = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) {
    await stop();
    throw (failed as PromiseRejectedResult).reason;
  }
  return { servers, stop };
}

async function sparePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < n) {
    const p = await sparePort();
    if (!ports.some((q) => Math.abs(q - p) === 10000 || q === p)) ports.push(p);
  }
  return ports;
}

/** `n` standalone servers on spare ports. */
export async function startStandalones(n: number): Promise<{ ports: number[]; stop: () => Promise<void> }> {
  const ports = await sparePorts(n);
  const { stop } = await group(ports.map((p) => startRedis(p)));
  return { ports, stop };
}

/** A Redis Cluster of 3 masters, no replicas; resolves once every node reports cluster_state:ok. */
export async function startCluster(): Promise<{ ports: number[]; stop: () => Promise<void> }> {
  const ports = await sparePorts(3);
  const { stop } = await group(ports.map((p) => startRedis(p, ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${p}.conf`, '--cluster-node-timeout', '2000'])));
  try {
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    const deadline = Date.now() + 20_000;
    for (const p of ports) {
      while (!(await redisCli(p, 'cluster', 'info')).includes('cluster_state:ok')) {
        if (Date.now() > deadline) throw new Error('cluster did not reach cluster_state:ok');
        await sleep(100);
      }
    }
    // Every node must know every slot owner before clients fetch the slot map.
    for (const p of ports) {
      while ((await redisCli(p, 'cluster', 'nodes')).trim().split('\n').filter((l) => l.includes('connected')).length < 3) {
        if (Date.now() > deadline) throw new Error('cluster nodes did not all connect');
        await sleep(100);
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { ports, stop };
}

/** One master and one sentinel monitoring it as `masterName`; resolves once the sentinel knows the master. */
export async function startSentinel(masterName: string): Promise<{ masterPort: number; sentinelPort: number; stop: () => Promise<void> }> {
  const [masterPort, sentinelPort] = (await sparePorts(2)) as [number, number];
  const dir = mkdtempSync(join(tmpdir(), 'gyre-sentinel-'));
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, [`port ${sentinelPort}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 1`, `sentinel down-after-milliseconds ${masterName} 5000`, ''].join('\n'));
  const master = await startRedis(masterPort);
  let sentinel: RedisProcess | undefined;
  const stop = async (): Promise<void> => {
    await sentinel?.kill(true);
    await master.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    sentinel = await startRedisSentinel(conf, sentinelPort, dir);
    const deadline = Date.now() + 10_000;
    while (!(await redisCli(sentinelPort, 'sentinel', 'get-master-addr-by-name', masterName)).includes(String(masterPort))) {
      if (Date.now() > deadline) throw new Error('sentinel did not learn the master');
      await sleep(100);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { masterPort, sentinelPort, stop };
}

async function startRedisSentinel(conf: string, port: number, dir: string): Promise<RedisProcess> {
  const proc = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const kill = async (hard = false): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await exited;
  };
  try {
    await waitPing(port);
  } catch (err) {
    await kill(true);
    throw err;
  }
  return { port, proc, dir, kill, stop: () => kill(true) };
}
