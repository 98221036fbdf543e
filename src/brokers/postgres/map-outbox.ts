/**
 * Live delivery of the PostgreSQL map broker as an outbox: one poller per shard reads the stream
 * table by id (`id > cursor`, in id order, `batch_size` rows at a time). Writers of a shard hold
 * its lock row until commit, so a shard's ids become visible in id order and an in-memory cursor
 * never skips a row. Cursors start at the newest id when the broker starts and are not persisted:
 * subscribers recover by offset and epoch. NOTIFY (when used) only wakes pollers early.
 */
import type pg from 'pg';
import type { Logger, MapPublication, StreamPosition } from '../../core/index.js';
import { dataBytes, pubColumns, rowToPub, type PubRow } from './map-codec.js';

/** One stream row turned into a live change. */
export interface MapOutboxChange {
  channel: string;
  pub: MapPublication;
  position: StreamPosition;
  delta: boolean;
  prev?: MapPublication;
}

/** Options of a MapOutbox. */
export interface MapOutboxOptions {
  pool: pg.Pool;
  /** The stream table. */
  table: string;
  binary: boolean;
  numShards: number;
  batchSize: number;
  pollIntervalMs: number;
  deliver: (change: MapOutboxChange) => void;
  logger?: Logger;
}

interface OutboxRow extends PubRow {
  id: string;
  channel: string;
  epoch: string;
  prev_data: string | Buffer | null;
  use_delta: boolean;
}

const RETRY_MAX_MS = 5000;

class ShardPoller {
  cursor = 0;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private failures = 0;
  done: Promise<void> = Promise.resolve();

  constructor(
    readonly shard: number,
    private readonly outbox: MapOutbox,
  ) {}

  start(): void {
    this.done = this.loop();
  }

  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  private async loop(): Promise<void> {
    while (!this.outbox.closed) {
      let delay = this.outbox.opts.pollIntervalMs;
      try {
        const n = await this.outbox.poll(this);
        this.failures = 0;
        if (n >= this.outbox.opts.batchSize) continue;
      } catch (err) {
        if (this.outbox.closed) return;
        if (this.failures++ === 0) this.outbox.opts.logger?.warn({ err, shard: this.shard }, 'postgres map outbox poll failed, retrying');
        delay = Math.min(RETRY_MAX_MS, delay * 2 ** Math.min(this.failures, 6));
      }
      await this.sleep(delay);
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        this.woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }
}

/** Per-shard pollers of one stream table; `start` positions the cursors at the newest rows. */
export class MapOutbox {
  closed = false;
  private readonly pollers: ShardPoller[];
  private readonly sql: string;

  constructor(readonly opts: MapOutboxOptions) {
    this.pollers = Array.from({ length: opts.numShards }, (_, i) => new ShardPoller(i, this));
    this.sql = `SELECT id, channel, channel_offset AS off, epoch, ${pubColumns(opts.binary)}, removed, use_delta,
      ${opts.binary ? 'prev_data' : 'prev_data::text AS prev_data'}, (extract(epoch FROM created_at) * 1000)::float8 AS t
      FROM ${opts.table} WHERE shard_id = $1 AND id > $2 ORDER BY id LIMIT $3`;
  }

  /** Reads each shard's newest id, then starts polling; rejects when the database is unreachable. */
  async start(): Promise<void> {
    for (const p of this.pollers) {
      const { rows } = await this.opts.pool.query<{ m: string | null }>(`SELECT max(id) AS m FROM ${this.opts.table} WHERE shard_id = $1`, [p.shard]);
      p.cursor = Number(rows[0]?.m ?? 0);
    }
    if (this.closed) return;
    for (const p of this.pollers) p.start();
  }

  /** Polls one shard at once (`shard` undefined: every shard). */
  wake(shard?: number): void {
    if (shard !== undefined && shard >= 0 && shard < this.pollers.length) this.pollers[shard]!.wake();
    else for (const p of this.pollers) p.wake();
  }

  /** Reads and delivers one batch of a shard; returns the number of rows read. */
  async poll(p: ShardPoller): Promise<number> {
    const { rows } = await this.opts.pool.query<OutboxRow>(this.sql, [p.shard, p.cursor, this.opts.batchSize]);
    for (const row of rows) {
      p.cursor = Number(row.id);
      if (this.closed) break;
      try {
        this.opts.deliver(toChange(row));
      } catch (err) {
        this.opts.logger?.warn({ err, channel: row.channel }, 'postgres map outbox delivery failed');
      }
    }
    return rows.length;
  }

  /** Stops every poller and waits for their current batch. */
  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.pollers) p.wake();
    await Promise.all(this.pollers.map((p) => p.done));
  }
}

function toChange(row: OutboxRow): MapOutboxChange {
  const offset = Number(row.off);
  const pub = rowToPub(row);
  // The first change of a stream tells live subscribers the epoch.
  if (offset === 1) pub.epoch = row.epoch;
  const change: MapOutboxChange = { channel: row.channel, pub, position: { offset, epoch: row.epoch }, delta: row.use_delta === true };
  if (row.prev_data !== null) change.prev = { key: row.key, data: dataBytes(row.prev_data), offset: 0, time: pub.time };
  return change;
}
