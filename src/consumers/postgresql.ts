/**
 * PostgreSQL outbox consumer: polls an outbox table `(id, method, payload, partition)` with one
 * loop (and one connection) per partition. Each poll is a READ COMMITTED transaction holding the
 * partition's advisory lock (so nodes sharing the consumer name never run the same partition at
 * once): rows are read in id order, dispatched one after another, and the ones handled are
 * deleted in the same transaction. A row that fails with an internal error stops the batch; it
 * stays in the table and is retried after a growing delay, with the rows behind it waiting.
 */
import pg from 'pg';
import { LogLimiter, type Logger } from '../core/index.js';
import { retryDelayMs, type Consumer, type ConsumerState } from './consumer.js';
import type { Dispatcher } from './dispatcher.js';
import { PgListen } from './pg-listen.js';

export interface PostgresOutboxOptions {
  /** Consumer name: part of the advisory lock key. */
  name: string;
  /** Connection settings of the polling connections (DSN, TLS, application name). */
  connection: pg.ClientConfig;
  /** Connection settings of the LISTEN connection (`partition_notification_dsn`, else the DSN). */
  notifyConnection: pg.ClientConfig;
  /** `outbox_table_name`: `table` or `schema.table`; plain names fold to lower case as in SQL, `"Quoted"` parts are kept. */
  table: string;
  /** Partitions `0 .. numPartitions-1` are polled, each by its own loop. */
  numPartitions: number;
  /** Rows read per poll. */
  selectLimit: number;
  /** Wait between polls when the last one was not a full batch. */
  pollIntervalMs: number;
  /** LISTEN channel whose notifications (payload = partition number) trigger a poll at once; '' = none. */
  notificationChannel: string;
  /** Skip a partition whose lock another session holds instead of waiting for it. */
  useTryLock: boolean;
}

/** Connection-level retry delay: 200 ms doubling up to 5 s. */
const RECONNECT_MIN_MS = 200;
const RECONNECT_MAX_MS = 5_000;
/** `state()` counts pending rows at most this often. */
const PENDING_INTERVAL_MS = 5_000;
/** Pending rows are counted up to this many (the count stays cheap on a huge backlog). */
const PENDING_COUNT_CAP = 1_000_000;
/** How long close() waits for the batch in hand before cutting the connections. */
const CLOSE_WAIT_MS = 2_000;
const UNDEFINED_TABLE = '42P01';

/** pg type OIDs of json and jsonb: read as their text so the payload reaches the dispatcher verbatim. */
const JSON_OIDS = new Set([114, 3802]);
const rawJsonTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => (JSON_OIDS.has(oid) ? (v: string) => v : pg.types.getTypeParser(oid, format ?? 'text'))) as typeof pg.types.getTypeParser,
};

/**
 * The SQL spelling of `outbox_table_name`: one or two dot-separated parts, each a plain identifier
 * (folded to lower case, as PostgreSQL does with unquoted names) or a double-quoted one; every
 * part comes out quoted. Throws an Error naming the key for anything else.
 */
export function outboxTableIdentifier(name: string): string {
  const parts: string[] = [];
  let i = 0;
  for (;;) {
    let part: string;
    if (name[i] === '"') {
      let j = i + 1;
      part = '';
      for (;;) {
        const k = name.indexOf('"', j);
        if (k === -1) throw new Error(`outbox_table_name: unterminated quoted identifier in "${name}"`);
        part += name.slice(j, k);
        if (name[k + 1] === '"') {
          part += '"';
          j = k + 2;
        } else {
          i = k + 1;
          break;
        }
      }
      if (part === '') throw new Error(`outbox_table_name: empty quoted identifier in "${name}"`);
    } else {
      const m = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(name.slice(i));
      if (m === null) throw new Error(`outbox_table_name: "${name}" is not a table name (table or schema.table)`);
      part = m[0].toLowerCase();
      i += m[0].length;
    }
    parts.push(`"${part.replaceAll('"', '""')}"`);
    if (i === name.length) break;
    if (name[i] !== '.' || parts.length === 2) throw new Error(`outbox_table_name: "${name}" is not a table name (table or schema.table)`);
    i++;
  }
  return parts.join('.');
}

interface Row {
  id: string;
  method: string | null;
  payload: unknown;
}

/** The bytes of a payload column value: JSON text of json/jsonb (kept raw above), text, or bytea. */
function payloadBytes(v: unknown): Uint8Array {
  if (Buffer.isBuffer(v)) return v;
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  return Buffer.from(JSON.stringify(v ?? null), 'utf8');
}

/** One partition's loop state. */
interface Partition {
  readonly n: number;
  client: pg.Client | undefined;
  /** Ends the current idle wait early (a notification, or close). */
  wake: (() => void) | undefined;
  /** Ends the current backoff wait early (close only). */
  cancel: (() => void) | undefined;
  /** A notification arrived while the partition was busy: poll again without waiting. */
  notified: boolean;
  /** Consecutive internal failures of the head row: drives the retry delay. */
  failures: number;
  /** Consecutive connection or query failures: drives the reconnect delay. */
  errors: number;
  /** The loop has ended. */
  finished: boolean;
  done: Promise<void>;
}

type PollResult = 'full' | 'idle' | 'retry' | 'busy';

export class PostgresOutboxConsumer implements Consumer {
  readonly name: string;
  readonly type = 'postgresql';
  private readonly table: string;
  private readonly partitions: Partition[] = [];
  private readonly limiter: LogLimiter;
  private listener: PgListen | undefined;
  private closed = false;
  private started = false;
  private pending: number | undefined;
  private countedAt = 0;
  private counting: Promise<void> | undefined;
  private countPool: pg.Pool | undefined;

  constructor(
    private readonly opts: PostgresOutboxOptions,
    private readonly dispatcher: Dispatcher,
    private readonly logger: Logger,
  ) {
    this.name = opts.name;
    this.table = outboxTableIdentifier(opts.table);
    this.limiter = new LogLimiter(logger);
  }

  async start(): Promise<void> {
    if (this.started || this.closed) return;
    this.started = true;
    for (let n = 0; n < Math.max(1, this.opts.numPartitions); n++) {
      const p: Partition = { n, client: undefined, wake: undefined, cancel: undefined, notified: false, failures: 0, errors: 0, finished: false, done: Promise.resolve() };
      this.partitions.push(p);
      p.done = this.loop(p).finally(() => (p.finished = true));
    }
    if (this.opts.notificationChannel !== '') {
      this.listener = new PgListen({
        connection: this.opts.notifyConnection,
        channel: this.opts.notificationChannel,
        name: this.name,
        logger: this.logger,
        onNotify: (payload) => {
          const p = this.partitions[Number(payload.trim())];
          if (p !== undefined && /^\s*\d+\s*$/.test(payload)) this.poke(p);
        },
        // Notifications sent while the connection was down are lost: poll everything once.
        onConnected: () => this.partitions.forEach((p) => this.poke(p)),
        onLost: (reason) => this.dispatcher.stats.fail(`LISTEN ${this.opts.notificationChannel}: ${reason}`),
      });
      this.listener.start();
    }
    this.refreshPending();
  }

  /** Pending = rows of this consumer's partitions, counted at most every 5 s (when asked). */
  state(): ConsumerState {
    if (Date.now() - this.countedAt >= PENDING_INTERVAL_MS) this.refreshPending();
    return this.dispatcher.stats.snapshot(this.name, this.type, this.pending);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.dispatcher.stats.status = 'stopped';
    for (const p of this.partitions) {
      p.wake?.();
      p.cancel?.();
    }
    const all = Promise.all(this.partitions.map((p) => p.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((r) => (timer = setTimeout(r, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
    // A loop still waiting (on a lock, on a slow call) is cut off: its transaction rolls back.
    // A session waiting for a lock does not notice its socket closing, so its query is cancelled first.
    const stuck = this.partitions.filter((p) => !p.finished).map((p) => (p.client as { processID?: number } | undefined)?.processID);
    const pids = stuck.filter((pid): pid is number => typeof pid === 'number');
    if (pids.length > 0) {
      this.countPool ??= this.makeCountPool();
      await this.countPool.query('SELECT pg_cancel_backend(pid) FROM unnest($1::int[]) AS pid', [pids]).catch(() => undefined);
    }
    await Promise.all(this.partitions.map((p) => this.dropClient(p)));
    await all;
    await this.listener?.close();
    await this.counting;
    await this.countPool?.end().catch(() => undefined);
  }

  private poke(p: Partition): void {
    if (p.wake !== undefined) p.wake();
    else p.notified = true;
  }

  private async loop(p: Partition): Promise<void> {
    while (!this.closed) {
      let result: PollResult;
      try {
        result = await this.poll(p);
        p.errors = 0;
        this.dispatcher.stats.status = 'running';
      } catch (err) {
        if (this.closed) break;
        await this.pollFailed(p, err);
        continue;
      }
      if (result === 'full') continue;
      if (result === 'retry') {
        p.failures++;
        await this.sleep(p, retryDelayMs(p.failures), false);
        continue;
      }
      if (p.notified) {
        p.notified = false;
        continue;
      }
      await this.sleep(p, this.opts.pollIntervalMs, true);
    }
  }

  /** One transaction: lock the partition, read a batch, dispatch it in order, delete what was handled. */
  private async poll(p: Partition): Promise<PollResult> {
    const client = await this.clientOf(p);
    p.notified = false;
    await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
    let committed = false;
    try {
      const key = `centrifugo_partition_lock_${this.name}${p.n}`;
      if (this.opts.useTryLock) {
        const r = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock(hashtext($1)) AS locked', [key]);
        if (r.rows[0]?.locked !== true) return 'busy';
      } else {
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [key]);
      }
      const { rows } = await client.query<Row>({
        text: `SELECT id, method, payload, partition FROM ${this.table} WHERE partition = $1 ORDER BY id LIMIT ${Math.max(1, this.opts.selectLimit)}`,
        values: [p.n],
        types: rawJsonTypes,
      });
      const handled: string[] = [];
      let failed = false;
      for (const row of rows) {
        if (this.closed) break;
        const outcome = await this.dispatcher.dispatch(payloadBytes(row.payload), { [this.dispatcher.methodHeader]: row.method ?? '' });
        if (outcome.kind === 'retry') {
          failed = true;
          break;
        }
        handled.push(row.id);
        p.failures = 0;
      }
      if (handled.length > 0) await client.query(`DELETE FROM ${this.table} WHERE id = ANY($1::bigint[])`, [handled]);
      await client.query('COMMIT');
      committed = true;
      if (failed) return 'retry';
      return rows.length >= this.opts.selectLimit && handled.length === rows.length ? 'full' : 'idle';
    } finally {
      if (!committed) await client.query('ROLLBACK').catch(() => this.dropClient(p));
    }
  }

  private async pollFailed(p: Partition, err: unknown): Promise<void> {
    const code = (err as { code?: unknown }).code;
    const message = err instanceof Error ? err.message : String(err);
    p.errors = Math.min(p.errors + 1, 16);
    this.dispatcher.stats.status = 'reconnecting';
    if (code === UNDEFINED_TABLE) {
      this.dispatcher.stats.fail(`outbox table ${this.opts.table} does not exist`);
      this.limiter.log('error', { consumer: this.name, table: this.opts.table, err: message }, `postgresql outbox table "${this.opts.table}" does not exist; retrying`, `pg-table:${this.name}`);
    } else {
      this.dispatcher.stats.fail(`poll partition ${p.n}: ${message}`);
      this.limiter.log('warn', { consumer: this.name, partition: p.n, err: message }, 'postgresql outbox poll failed, retrying', `pg-poll:${this.name}`);
      // Anything but a plain SQL error may have left the connection unusable: open a new one.
      if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code) || code.startsWith('08') || code.startsWith('57')) await this.dropClient(p);
    }
    await this.sleep(p, Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** (p.errors - 1)), false);
  }

  private async clientOf(p: Partition): Promise<pg.Client> {
    if (p.client !== undefined) return p.client;
    const client = new pg.Client(this.opts.connection);
    // Errors also reject the query in progress; the listener only keeps them from crashing the process.
    client.on('error', (err) => {
      this.limiter.log('warn', { consumer: this.name, partition: p.n, err: err.message }, 'postgresql outbox connection error', `pg-conn:${this.name}`);
      if (p.client === client) {
        p.client = undefined;
        // An idle partition polls now instead of after its interval, so an outage shows at once.
        p.wake?.();
      }
      client.end().catch(() => undefined);
    });
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      throw new Error('consumer closed');
    }
    p.client = client;
    return client;
  }

  private async dropClient(p: Partition): Promise<void> {
    const c = p.client;
    p.client = undefined;
    await c?.end().catch(() => undefined);
  }

  /** Waits `ms`; close always ends the wait, a notification only when `pokable`. */
  private sleep(p: Partition, ms: number, pokable: boolean): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        p.wake = undefined;
        p.cancel = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      p.cancel = done;
      if (pokable) p.wake = done;
    });
  }

  private refreshPending(): void {
    if (this.closed || this.counting !== undefined) return;
    this.countedAt = Date.now();
    this.countPool ??= this.makeCountPool();
    const sql = `SELECT count(*)::int AS n FROM (SELECT 1 FROM ${this.table} WHERE partition >= 0 AND partition < $1 LIMIT ${PENDING_COUNT_CAP}) s`;
    this.counting = this.countPool
      .query<{ n: number }>(sql, [Math.max(1, this.opts.numPartitions)])
      .then(
        (r) => void (this.pending = r.rows[0]?.n),
        () => undefined,
      )
      .finally(() => (this.counting = undefined));
  }

  private makeCountPool(): pg.Pool {
    const pool = new pg.Pool({ ...this.opts.connection, max: 1, idleTimeoutMillis: 10_000 });
    pool.on('error', () => undefined);
    return pool;
  }
}
