/**
 * Node-to-node control messages over PostgreSQL (`controller.type: postgres`): a message is a row
 * of `<p>_controller_messages` inserted by `<p>_controller_publish`; every node polls each shard
 * with an in-memory id cursor and hands over the rows that are broadcasts or addressed to it.
 */
import type pg from 'pg';
import type { Controller, Logger } from '../../core/index.js';
import { BrokerError } from '../errors.js';
import type { TlsBlock } from '../tls.js';
import { checkControllerSchema, controllerNames, ensureControllerSchema, type ControllerNames } from './controller-schema.js';
import { listenRetryDelayMs, NotifyListener } from './notify-listener.js';
import { dropExpiredPartitions, ensureDailyPartitions } from './partitions.js';
import { createPool } from './pool.js';

/** The `controller.postgres` section (durations in ms) plus a logger. */
export interface PostgresControllerOptions {
  dsn?: string;
  tls?: TlsBlock;
  /** Most pooled connections (default 8). */
  pool_size?: number;
  /** Shards polled by every node; all nodes must agree (default 1). */
  num_shards?: number;
  /** Table and function name prefix (default `cf`). */
  table_prefix?: string;
  /** Idle poll period in ms (default 50). */
  poll_interval?: number;
  /** LISTEN for the publish function's NOTIFY to poll at once. */
  use_notify?: boolean;
  /** DSN of the LISTEN connection (default `dsn`), for setups where `dsn` goes through a pooler. */
  notify_dsn?: string;
  /** Days a daily partition is kept after its day ended (default 1). */
  partition_retention_days?: number;
  /** Future daily partitions kept created (default 2). */
  partition_lookahead_days?: number;
  /** Period of partition creation and removal in ms (default 60000). */
  partition_cleanup_interval?: number;
  /** Most rows read per poll (default 1000). */
  batch_size?: number;
  /** Do not create the schema; check it exists at start instead. */
  skip_schema_init?: boolean;
  logger?: Logger;
}

const positive = (v: number | undefined, d: number): number => (v !== undefined && Number.isFinite(v) && v > 0 ? v : d);

/**
 * The PostgreSQL Controller. Broadcasts reach every node, the sender included (its cluster layer
 * ignores its own), like the Redis and NATS controllers; addressed messages reach only their node.
 * Per shard, messages are delivered in commit order; a node sees only messages committed after its
 * `runControl` read the cursors. Delivery is at most once: a node down misses what was sent meanwhile.
 */
export class PostgresController implements Controller {
  private readonly pool: pg.Pool;
  private readonly names: ControllerNames;
  private readonly numShards: number;
  private readonly pollMs: number;
  private readonly batchSize: number;
  private readonly logger: Logger | undefined;
  private pollers: ShardPoller[] = [];
  private listener: NotifyListener | undefined;
  private maintenanceTimer: NodeJS.Timeout | undefined;
  private maintaining = false;
  private starting: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly opts: PostgresControllerOptions = {}) {
    this.names = controllerNames(opts.table_prefix ?? 'cf');
    this.numShards = Math.min(Math.floor(positive(opts.num_shards, 1)), 32767);
    this.pollMs = positive(opts.poll_interval, 50);
    this.batchSize = Math.floor(positive(opts.batch_size, 1000));
    this.logger = opts.logger;
    this.pool = createPool({ dsn: opts.dsn, tls: opts.tls, pool_size: positive(opts.pool_size, 8) }, 'gyre-controller', opts.logger);
  }

  /**
   * Creates (or, with skip_schema_init, checks) the schema, reads each shard's current top id and
   * starts the pollers, the LISTEN connection (use_notify) and partition maintenance. Rejects when
   * PostgreSQL cannot be reached or the schema is missing; the node then calls it again later.
   * Once it has succeeded, later calls resolve without changing anything.
   */
  runControl(nodeId: string, handler: (msg: Uint8Array) => void): Promise<void> {
    if (this.closed) return Promise.reject(new BrokerError('broker_closed', 'postgres controller is closed'));
    if (this.starting) return this.starting;
    const attempt = this.start(nodeId, handler);
    this.starting = attempt;
    attempt.catch(() => {
      if (this.starting === attempt) this.starting = undefined;
    });
    return attempt;
  }

  private async start(nodeId: string, handler: (msg: Uint8Array) => void): Promise<void> {
    const n = this.names;
    const lookahead = Math.floor(positive(this.opts.partition_lookahead_days, 2));
    try {
      if (this.opts.skip_schema_init) await checkControllerSchema(this.pool, n);
      else await ensureControllerSchema(this.pool, n, this.numShards, lookahead);
      const { rows } = await this.pool.query<{ shard: number; top: string }>(
        `SELECT s AS shard, COALESCE((SELECT max(id) FROM ${n.messages} WHERE shard_id = s), 0)::TEXT AS top FROM generate_series(0, $1::INTEGER - 1) AS s`,
        [this.numShards],
      );
      const tops = new Map(rows.map((r) => [Number(r.shard), BigInt(r.top)]));
      if (this.closed) return;
      const sql = `SELECT id, CASE WHEN node_id = '' OR node_id = $3 THEN data END AS data FROM ${n.messages} WHERE shard_id = $1 AND id > $2 ORDER BY id LIMIT $4`;
      for (let s = 0; s < this.numShards; s++) {
        this.pollers.push(new ShardPoller({ pool: this.pool, sql, shard: s, nodeId, cursor: tops.get(s) ?? 0n, batchSize: this.batchSize, pollMs: this.pollMs, handler, logger: this.logger }));
      }
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('postgres controller:')) throw err;
      throw new BrokerError('backend_error', `postgres controller start failed: ${(err as Error).message}`, { cause: err });
    }
    for (const p of this.pollers) p.start();
    if (this.opts.use_notify) {
      this.listener = new NotifyListener({
        dsn: this.opts.notify_dsn || this.opts.dsn,
        tls: this.opts.tls,
        channels: [n.notifyChannel],
        onNotify: () => this.wakeAll(),
        onConnected: () => this.wakeAll(),
        applicationName: 'gyre-controller-listen',
        logger: this.logger,
      });
      await this.listener.start();
    }
    this.maintenanceTimer = setInterval(() => void this.maintain(), positive(this.opts.partition_cleanup_interval, 60_000));
    this.maintenanceTimer.unref();
    if (this.opts.skip_schema_init) void this.maintain();
  }

  /** Inserts one control message through the publish function; rejects with `backend_error` when PostgreSQL fails. */
  async publishControl(msg: Uint8Array, toNode?: string): Promise<void> {
    if (this.closed) throw new BrokerError('broker_closed', 'postgres controller is closed');
    // A start in progress may be creating the schema; a failed one leaves the error to the insert.
    await this.starting?.catch(() => {});
    try {
      await this.pool.query(`SELECT ${this.names.publishFn}($1, $2, $3)`, [Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength), toNode ?? '', this.numShards]);
    } catch (err) {
      throw new BrokerError('backend_error', `postgres controller publish failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Creates the partitions ahead and drops expired ones; failures are logged and retried next period. */
  private async maintain(): Promise<void> {
    if (this.maintaining || this.closed) return;
    this.maintaining = true;
    const table = this.names.messages;
    try {
      await ensureDailyPartitions(this.pool, table, Math.floor(positive(this.opts.partition_lookahead_days, 2)));
      const dropped = await dropExpiredPartitions(this.pool, table, Math.floor(positive(this.opts.partition_retention_days, 1)));
      if (dropped.length > 0) this.logger?.debug({ dropped }, 'postgres controller dropped expired partitions');
    } catch (err) {
      if (!this.closed) this.logger?.warn({ err: (err as Error).message, table }, 'postgres controller partition maintenance failed');
    } finally {
      this.maintaining = false;
    }
  }

  private wakeAll(): void {
    for (const p of this.pollers) p.wake();
  }

  /** Stops the pollers, the LISTEN connection and maintenance, and closes the pool. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.maintenanceTimer) clearInterval(this.maintenanceTimer);
    this.maintenanceTimer = undefined;
    await this.starting?.catch(() => {});
    await Promise.all(this.pollers.map((p) => p.stop()));
    this.pollers = [];
    await this.listener?.close();
    this.listener = undefined;
    await this.pool.end().catch(() => {});
  }
}

interface ShardPollerOptions {
  pool: pg.Pool;
  sql: string;
  shard: number;
  nodeId: string;
  cursor: bigint;
  batchSize: number;
  pollMs: number;
  handler: (msg: Uint8Array) => void;
  logger: Logger | undefined;
}

/** One shard's poll loop: reads rows after its cursor, delivers them in id order, backs off on errors. */
class ShardPoller {
  private cursor: bigint;
  private stopped = false;
  private woken = false;
  private timer: NodeJS.Timeout | undefined;
  private release: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private failures = 0;

  constructor(private readonly o: ShardPollerOptions) {
    this.cursor = o.cursor;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Polls at once (or right after the poll in progress). */
  wake(): void {
    this.woken = true;
    this.release?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.release?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.woken = false;
      let full = false;
      try {
        full = (await this.pollOnce()) >= this.o.batchSize;
        if (this.failures > 0) this.o.logger?.info({ shard: this.o.shard }, 'postgres controller polling resumed');
        this.failures = 0;
      } catch (err) {
        if (this.stopped) return;
        this.failures++;
        if (this.failures === 1) this.o.logger?.warn({ err: (err as Error).message, shard: this.o.shard }, 'postgres controller poll failed, retrying');
        await this.sleep(listenRetryDelayMs(this.failures), false);
        continue;
      }
      if (!full && !this.woken) await this.sleep(this.o.pollMs, true);
    }
  }

  /** Reads and delivers one batch; returns the number of rows read (delivered or not). */
  private async pollOnce(): Promise<number> {
    // pg returns BIGINT as a decimal string.
    const { rows } = await this.o.pool.query<{ id: string; data: Buffer | null }>(this.o.sql, [this.o.shard, this.cursor.toString(), this.o.nodeId, this.o.batchSize]);
    for (const row of rows) {
      if (this.stopped) break;
      this.cursor = BigInt(row.id);
      if (row.data === null) continue;
      try {
        this.o.handler(new Uint8Array(row.data.buffer, row.data.byteOffset, row.data.byteLength));
      } catch (err) {
        this.o.logger?.warn({ err: (err as Error).message }, 'postgres controller handler failed');
      }
    }
    return rows.length;
  }

  /** Waits `ms`, or less when woken (only if `wakeable`) or stopped. */
  private sleep(ms: number, wakeable: boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        if (this.timer) clearTimeout(this.timer);
        this.timer = undefined;
        this.release = undefined;
        resolve();
      };
      this.timer = setTimeout(done, ms);
      this.release = wakeable ? done : () => this.stopped && done();
    });
  }
}
