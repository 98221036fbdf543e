/**
 * PostgreSQL connections for the brokers and the controller: a bounded pool for queries and a
 * dedicated LISTEN client (see notify-listener.ts). Failures surface as errors on the query that
 * hit them; an idle connection that breaks is dropped and replaced by the pool, never a crash.
 */
import pg from 'pg';
import type { Logger } from '../../core/index.js';
import { tlsConnectionOptions, type TlsBlock } from '../tls.js';

/** Connection keys shared by `broker.postgres`, `map_broker.postgres` and `controller.postgres`. */
export interface PgConnectionOptions {
  /** libpq-style URL or key=value string; default `postgres://postgres@127.0.0.1:5432/postgres`. */
  dsn?: string;
  tls?: TlsBlock;
  /** Most connections the pool opens at once (default 16). */
  pool_size?: number;
}

/** A pool or a client checked out of it: what a query needs. */
export type PgQueryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

export const DEFAULT_DSN = 'postgres://postgres@127.0.0.1:5432/postgres';

/** The pg connection settings of a DSN plus the TLS block (a DSN's own sslmode wins). */
export function clientConfig(dsn: string | undefined, tls: TlsBlock | undefined, applicationName: string): pg.ClientConfig {
  const cfg: pg.ClientConfig = {
    connectionString: dsn || DEFAULT_DSN,
    application_name: applicationName,
    connectionTimeoutMillis: 5000,
    keepAlive: true,
  };
  const ssl = tlsConnectionOptions(tls);
  if (ssl) cfg.ssl = ssl;
  return cfg;
}

/**
 * A pool of at most `pool_size` connections. Errors of idle connections (a server restart) are
 * logged and the connection discarded; the next query opens a new one.
 */
export function createPool(opts: PgConnectionOptions, applicationName: string, logger?: Logger): pg.Pool {
  const pool = new pg.Pool({
    ...clientConfig(opts.dsn, opts.tls, applicationName),
    max: opts.pool_size && opts.pool_size > 0 ? opts.pool_size : 16,
    idleTimeoutMillis: 30_000,
  });
  pool.on('error', (err) => logger?.warn({ err: err.message, pool: applicationName }, 'postgres connection lost'));
  return pool;
}

/** Runs `fn` in a transaction on one pooled connection: COMMIT when it resolves, ROLLBACK when it throws. */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch {
      broken = true;
    }
    throw err;
  } finally {
    client.release(broken);
  }
}

/** A SQL identifier made of a config prefix: letters, digits and `_` only, else an Error naming the key. */
export function checkIdentifier(value: string, key: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,40}$/.test(value)) throw new Error(`${key}: "${value}" is not a valid SQL identifier prefix (letters, digits and _, at most 41 characters)`);
  return value;
}
