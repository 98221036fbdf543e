/**
 * The PostgreSQL stream broker (`broker.type: postgres`, server.md §6.4): history and fan-out both
 * live in PostgreSQL, so an application can publish inside its own business transaction by calling
 * the SQL functions (`SELECT * FROM cf_stream_publish(p_channel => ..., p_data => ...)`); a
 * publication in a rolled-back transaction is never delivered and consumes no offset.
 *
 * - Schema: created (or upgraded, see stream-schema.ts) by `run()` under an advisory lock unless
 *   `skip_schema_init`, in which case `run()` fails naming the first missing table or function.
 *   Both variants exist: JSONB tables `<table_prefix>_stream_*` and BYTEA tables
 *   `<table_prefix>_binary_stream_*`; `binary_data` picks the one this broker uses. In the JSONB
 *   variant publication data, conn_info and chan_info must be JSON: other bytes fail the publish
 *   with a BrokerError of code `bad_data`; JSON is returned in PostgreSQL's normalised form
 *   (compacted, object keys in jsonb order).
 * - Delivery is an outbox: one poller per shard (`num_shards`) reads new rows by id from an
 *   in-memory cursor that starts at the shard's newest row when `run()` is called, `outbox.batch_size`
 *   rows every `outbox.poll_interval` (at once again after a full batch). With `use_notify`, the
 *   publish functions NOTIFY and a LISTEN connection (`notify_dsn`, else `dsn`) wakes the shard's
 *   poller early. Per-shard row locks make ids commit in order, so delivery has no gaps
 *   (`reliable = true`); a failed read is retried with backoff from the same cursor. Only channels
 *   this node subscribed to reach the handler; joins and leaves travel the same way.
 * - History keeps a publication only when historySize and historyTtlMs are both > 0; size and TTL
 *   are applied when reading. Meta rows expire after historyMetaTtlMs (else the node's
 *   `channel.history_meta_ttl`, else `stream_retention`), at least the history TTL; reads create
 *   the stream and push its expiry forward. Idempotency keys live `idempotent_result_ttl` unless a
 *   publish gives its own TTL.
 * - Maintenance every `cleanup_interval`: daily partitions `partition_lookahead_days` ahead, drops
 *   partitions older than `partition_retention_days` (0 keeps them), deletes expired idempotency and
 *   meta rows. Not a node-to-node controller.
 * - Failures are visible: while PostgreSQL is unreachable every call rejects with a BrokerError of
 *   code `backend_error`; pollers resume delivery when it is back.
 */
import type pg from 'pg';
import type {
  Broker,
  BrokerEventHandler,
  HistoryOptions,
  HistoryResult,
  Logger,
  PublishOptions,
  PublishResult,
} from '../../core/index.js';
import type { ClientInfo } from '../../protocol/types.js';
import { newStreamEpoch } from '../epoch.js';
import { BrokerError } from '../errors.js';
import { NotifyListener } from './notify-listener.js';
import { dropExpiredPartitions, ensureDailyPartitions } from './partitions.js';
import { checkIdentifier, createPool, type PgConnectionOptions } from './pool.js';
import { ShardPoller } from './stream-outbox.js';
import { intervalParam, payloadParam, rowEvent, rowPublication, streamColumns, type StreamRow } from './stream-rows.js';
import { checkStreamSchema, ensureStreamSchema, MAX_TABLE_PREFIX_LENGTH, reconcileShardLocks, streamNames, type StreamNames } from './stream-schema.js';

/** `broker.postgres` in the config's snake_case shape, durations in ms, plus what the server adds. */
export interface PostgresBrokerOptions extends PgConnectionOptions {
  num_shards?: number;
  cleanup_interval?: number;
  idempotent_result_ttl?: number;
  binary_data?: boolean;
  stream_retention?: number;
  use_notify?: boolean;
  notify_dsn?: string;
  table_prefix?: string;
  skip_schema_init?: boolean;
  outbox?: { poll_interval?: number; batch_size?: number };
  partition_lookahead_days?: number;
  partition_retention_days?: number;
  /** The node's `channel.history_meta_ttl` (ms), used when a publish or read gives no meta TTL. */
  defaultHistoryMetaTtlMs?: number;
  logger?: Logger;
}

const APP_NAME = 'gyre-stream-broker';
const DELETE_BATCH = 5000;

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && value > 0 ? value : fallback;
}

/** Outcome of one maintenance pass. */
export interface StreamMaintenanceResult {
  /** Partitions dropped for being older than partition_retention_days. */
  droppedPartitions: string[];
}

/** The stream broker described at the top of this file; `reliable`: pollers deliver every committed row in id order. */
export class PostgresBroker implements Broker {
  readonly reliable = true;
  /** Names of the tables and functions this broker uses (its variant). */
  readonly names: StreamNames;
  private readonly pool: pg.Pool;
  private readonly tablePrefix: string;
  private readonly numShards: number;
  private readonly binary: boolean;
  private readonly pollIntervalMs: number;
  private readonly batchSize: number;
  private readonly cleanupIntervalMs: number;
  private readonly idempotentTtlMs: number;
  private readonly metaTtlMs: number;
  private readonly lookaheadDays: number;
  private readonly retentionDays: number;
  private readonly logger: Logger | undefined;
  private handler: BrokerEventHandler | undefined;
  private readonly subscribed = new Set<string>();
  private pollers: ShardPoller[] = [];
  private listener: NotifyListener | undefined;
  private maintenanceTimer: NodeJS.Timeout | undefined;
  private maintaining: Promise<unknown> | undefined;
  private started = false;
  private closed = false;

  constructor(private readonly opts: PostgresBrokerOptions = {}) {
    const prefix = (opts.table_prefix || 'cf').replace(/_+$/, '');
    checkIdentifier(prefix, 'broker.postgres.table_prefix');
    if (prefix.length > MAX_TABLE_PREFIX_LENGTH) throw new BrokerError('backend_error', `broker.postgres.table_prefix: "${prefix}" is longer than ${MAX_TABLE_PREFIX_LENGTH} characters`);
    this.tablePrefix = prefix;
    this.binary = opts.binary_data === true;
    this.names = streamNames(prefix, this.binary);
    this.numShards = Math.floor(positive(opts.num_shards, 8));
    this.pollIntervalMs = positive(opts.outbox?.poll_interval, 100);
    this.batchSize = Math.floor(positive(opts.outbox?.batch_size, 1000));
    this.cleanupIntervalMs = positive(opts.cleanup_interval, 60_000);
    this.idempotentTtlMs = positive(opts.idempotent_result_ttl, 5 * 60_000);
    this.metaTtlMs = positive(opts.defaultHistoryMetaTtlMs, positive(opts.stream_retention, 24 * 3600_000));
    this.lookaheadDays = Math.floor(positive(opts.partition_lookahead_days, 2));
    this.retentionDays = Math.floor(opts.partition_retention_days ?? 7);
    this.logger = opts.logger;
    this.pool = createPool(opts, APP_NAME, opts.logger);
  }

  /**
   * Creates or checks the schema, pre-creates partitions, places each shard's cursor at its newest
   * row and starts the pollers, the LISTEN connection (use_notify) and the maintenance timer.
   * Publications committed after it resolves reach the handler. Rejects with `backend_error`.
   */
  async run(handler: BrokerEventHandler): Promise<void> {
    this.ensureOpen();
    if (this.started) throw new BrokerError('backend_error', 'postgres broker: run() was already called');
    this.started = true;
    this.handler = handler;
    let cursors: string[];
    try {
      if (this.opts.skip_schema_init) {
        await checkStreamSchema(this.pool, this.names);
        await reconcileShardLocks(this.pool, this.names, this.numShards);
        await ensureDailyPartitions(this.pool, this.names.stream, this.lookaheadDays).catch((err: unknown) => {
          this.logger?.warn({ err: (err as Error).message, table: this.names.stream }, 'postgres broker: could not create partitions (skip_schema_init)');
        });
      } else {
        await ensureStreamSchema(this.pool, this.tablePrefix, this.numShards, this.lookaheadDays);
      }
      cursors = await this.shardCursors();
    } catch (err) {
      throw new BrokerError('backend_error', `postgres broker: start failed: ${(err as Error).message}`, { cause: err });
    }
    if (this.closed) return;
    this.pollers = cursors.map(
      (cursor, shard) =>
        new ShardPoller({
          shard,
          cursor,
          pollIntervalMs: this.pollIntervalMs,
          batchSize: this.batchSize,
          fetch: (s, c, limit) => this.fetch(s, c, limit),
          deliver: (rows) => this.deliver(rows),
          ...(this.logger ? { logger: this.logger } : {}),
        }),
    );
    if (this.opts.use_notify) {
      this.listener = new NotifyListener({
        dsn: this.opts.notify_dsn || this.opts.dsn,
        ...(this.opts.tls ? { tls: this.opts.tls } : {}),
        channels: [this.names.notifyChannel],
        onNotify: (_channel, payload) => this.wake(payload),
        onConnected: () => this.wake(''),
        applicationName: `${APP_NAME}-listen`,
        ...(this.logger ? { logger: this.logger } : {}),
      });
      await this.listener.start();
    }
    this.maintenanceTimer = setInterval(() => {
      if (this.maintaining) return;
      this.maintaining = this.maintain()
        .catch((err: unknown) => this.logger?.warn({ err: (err as Error).message }, 'postgres broker: maintenance failed'))
        .finally(() => (this.maintaining = undefined));
    }, this.cleanupIntervalMs);
    this.maintenanceTimer.unref();
  }

  /** Starts delivering the channel's events to the handler. Idempotent. */
  async subscribe(channel: string): Promise<void> {
    this.ensureOpen();
    this.subscribed.add(channel);
  }

  /** Stops delivering the channel's events at once. Idempotent. */
  async unsubscribe(channel: string): Promise<void> {
    this.ensureOpen();
    this.subscribed.delete(channel);
  }

  /**
   * Calls `<p>publish`; the row is delivered by the pollers after it commits. Idempotent repeats and
   * version-suppressed publications resolve with `suppressed: true` and write nothing. Rejects with
   * `bad_data` for non-JSON payloads in JSONB mode, `backend_error` when PostgreSQL fails.
   */
  async publish(channel: string, data: Uint8Array, opts: PublishOptions): Promise<PublishResult> {
    this.ensureOpen();
    const n = this.names;
    const T = n.dataType;
    const history = (opts.historySize ?? 0) > 0 && (opts.historyTtlMs ?? 0) > 0;
    const info = opts.clientInfo;
    const tags = opts.tags && Object.keys(opts.tags).length > 0 ? JSON.stringify(opts.tags) : null;
    const values = [
      channel,
      payloadParam(data, this.binary, 'publication data'),
      tags,
      history ? intervalParam(opts.historyTtlMs) : null,
      history ? Math.floor(opts.historySize!) : null,
      history ? intervalParam(positive(opts.historyMetaTtlMs, this.metaTtlMs)) : null,
      opts.version && opts.version > 0 ? opts.version : null,
      opts.versionEpoch ?? null,
      opts.idempotencyKey || null,
      opts.idempotencyKey ? intervalParam(positive(opts.idempotentResultTtlMs, this.idempotentTtlMs)) : null,
      opts.delta === true,
      info ? info.client : null,
      info ? info.user : null,
      payloadParam(info?.conn_info, this.binary, 'client conn_info'),
      payloadParam(info?.chan_info, this.binary, 'client chan_info'),
      this.numShards,
    ];
    const text = `SELECT out_channel_offset::float8 AS o, out_epoch AS e, out_suppressed AS s, out_suppress_reason AS r FROM ${n.publish}(
      p_channel => $1, p_data => $2::${T}, p_tags => $3::jsonb, p_history_ttl => $4::interval, p_history_size => $5::int,
      p_meta_ttl => $6::interval, p_version => $7::bigint, p_version_epoch => $8::text, p_idempotency_key => $9::text,
      p_idempotency_ttl => $10::interval, p_use_delta => $11::boolean, p_client_id => $12::text, p_user_id => $13::text,
      p_conn_info => $14::${T}, p_chan_info => $15::${T}, p_num_shards => $16::int)`;
    const { rows } = await this.query<{ o: number; e: string; s: boolean; r: string | null }>('publish', text, values);
    const row = rows[0];
    if (!row) throw new BrokerError('backend_error', `postgres broker: ${n.publish} returned no row`);
    const position = { offset: row.o, epoch: row.e };
    if (!row.s) return { position, suppressed: false };
    return { position, suppressed: true, suppressReason: row.r === 'version' ? 'version' : 'idempotency' };
  }

  /** Writes a join row; nodes subscribed to the channel deliver it. */
  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    await this.joinLeave(this.names.publishJoin, channel, info);
  }

  /** Writes a leave row; nodes subscribed to the channel deliver it. */
  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    await this.joinLeave(this.names.publishLeave, channel, info);
  }

  /**
   * Reads history per subscriptions.md §1.10: creates the stream (new epoch, top 0) when its meta
   * is missing or expired and pushes the meta expiry to at least now + metaTtlMs; the channel's
   * last history size and TTL bound what is returned.
   */
  async history(channel: string, opts: HistoryOptions): Promise<HistoryResult> {
    this.ensureOpen();
    const n = this.names;
    const meta = await this.query<{ top: number; epoch: string; size: number; ttl_ms: number }>(
      'history_meta',
      `INSERT INTO ${n.meta} AS m (channel, top_offset, epoch, expires_at) VALUES ($1, 0, $2, now() + $3::interval)
       ON CONFLICT (channel) DO UPDATE SET
         top_offset = CASE WHEN m.expires_at <= now() THEN 0 ELSE m.top_offset END,
         epoch = CASE WHEN m.expires_at <= now() THEN EXCLUDED.epoch ELSE m.epoch END,
         top_version = CASE WHEN m.expires_at <= now() THEN 0 ELSE m.top_version END,
         top_version_epoch = CASE WHEN m.expires_at <= now() THEN '' ELSE m.top_version_epoch END,
         expires_at = CASE WHEN m.expires_at <= now() THEN EXCLUDED.expires_at ELSE GREATEST(m.expires_at, EXCLUDED.expires_at) END
       RETURNING m.top_offset::float8 AS top, m.epoch, m.history_size AS size, (extract(epoch FROM m.history_ttl) * 1000)::float8 AS ttl_ms`,
      [channel, newStreamEpoch(), intervalParam(positive(opts.metaTtlMs, this.metaTtlMs))],
    );
    const m = meta.rows[0]!;
    const position = { offset: m.top, epoch: m.epoch };
    const { limit, since, reverse } = opts.filter;
    if (limit === 0 || m.top === 0) return { publications: [], position };
    const windowStart = m.size > 0 ? Math.max(1, m.top - m.size + 1) : 1;
    let lo: number;
    let hi: number;
    if (!reverse) {
      lo = Math.max(since ? since.offset + 1 : 1, windowStart);
      hi = m.top;
    } else {
      lo = windowStart;
      hi = since ? since.offset - 1 : m.top;
      if (hi > m.top) return { publications: [], position };
    }
    if (lo > hi) return { publications: [], position };
    const { rows } = await this.query<StreamRow>(
      reverse ? 'history_rev' : 'history_fwd',
      `SELECT ${streamColumns(this.binary)} FROM ${n.stream} s
       WHERE s.channel = $1 AND s.epoch = $2 AND s.kind = 0 AND s.channel_offset BETWEEN $3 AND $4 AND s.created_at > now() - $5::interval
       ORDER BY s.channel_offset ${reverse ? 'DESC' : 'ASC'} LIMIT $6`,
      [channel, m.epoch, lo, hi, intervalParam(m.ttl_ms) ?? '0', limit < 0 ? null : limit],
    );
    return { publications: rows.map(rowPublication), position };
  }

  /** Deletes the channel's publications through `<p>remove_history`, keeping epoch and top offset. */
  async removeHistory(channel: string): Promise<void> {
    this.ensureOpen();
    await this.query('remove_history', `SELECT ${this.names.removeHistory}(p_channel => $1, p_num_shards => $2::int)`, [channel, this.numShards]);
  }

  /**
   * One maintenance pass (the timer runs it every cleanup_interval): creates the daily partitions
   * up to `nowMs` + partition_lookahead_days, drops those older than partition_retention_days, and
   * deletes expired idempotency and meta rows.
   */
  async maintain(nowMs = Date.now()): Promise<StreamMaintenanceResult> {
    this.ensureOpen();
    const n = this.names;
    await ensureDailyPartitions(this.pool, n.stream, this.lookaheadDays, nowMs);
    const droppedPartitions = this.retentionDays > 0 ? await dropExpiredPartitions(this.pool, n.stream, this.retentionDays, nowMs) : [];
    for (const table of [n.idempotency, n.meta]) {
      for (let i = 0; i < 100; i++) {
        const res = await this.pool.query(`DELETE FROM ${table} WHERE ctid IN (SELECT ctid FROM ${table} WHERE expires_at <= now() LIMIT ${DELETE_BATCH})`);
        if ((res.rowCount ?? 0) < DELETE_BATCH) break;
      }
    }
    return { droppedPartitions };
  }

  /** Stops pollers, the listener and the timer and closes the pool; later calls reject with `broker_closed`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handler = undefined;
    this.subscribed.clear();
    if (this.maintenanceTimer) clearInterval(this.maintenanceTimer);
    this.maintenanceTimer = undefined;
    await this.listener?.close();
    await Promise.all(this.pollers.map((p) => p.close()));
    this.pollers = [];
    await this.maintaining;
    await this.pool.end().catch(() => undefined);
  }

  private ensureOpen(): void {
    if (this.closed) throw new BrokerError('broker_closed', 'postgres broker is closed');
  }

  /** A query on the pool as a named prepared statement; PostgreSQL failures become BrokerErrors. */
  private async query<R extends pg.QueryResultRow>(label: string, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>({ name: `gyre_${this.names.prefix}${label}`, text, values });
    } catch (err) {
      if (this.closed) throw new BrokerError('broker_closed', 'postgres broker is closed', { cause: err });
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && code.startsWith('22')) {
        throw new BrokerError('bad_data', `postgres broker: ${label} refused the data: ${(err as Error).message}`, { cause: err });
      }
      throw new BrokerError('backend_error', `postgres broker: ${label} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  private async joinLeave(fn: string, channel: string, info: ClientInfo): Promise<void> {
    this.ensureOpen();
    const T = this.names.dataType;
    await this.query(
      fn === this.names.publishJoin ? 'join' : 'leave',
      `SELECT ${fn}(p_channel => $1, p_client_id => $2, p_user_id => $3, p_conn_info => $4::${T}, p_chan_info => $5::${T}, p_num_shards => $6::int)`,
      [channel, info.client, info.user, payloadParam(info.conn_info, this.binary, 'client conn_info'), payloadParam(info.chan_info, this.binary, 'client chan_info'), this.numShards],
    );
  }

  /** The newest id of every shard (text), where its poller starts. */
  private async shardCursors(): Promise<string[]> {
    const { rows } = await this.pool.query<{ shard: number; max: string }>(
      `SELECT g.s AS shard, COALESCE((SELECT max(id) FROM ${this.names.stream} WHERE shard_id = g.s), 0)::text AS max
       FROM generate_series(0, $1::int - 1) AS g(s) ORDER BY g.s`,
      [this.numShards],
    );
    return rows.map((r) => r.max);
  }

  private fetch(shard: number, cursor: string, limit: number): Promise<StreamRow[]> {
    return this.pool
      .query<StreamRow>({
        name: `gyre_${this.names.prefix}outbox`,
        // Qualified: the select list turns id into text, and ORDER BY must use the bigint column.
        text: `SELECT ${streamColumns(this.binary)} FROM ${this.names.stream} s WHERE s.shard_id = $1 AND s.id > $2::bigint ORDER BY s.id LIMIT $3`,
        values: [shard, cursor, limit],
      })
      .then((r) => r.rows);
  }

  private deliver(rows: StreamRow[]): void {
    const handler = this.handler;
    if (!handler) return;
    for (const row of rows) {
      if (!this.subscribed.has(row.channel)) continue;
      try {
        const e = rowEvent(row);
        if (e.kind === 'pub') handler.handlePublication(e.channel, e.pub, e.position, e.delta, e.prev);
        else if (e.kind === 'join') handler.handleJoin(e.channel, e.info);
        else handler.handleLeave(e.channel, e.info);
      } catch (err) {
        this.logger?.warn({ err, channel: row.channel, id: row.id }, 'postgres broker: delivery failed');
      }
    }
  }

  /** Wakes the poller of the shard named by a NOTIFY payload, or every poller. */
  private wake(payload: string): void {
    const shard = payload === '' ? NaN : Number(payload);
    const poller = Number.isInteger(shard) ? this.pollers[shard] : undefined;
    if (poller) poller.wake();
    else for (const p of this.pollers) p.wake();
  }
}
