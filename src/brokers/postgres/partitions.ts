/**
 * Daily range partitions of a table partitioned by `created_at` (timestamptz): partitions are
 * named `<table>_pYYYYMMDD` and bounded at UTC midnights. Creation and removal take a
 * transaction-scoped advisory lock per table so that several nodes can run them at once.
 */
import type pg from 'pg';
import { inTransaction } from './pool.js';

const DAY_MS = 86_400_000;

/** `YYYYMMDD` of the UTC day holding `ms`. */
export function dayKey(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');
}

/** Name of the partition of `table` holding the UTC day of `ms`. */
export function partitionName(table: string, ms: number): string {
  return `${table}_p${dayKey(ms)}`;
}

function utcMidnight(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** Creates the partitions of `table` for yesterday, today and the next `lookaheadDays` days (UTC), when missing. */
export async function ensureDailyPartitions(pool: pg.Pool, table: string, lookaheadDays: number, nowMs = Date.now()): Promise<void> {
  await inTransaction(pool, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`gyre_partitions_${table}`]);
    const today = utcMidnight(nowMs);
    for (let d = -1; d <= Math.max(0, lookaheadDays); d++) {
      const from = today + d * DAY_MS;
      const name = partitionName(table, from);
      const lo = new Date(from).toISOString();
      const hi = new Date(from + DAY_MS).toISOString();
      await c.query(`CREATE TABLE IF NOT EXISTS ${name} PARTITION OF ${table} FOR VALUES FROM ('${lo}') TO ('${hi}')`);
    }
  });
}

/**
 * Drops the partitions of `table` whose whole day ended more than `retentionDays` days before
 * now (UTC). Returns the names dropped. Only `<table>_pYYYYMMDD` children are considered.
 */
export async function dropExpiredPartitions(pool: pg.Pool, table: string, retentionDays: number, nowMs = Date.now()): Promise<string[]> {
  const cutoff = utcMidnight(nowMs) - Math.max(0, retentionDays) * DAY_MS;
  return inTransaction(pool, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`gyre_partitions_${table}`]);
    const { rows } = await c.query<{ name: string }>(
      `SELECT child.relname AS name FROM pg_inherits JOIN pg_class parent ON parent.oid = inhparent
       JOIN pg_class child ON child.oid = inhrelid WHERE parent.relname = $1`,
      [table],
    );
    const dropped: string[] = [];
    for (const { name } of rows) {
      const m = /_p(\d{4})(\d{2})(\d{2})$/.exec(name);
      if (!m || name !== `${table}_p${m[1]}${m[2]}${m[3]}`) continue;
      const start = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
      if (start + DAY_MS <= cutoff) {
        await c.query(`DROP TABLE IF EXISTS ${name}`);
        dropped.push(name);
      }
    }
    return dropped;
  });
}
