import type pg from 'pg';
import type {
  Logger,
  MapBroker,
  MapBrokerEventHandler,
  MapChannelOptions,
  MapPublishOptions,
  MapReadStateOptions,
  MapReadStreamOptions,
  MapRemoveOptions,
  MapStateResult,
  MapStats,
  MapStreamResult,
  MapSuppressReason,
  MapUpdateResult,
} from '../../core/index.js';
import { mapHasStream } from '../../core/index.js';
import { BrokerError } from '../errors.js';
import { dataParam, msInterval, tagsParam } from './map-codec.js';
import { MapMaintenance } from './map-maintenance.js';
import { MapOutbox, type MapOutboxChange } from './map-outbox.js';
import { readMapState, readMapStream } from './map-reads.js';
import { checkMapSchema, ensureMapSchema, mapNames, type MapNames } from './map-schema.js';
import { NotifyListener } from './notify-listener.js';
import { checkIdentifier, createPool, inTransaction, type PgConnectionOptions } from './pool.js';
import { ensureDailyPartitions } from './partitions.js';

/** Options of the PostgreSQL map broker: the `map_broker.postgres` block (durations in ms). */
export interface PostgresMapBrokerOptions extends PgConnectionOptions {
  /** Delivery shards: channels hash to one; one poller per shard on every node. Default 8. */
  num_shards?: number;
  /** Period of maintenance (expired meta and idempotency rows, partitions). Default 1 min. */
  cleanup_interval?: number;
  /** Default lifetime of idempotency results. Default 5 min. */
  idempotent_result_ttl?: number;
  /** Keep data in the BYTEA tables (`<prefix>_binary_map_*`) instead of JSONB. */
  binary_data?: boolean;
  /** Accepted for compatibility; stream rows go with their daily partition. */
  stream_retention?: number;
  /** Wake pollers with LISTEN/NOTIFY besides polling. */
  use_notify?: boolean;
  /** DSN of the LISTEN connection (a direct one when `dsn` goes through a transaction pooler). */
  notify_dsn?: string;
  /** Prefix of tables and functions. Default `cf`. */
  table_prefix?: string;
  /** Do not create the schema; refuse to start when a table is missing. */
  skip_schema_init?: boolean;
  outbox?: { poll_interval?: number; batch_size?: number };
  /** Future daily stream partitions to keep created. Default 2. */
  partition_lookahead_days?: number;
  /** Days after which a stream partition is dropped; 0 keeps them. Default 7. */
  partition_retention_days?: number;
  /** Period of the key expiry pass; negative disables it. Default 1 s. */
  ttl_check_interval?: number;
  logger?: Logger;
}

const DEFAULTS = {
  numShards: 8,
  cleanupMs: 60_000,
  resultTtlMs: 5 * 60_000,
  pollMs: 100,
  batch: 1000,
  lookahead: 2,
  retention: 7,
  ttlCheckMs: 1000,
};

/** Longest table_prefix: PostgreSQL cuts identifiers at 63 bytes. */
const MAX_TABLE_PREFIX = 35;

function positive(v: number | undefined, fallback: number): number {
  return v !== undefined && v > 0 ? v : fallback;
}

interface WriteRow {
  channel_offset: string;
  epoch: string;
  suppressed: boolean;
  suppress_reason: string | null;
}

/**
 * MapBroker over PostgreSQL (subscriptions.md §5.1). Every write runs one SQL function
 * (`<prefix>_map_publish` / `_remove`, also callable by the application in its own transaction)
 * that changes state, meta and stream under the shard and channel locks; live delivery is an
 * outbox read by per-shard pollers on every node, so it follows stream order and loses nothing
 * while the database keeps the rows (`reliable`). Reads lock the channel's meta row, so a state
 * page and its position always agree. Keys past their TTL are removed by a pass every
 * `ttl_check_interval`, each removal streamed and delivered like an explicit one. An application
 * transaction that wrote a channel holds its locks until it ends: reads and writes of that channel
 * (and writes of its shard) wait for it.
 */
export class PostgresMapBroker implements MapBroker {
  readonly reliable = true;
  /** Names of the variant in use (JSONB or BYTEA tables). */
  readonly names: MapNames;
  private readonly tablePrefix: string;
  private readonly pool: pg.Pool;
  private readonly logger: Logger | undefined;
  private readonly numShards: number;
  private readonly resultTtlMs: number;
  private readonly outbox: MapOutbox;
  private readonly maintenance: MapMaintenance;
  private readonly subscribed = new Set<string>();
  private listener: NotifyListener | undefined;
  private handler: MapBrokerEventHandler | undefined;
  private started: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly opts: PostgresMapBrokerOptions = {}) {
    this.tablePrefix = checkIdentifier((opts.table_prefix ?? '').replace(/_+$/, '') || 'cf', 'map_broker.postgres.table_prefix');
    // The longest name derived from it, a stream partition `<prefix>_binary_map_stream_pYYYYMMDD`, must fit in 63 bytes.
    if (this.tablePrefix.length > MAX_TABLE_PREFIX) throw new Error(`map_broker.postgres.table_prefix: "${this.tablePrefix}" is longer than ${MAX_TABLE_PREFIX} characters`);
    this.names = mapNames(this.tablePrefix, opts.binary_data === true);
    this.logger = opts.logger;
    this.numShards = Math.floor(positive(opts.num_shards, DEFAULTS.numShards));
    this.resultTtlMs = positive(opts.idempotent_result_ttl, DEFAULTS.resultTtlMs);
    this.pool = createPool(opts, 'gyre-map-broker', opts.logger);
    this.outbox = new MapOutbox({
      pool: this.pool,
      table: this.names.stream,
      binary: this.names.binary,
      numShards: this.numShards,
      batchSize: Math.floor(positive(opts.outbox?.batch_size, DEFAULTS.batch)),
      pollIntervalMs: positive(opts.outbox?.poll_interval, DEFAULTS.pollMs),
      deliver: (c) => this.deliver(c),
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
    const ttlCheck = opts.ttl_check_interval ?? 0;
    this.maintenance = new MapMaintenance({
      pool: this.pool,
      names: this.names,
      partitionTables: [mapNames(this.tablePrefix, false).stream, mapNames(this.tablePrefix, true).stream],
      numShards: this.numShards,
      ttlCheckMs: ttlCheck < 0 ? 0 : positive(ttlCheck, DEFAULTS.ttlCheckMs),
      cleanupMs: positive(opts.cleanup_interval, DEFAULTS.cleanupMs),
      lookaheadDays: Math.floor(positive(opts.partition_lookahead_days, DEFAULTS.lookahead)),
      retentionDays: Math.floor(opts.partition_retention_days ?? DEFAULTS.retention),
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
  }

  /**
   * Creates (or, with skip_schema_init, checks) the schema, positions the outbox at the newest
   * rows and starts polling, LISTEN, key expiry and maintenance. Rejects when the database is
   * unreachable or the schema is missing.
   */
  async run(handler: MapBrokerEventHandler): Promise<void> {
    this.ensureOpen();
    this.handler = handler;
    this.started ??= this.start();
    await this.started;
  }

  private async start(): Promise<void> {
    const lookahead = Math.floor(positive(this.opts.partition_lookahead_days, DEFAULTS.lookahead));
    try {
      if (this.opts.skip_schema_init) {
        await checkMapSchema(this.pool, this.names);
        await ensureDailyPartitions(this.pool, this.names.stream, lookahead);
      } else {
        await ensureMapSchema(this.pool, this.tablePrefix, this.numShards, lookahead);
      }
      await this.outbox.start();
    } catch (err) {
      throw new BrokerError('backend_error', `postgres map broker start failed: ${(err as Error).message}`, { cause: err });
    }
    if (this.closed) return;
    if (this.opts.use_notify) {
      this.listener = new NotifyListener({
        ...(this.opts.notify_dsn || this.opts.dsn ? { dsn: this.opts.notify_dsn || this.opts.dsn } : {}),
        ...(this.opts.tls ? { tls: this.opts.tls } : {}),
        channels: [this.names.notifyChannel],
        onNotify: (_ch, payload) => this.outbox.wake(payload === '' ? undefined : Number(payload)),
        onConnected: () => this.outbox.wake(),
        applicationName: 'gyre-map-broker-listen',
        ...(this.logger ? { logger: this.logger } : {}),
      });
      await this.listener.start();
    }
    this.maintenance.start();
  }

  async subscribe(channel: string): Promise<void> {
    this.ensureOpen();
    this.subscribed.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.ensureOpen();
    this.subscribed.delete(channel);
  }

  /** Runs `<prefix>_map_publish` with named arguments; the change is delivered by the outbox after commit. */
  async publish(channel: string, key: string, opts: MapPublishOptions): Promise<MapUpdateResult> {
    if (key === '') throw new BrokerError('bad_key', 'map key must not be empty');
    await this.ready();
    const o = opts.channel;
    const stream = mapHasStream(o);
    const binary = this.names.binary;
    const D = binary ? 'bytea' : 'jsonb';
    const sql = `SELECT channel_offset, epoch, suppressed, suppress_reason FROM ${this.names.publish}(
      p_channel := $1, p_key := $2, p_data := $3::${D}, p_tags := $4::jsonb, p_key_ttl := ${msInterval('$5')},
      p_meta_ttl := ${msInterval('$6')}, p_key_mode := $7, p_key_version := $8::bigint, p_key_version_epoch := $9,
      p_idempotency_key := $10, p_idempotency_ttl := ${msInterval('$11')}, p_use_delta := $12, p_client_id := $13,
      p_user_id := $14, p_conn_info := $15::${D}, p_chan_info := $16::${D}, p_refresh_ttl_on_suppress := $17,
      p_num_shards := $18, p_stream_size := $19::int, p_stream_ttl := ${msInterval('$20')})`;
    const version = stream && opts.version && opts.version > 0 ? opts.version : null;
    const info = opts.clientInfo;
    return this.write('publish', sql, [
      channel,
      key,
      dataParam(opts.data, binary),
      tagsParam(opts.tags),
      ttl(o.keyTtlMs),
      ttl(o.metaTtlMs),
      opts.keyMode || null,
      version,
      version !== null && opts.versionEpoch ? opts.versionEpoch : null,
      opts.idempotencyKey || null,
      opts.idempotencyKey ? positive(opts.idempotentResultTtlMs, this.resultTtlMs) : null,
      opts.delta === true,
      info ? info.client : null,
      info ? info.user : null,
      dataParam(info?.conn_info, binary),
      dataParam(info?.chan_info, binary),
      opts.refreshTtlOnSuppress === true,
      this.numShards,
      stream ? Math.floor(o.streamSize) : 0,
      stream ? o.streamTtlMs : null,
    ]);
  }

  /** Runs `<prefix>_map_remove`; an absent key (or channel) is suppressed with `key_not_found`. */
  async remove(channel: string, key: string, opts: MapRemoveOptions): Promise<MapUpdateResult> {
    if (key === '') throw new BrokerError('bad_key', 'map key must not be empty');
    await this.ready();
    const o = opts.channel;
    const stream = mapHasStream(o);
    const sql = `SELECT channel_offset, epoch, suppressed, suppress_reason FROM ${this.names.remove}(
      p_channel := $1, p_key := $2, p_meta_ttl := ${msInterval('$3')}, p_idempotency_key := $4,
      p_idempotency_ttl := ${msInterval('$5')}, p_num_shards := $6, p_tags := $7::jsonb,
      p_stream_size := $8::int, p_stream_ttl := ${msInterval('$9')})`;
    return this.write('remove', sql, [
      channel,
      key,
      ttl(o.metaTtlMs),
      opts.idempotencyKey || null,
      opts.idempotencyKey ? positive(opts.idempotentResultTtlMs, this.resultTtlMs) : null,
      this.numShards,
      opts.tags ? JSON.stringify(opts.tags) : null,
      stream ? Math.floor(o.streamSize) : 0,
      stream ? o.streamTtlMs : null,
    ]);
  }

  async readState(channel: string, opts: MapReadStateOptions): Promise<MapStateResult> {
    await this.ready();
    try {
      return await inTransaction(this.pool, (c) => readMapState(c, this.names, channel, opts, metaTtl(opts.channel)));
    } catch (err) {
      throw backendError('postgres map state read failed', err);
    }
  }

  async readStream(channel: string, opts: MapReadStreamOptions): Promise<MapStreamResult> {
    await this.ready();
    try {
      return await inTransaction(this.pool, (c) => readMapStream(c, this.names, channel, opts, metaTtl(opts.channel)));
    } catch (err) {
      throw backendError('postgres map stream read failed', err);
    }
  }

  /** Counts the keys of a live channel (one idle past its meta TTL has none); never creates it. */
  async stats(channel: string): Promise<MapStats> {
    await this.ready();
    try {
      const { rows } = await this.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${this.names.state} s WHERE s.channel = $1 AND EXISTS (
           SELECT 1 FROM ${this.names.meta} m WHERE m.channel = $1 AND (m.expires_at IS NULL OR m.expires_at > NOW()))`,
        [channel],
      );
      return { numKeys: rows[0]?.n ?? 0 };
    } catch (err) {
      throw backendError('postgres map stats failed', err);
    }
  }

  /**
   * Drops state, meta and idempotency results of the channel without removal publications. Its
   * stream rows stay until their partition goes (changes not yet delivered still are), unreadable
   * under the next epoch.
   */
  async clear(channel: string): Promise<void> {
    await this.ready();
    const n = this.names;
    try {
      await inTransaction(this.pool, async (c) => {
        await c.query(`SELECT 1 FROM ${n.meta} WHERE channel = $1 FOR UPDATE`, [channel]);
        await c.query(`DELETE FROM ${n.state} WHERE channel = $1`, [channel]);
        await c.query(`DELETE FROM ${n.idempotency} WHERE channel = $1`, [channel]);
        await c.query(`DELETE FROM ${n.meta} WHERE channel = $1`, [channel]);
      });
    } catch (err) {
      throw backendError('postgres map clear failed', err);
    }
  }

  /** One key expiry pass now (the timer runs it every ttl_check_interval); removals are delivered by the outbox. */
  async expireKeys(): Promise<number> {
    await this.ready();
    return this.maintenance.expireKeys();
  }

  /** One maintenance pass now: partitions, expired meta and idempotency rows. */
  async cleanup(): Promise<void> {
    await this.ready();
    await this.maintenance.cleanup();
  }

  /** Stops pollers, timers and LISTEN, then closes every connection; later calls reject with `broker_closed`. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handler = undefined;
    this.subscribed.clear();
    await this.started?.catch(() => undefined);
    await this.maintenance.close();
    await this.outbox.close();
    await this.listener?.close();
    await this.pool.end().catch(() => undefined);
  }

  private deliver(c: MapOutboxChange): void {
    const h = this.handler;
    if (!h || !this.subscribed.has(c.channel)) return;
    h.handleMapPublication(c.channel, c.pub, c.position, c.delta, c.prev);
  }

  private async write(op: string, sql: string, params: unknown[]): Promise<MapUpdateResult> {
    let row: WriteRow | undefined;
    try {
      row = (await this.pool.query<WriteRow>(sql, params)).rows[0];
    } catch (err) {
      throw backendError(`postgres map ${op} failed`, err);
    }
    if (!row) throw new BrokerError('backend_error', `postgres map ${op} returned no row`);
    const reason = (row.suppress_reason ?? '') as MapSuppressReason;
    return { position: { offset: Number(row.channel_offset), epoch: row.epoch }, suppressed: row.suppressed, suppressReason: row.suppressed ? reason : '' };
  }

  private ensureOpen(): void {
    if (this.closed) throw new BrokerError('broker_closed', 'postgres map broker is closed');
  }

  private async ready(): Promise<void> {
    this.ensureOpen();
    if (this.started) await this.started;
  }
}

function ttl(ms: number): number | null {
  return ms > 0 ? ms : null;
}

function metaTtl(o: MapChannelOptions): number | null {
  return ttl(o.metaTtlMs);
}

function backendError(message: string, err: unknown): BrokerError {
  return new BrokerError('backend_error', `${message}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
