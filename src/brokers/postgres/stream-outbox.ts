/**
 * One polling worker per shard of the stream table: it reads rows with `id > cursor` in id order,
 * `batchSize` at a time, hands them to the owner and moves its in-memory cursor past them. A full
 * batch is followed at once by the next read; otherwise the worker sleeps `pollIntervalMs` or until
 * woken (NOTIFY). A failed read is retried with backoff from the same cursor, so no row is skipped.
 */
import type { Logger } from '../../core/index.js';
import type { StreamRow } from './stream-rows.js';

/** Backoff after `failures` consecutive failed reads: 50 ms doubling up to 2 s. */
export function pollRetryDelayMs(failures: number): number {
  return Math.min(50 * 2 ** Math.max(0, failures - 1), 2000);
}

/** What a ShardPoller needs: its shard, start cursor, timing, and how to read and hand over rows. */
export interface ShardPollerOptions {
  shard: number;
  /** Id after which delivery starts (the shard's max id when the broker started). */
  cursor: string;
  pollIntervalMs: number;
  batchSize: number;
  /** Reads at most `limit` rows of the shard with id > cursor, in id order. */
  fetch: (shard: number, cursor: string, limit: number) => Promise<StreamRow[]>;
  /** Receives each batch in id order; must not throw. */
  deliver: (rows: StreamRow[]) => void;
  logger?: Logger;
}

/** The worker of one shard; `close()` stops it and waits for the read in flight. */
export class ShardPoller {
  private cursor: string;
  private closed = false;
  private woken = false;
  private wakeSleep: (() => void) | undefined;
  private readonly done: Promise<void>;

  constructor(private readonly opts: ShardPollerOptions) {
    this.cursor = opts.cursor;
    this.done = this.loop();
  }

  /** Id of the last row handed over (or the start cursor). */
  get position(): string {
    return this.cursor;
  }

  /** Makes a sleeping worker read now (a NOTIFY for this shard, or a reconnect of the listener). */
  wake(): void {
    this.woken = true;
    this.wakeSleep?.();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeSleep?.();
    await this.done;
  }

  private async loop(): Promise<void> {
    const { shard, batchSize, logger } = this.opts;
    let failures = 0;
    while (!this.closed) {
      this.woken = false;
      let rows: StreamRow[];
      try {
        rows = await this.opts.fetch(shard, this.cursor, batchSize);
      } catch (err) {
        if (this.closed) return;
        failures++;
        if (failures === 1 || failures % 50 === 0) logger?.warn({ err: (err as Error).message, shard, failures }, 'postgres broker: outbox read failed, retrying');
        await this.sleep(pollRetryDelayMs(failures), false);
        continue;
      }
      if (failures > 0) logger?.info({ shard, failures }, 'postgres broker: outbox reads resumed');
      failures = 0;
      if (this.closed) return;
      if (rows.length > 0) {
        this.cursor = rows[rows.length - 1]!.id;
        this.opts.deliver(rows);
      }
      if (rows.length >= batchSize || this.woken) continue;
      await this.sleep(this.opts.pollIntervalMs, true);
    }
  }

  /** Sleeps ms; close always ends it early, wake() only when `wakeable`. */
  private sleep(ms: number, wakeable: boolean): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(finish, ms);
      const self = this;
      function finish(): void {
        clearTimeout(timer);
        self.wakeSleep = undefined;
        resolve();
      }
      this.wakeSleep = () => {
        if (wakeable || this.closed) finish();
      };
    });
  }
}
