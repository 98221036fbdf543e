/**
 * Background work of the PostgreSQL map broker: the key expiry pass every `ttl_check_interval`
 * (through `<prefix>_map_expire_keys`, one channel per transaction so a pass never holds several
 * shard locks) and maintenance every `cleanup_interval` (stream partitions ahead and behind,
 * meta rows idle past their TTL with their state, expired idempotency results). Every node runs
 * both; the locks in the functions make concurrent passes safe.
 */
import type pg from 'pg';
import type { Logger } from '../../core/index.js';
import type { MapNames } from './map-schema.js';
import { dropExpiredPartitions, ensureDailyPartitions } from './partitions.js';

/** Options of MapMaintenance. */
export interface MapMaintenanceOptions {
  pool: pg.Pool;
  names: MapNames;
  /** Stream tables whose partitions are kept ahead and dropped behind (both variants). */
  partitionTables: string[];
  numShards: number;
  /** 0 disables the expiry timer (expireKeys still works). */
  ttlCheckMs: number;
  cleanupMs: number;
  lookaheadDays: number;
  /** 0 keeps partitions forever. */
  retentionDays: number;
  logger?: Logger;
}

// Channels one expiry pass visits at most, and keys removed per channel per call.
const EXPIRE_CHANNELS = 100;
const EXPIRE_BATCH = 1000;
// Rows deleted per cleanup statement.
const CLEANUP_BATCH = 1000;

/** Timers of the expiry pass and of maintenance; close() stops them and waits for a running pass. */
export class MapMaintenance {
  private ttlTimer: NodeJS.Timeout | undefined;
  private cleanupTimer: NodeJS.Timeout | undefined;
  private expiring: Promise<number> | undefined;
  private cleaning: Promise<void> | undefined;
  private expireFailing = false;
  private closed = false;

  constructor(private readonly o: MapMaintenanceOptions) {}

  /** Starts both timers. */
  start(): void {
    if (this.closed) return;
    if (this.o.ttlCheckMs > 0 && !this.ttlTimer) {
      this.ttlTimer = setInterval(() => void this.expireKeys().catch(() => undefined), this.o.ttlCheckMs);
      this.ttlTimer.unref();
    }
    if (this.o.cleanupMs > 0 && !this.cleanupTimer) {
      this.cleanupTimer = setInterval(() => void this.cleanup().catch(() => undefined), this.o.cleanupMs);
      this.cleanupTimer.unref();
    }
  }

  /** One expiry pass (joins a running one); resolves with the number of keys removed. Errors are logged once per outage and rethrown. */
  expireKeys(): Promise<number> {
    this.expiring ??= this.runExpire().finally(() => {
      this.expiring = undefined;
    });
    return this.expiring;
  }

  private async runExpire(): Promise<number> {
    const n = this.o.names;
    try {
      const { rows } = await this.o.pool.query<{ channel: string }>(
        `SELECT DISTINCT channel FROM ${n.state} WHERE expires_at <= NOW() LIMIT ${EXPIRE_CHANNELS}`,
      );
      let removed = 0;
      for (const { channel } of rows) {
        if (this.closed) break;
        const r = await this.o.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${n.expireKeys}(p_batch_size := $1, p_num_shards := $2, p_channel := $3)`, [
          EXPIRE_BATCH,
          this.o.numShards,
          channel,
        ]);
        removed += r.rows[0]?.n ?? 0;
      }
      this.expireFailing = false;
      return removed;
    } catch (err) {
      if (!this.expireFailing && !this.closed) this.o.logger?.warn({ err }, 'postgres map key expiry failed');
      this.expireFailing = true;
      throw err;
    }
  }

  /** One maintenance pass (joins a running one). */
  cleanup(): Promise<void> {
    this.cleaning ??= this.runCleanup().finally(() => {
      this.cleaning = undefined;
    });
    return this.cleaning;
  }

  private async runCleanup(): Promise<void> {
    const { pool, names: n } = this.o;
    try {
      for (const table of this.o.partitionTables) {
        await ensureDailyPartitions(pool, table, this.o.lookaheadDays);
        if (this.o.retentionDays > 0) await dropExpiredPartitions(pool, table, this.o.retentionDays);
      }
      // The expiry is checked again on the row itself, so a channel touched meanwhile survives.
      for (;;) {
        const r = await pool.query<{ n: number }>(
          `WITH gone AS (
             DELETE FROM ${n.meta} WHERE channel IN (SELECT channel FROM ${n.meta} WHERE expires_at < NOW() LIMIT ${CLEANUP_BATCH})
               AND expires_at < NOW() RETURNING channel),
           dropped AS (DELETE FROM ${n.state} s USING gone WHERE s.channel = gone.channel)
           SELECT count(*)::int AS n FROM gone`,
        );
        if ((r.rows[0]?.n ?? 0) < CLEANUP_BATCH || this.closed) break;
      }
      for (;;) {
        const r = await pool.query(
          `DELETE FROM ${n.idempotency} WHERE (channel, idempotency_key) IN (
             SELECT channel, idempotency_key FROM ${n.idempotency} WHERE expires_at < NOW() LIMIT ${CLEANUP_BATCH})`,
        );
        if ((r.rowCount ?? 0) < CLEANUP_BATCH || this.closed) break;
      }
    } catch (err) {
      if (!this.closed) this.o.logger?.warn({ err }, 'postgres map maintenance failed');
      throw err;
    }
  }

  /** Stops the timers and waits for running passes. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.ttlTimer) clearInterval(this.ttlTimer);
    if (this.cleanupTimer) clearInterval(this.cleanupTimer);
    this.ttlTimer = undefined;
    this.cleanupTimer = undefined;
    await Promise.all([this.expiring?.catch(() => undefined), this.cleaning?.catch(() => undefined)]);
  }
}
