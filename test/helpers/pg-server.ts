/**
 * A throwaway PostgreSQL server for fault tests (restarts, outages) that must not disturb the
 * shared server on 5432: initdb into a temp dir, trust auth, a spare loopback port. Runs the
 * server as the `postgres` OS user when the tests run as root (PostgreSQL refuses root).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { sparePort } from './redis-servers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Directory of the newest installed PostgreSQL server binaries, or undefined. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

export interface PgServer {
  port: number;
  dsn: string;
  /** Stops the server fast (open connections are cut); data stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data dir; resolves once it accepts queries. */
  start(): Promise<void>;
  /** Stops it for good and removes the data dir. */
  destroy(): Promise<void>;
}

/** Spawn options that run a command as the `postgres` OS user when we are root. */
function asPostgres(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  return {
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
  };
}

async function waitReady(dsn: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = new pg.Client({ connectionString: dsn, connectionTimeoutMillis: 1000 });
    try {
      await c.connect();
      await c.query('SELECT 1');
      await c.end();
      return;
    } catch (err) {
      await c.end().catch(() => {});
      if (Date.now() > deadline) throw new Error(`postgres at ${dsn} not ready: ${(err as Error).message}`);
      await sleep(100);
    }
  }
}

/** initdb + start on a spare port. */
export async function startPgServer(): Promise<PgServer> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql');
  const dir = mkdtempSync(join(tmpdir(), 'gyre-pg-'));
  const data = join(dir, 'data');
  const user = asPostgres();
  if (user.uid !== undefined) chownSync(dir, user.uid, user.gid!);
  execFileSync(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'], { stdio: 'ignore', ...user });
  const port = await sparePort();
  const dsn = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let proc: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    proc = spawn(join(bin, 'postgres'), ['-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir, '-c', 'fsync=off', '-c', 'max_connections=200'], { stdio: 'ignore', ...user });
    const p = proc;
    // A test process that dies leaves no server behind.
    process.once('exit', () => p.kill('SIGKILL'));
    await waitReady(dsn);
  };
  const stop = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    // SIGINT = fast shutdown: active transactions roll back, connections are cut.
    p.kill('SIGINT');
    await exited;
  };
  await start();
  return {
    port,
    dsn,
    stop,
    start,
    destroy: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The shared PostgreSQL server the tests use (trust auth). */
export const SHARED_PG_DSN = 'postgres://postgres@127.0.0.1:5432/postgres';

/** Drops every table (with its partitions) and function whose name starts with `<prefix>_`. */
export async function dropPgPrefix(dsn: string, prefix: string): Promise<void> {
  if (!/^[a-z0-9_]+$/.test(prefix)) throw new Error(`unsafe prefix ${prefix}`);
  const c = new pg.Client({ connectionString: dsn });
  await c.connect();
  try {
    await c.query(`DO $$ DECLARE r record; BEGIN
      FOR r IN SELECT c.relname FROM pg_class c WHERE c.relkind IN ('r', 'p') AND c.relname LIKE '${prefix}\\_%' AND NOT c.relispartition LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', r.relname); END LOOP;
      FOR r IN SELECT p.oid::regprocedure AS f FROM pg_proc p WHERE p.proname LIKE '${prefix}\\_%' LOOP
        EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', r.f); END LOOP; END $$`);
  } finally {
    await c.end();
  }
}
