/**
 * Runs the real `gyre` binary (`node bin/gyre.js --config <file>`) as a child process for
 * end-to-end tests: a free loopback port, a temporary JSON config, readiness by polling the
 * port, captured stdout/stderr for diagnostics, and SIGTERM (then SIGKILL) on stop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (this file compiles to dist/test/helpers/). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The CLI entry point under test. */
export const gyreBin = join(repoRoot, 'bin', 'gyre.js');

const maxLogBytes = 2 * 1024 * 1024;

/** Picks a free loopback TCP port (listen on 0, read the port, close). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

/** Resolves true once something accepts TCP connections on 127.0.0.1:port. */
function portAccepts(port: number): Promise<boolean> {
  return new Promise((res) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      res(true);
    });
    sock.once('error', () => res(false));
  });
}

/** Environment for child processes: the parent's, minus anything that would configure Gyre. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('CENTRIFUGO_')) env[k] = v;
  }
  return { ...env, ...extra };
}

export interface GyreProcess {
  readonly port: number;
  /** http://127.0.0.1:port */
  readonly base: string;
  /** ws://127.0.0.1:port/connection/websocket */
  readonly wsUrl: string;
  /** http://127.0.0.1:port/api */
  readonly apiUrl: string;
  readonly configPath: string;
  /** The process's working directory (a temporary folder, removed on stop). */
  readonly dir: string;
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Exit code once the process ended (null while running). */
  exitCode(): number | null;
  /** SIGTERM, then SIGKILL after 5 s; resolves with the exit code (or signal name). */
  stop(): Promise<number | string | null>;
}

export interface StartOptions {
  /** Extra command-line arguments after `--config <file>`. */
  args?: string[];
  /** Options for node itself, before the script (e.g. `--heapsnapshot-signal=SIGUSR2`). */
  nodeArgs?: string[];
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** How long to wait for the port to accept connections. */
  startTimeoutMs?: number;
  /** The port to listen on (default: a free one picked here). */
  port?: number;
}

/**
 * Starts `gyre --config <tmp>.json -p <port>` with `http_server.address` 127.0.0.1.
 * The port is passed as the `-p` flag so the root command's flag handling is exercised too.
 */
export async function startGyre(config: Record<string, unknown>, opts: StartOptions = {}): Promise<GyreProcess> {
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'gyre-e2e-'));
  const configPath = join(dir, 'config.json');
  const httpServer = { ...((config.http_server as Record<string, unknown> | undefined) ?? {}), address: '127.0.0.1' };
  const full = { log: { level: 'info' }, ...config, http_server: httpServer };
  writeFileSync(configPath, JSON.stringify(full, null, 2));

  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), gyreBin, '--config', configPath, '-p', String(port), ...(opts.args ?? [])], {
    cwd: dir,
    env: cleanEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const append = (chunk: Buffer): void => {
    if (log.length < maxLogBytes) log += chunk.toString('utf8');
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let exit: number | string | null = null;
  let exited = false;
  let stopRequested = false;
  let ready = false;
  const exitPromise = new Promise<number | string | null>((res) => {
    child.once('exit', (code, signal) => {
      exited = true;
      exit = code ?? signal;
      // A server that dies while tests still use it: show why, right away.
      if (ready && !stopRequested) process.stderr.write(`gyre on port ${port} exited unexpectedly (${String(exit)}):\n${log.slice(-8000)}\n`);
      res(exit);
    });
  });

  const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
  for (;;) {
    if (exited) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`gyre exited (${String(exit)}) before listening on ${port}:\n${log}`);
    }
    if (await portAccepts(port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`gyre did not listen on ${port} in time:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  ready = true;

  let stopping: Promise<number | string | null> | undefined;
  return {
    port,
    base: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/connection/websocket`,
    apiUrl: `http://127.0.0.1:${port}/api`,
    configPath,
    dir,
    child,
    output: () => log,
    exitCode: () => (exited ? (typeof exit === 'number' ? exit : -1) : null),
    stop: () => {
      stopping ??= (async () => {
        stopRequested = true;
        if (!exited) {
          child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exitPromise;
          clearTimeout(killer);
        }
        rmSync(dir, { recursive: true, force: true });
        const code = await exitPromise;
        // Set GYRE_E2E_LOG=1 to see every server's log; a non-zero exit always shows the tail.
        if (process.env.GYRE_E2E_LOG || code !== 0) process.stderr.write(`---- gyre :${port} exited ${String(code)} ----\n${process.env.GYRE_E2E_LOG ? log : log.slice(-8000)}\n`);
        return code;
      })();
      return stopping;
    },
  };
}

/**
 * Runs the gyre CLI to completion (for tool sub-commands) and returns its output; `env` adds
 * variables, `timeoutMs` (default 15 s) bounds the run before SIGKILL.
 */
export function runGyreCli(
  args: string[],
  cwd?: string,
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res, reject) => {
    const child = spawn(process.execPath, [gyreBin, ...args], { cwd: cwd ?? repoRoot, env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.once('error', reject);
    const killer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 15_000);
    child.once('close', (code) => {
      clearTimeout(killer);
      res({ code, stdout, stderr });
    });
  });
}
