/**
 * Schema of the PostgreSQL map broker: tables, functions (map-functions.ts) and their version.
 * Two variants always exist side by side, as Centrifugo creates them: `<table_prefix>_map_*`
 * keeps data as JSONB and `<table_prefix>_binary_map_*` as BYTEA; `binary_data` picks the one a
 * broker uses. Table shapes are Centrifugo's plus a few columns Gyre needs (stream bounds in
 * meta, `use_delta` in the stream); keys sort byte-wise (COLLATE "C") for state paging.
 */
import type pg from 'pg';
import { MAP_FUNCTIONS_SQL } from './map-functions.js';
import { ensureDailyPartitions } from './partitions.js';
import { inTransaction } from './pool.js';

/** Version of the map schema this build creates; a database at a higher version is refused. */
export const MAP_SCHEMA_VERSION = 1;

/** Table, function and NOTIFY channel names of one variant. */
export interface MapNames {
  /** `<table_prefix>_map_` or `<table_prefix>_binary_map_`. */
  prefix: string;
  binary: boolean;
  stream: string;
  state: string;
  meta: string;
  idempotency: string;
  shardLock: string;
  schemaVersion: string;
  publish: string;
  remove: string;
  expireKeys: string;
  lockMeta: string;
  notifyChannel: string;
}

/** Names of the variant `binary` selects, for a table prefix already checked as an identifier. */
export function mapNames(tablePrefix: string, binary: boolean): MapNames {
  const prefix = `${tablePrefix.toLowerCase()}_${binary ? 'binary_' : ''}map_`;
  return {
    prefix,
    binary,
    stream: `${prefix}stream`,
    state: `${prefix}state`,
    meta: `${prefix}meta`,
    idempotency: `${prefix}idempotency`,
    shardLock: `${prefix}shard_lock`,
    schemaVersion: `${prefix}schema_version`,
    publish: `${prefix}publish`,
    remove: `${prefix}remove`,
    expireKeys: `${prefix}expire_keys`,
    lockMeta: `${prefix}lock_meta`,
    notifyChannel: `${prefix}stream_notify`,
  };
}

const TABLES_SQL = `
CREATE TABLE IF NOT EXISTS __P__stream (
    id              BIGSERIAL,
    channel         TEXT NOT NULL,
    channel_offset  BIGINT NOT NULL,
    epoch           TEXT NOT NULL DEFAULT '',
    key             TEXT COLLATE "C" NOT NULL,
    data            __D__,
    tags            JSONB,
    client_id       TEXT,
    user_id         TEXT,
    conn_info       __D__,
    chan_info       __D__,
    removed         BOOLEAN DEFAULT FALSE,
    prev_data       __D__,
    use_delta       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    shard_id        SMALLINT NOT NULL DEFAULT 0,
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX IF NOT EXISTS __P__stream_channel_epoch_offset_idx ON __P__stream (channel, epoch, channel_offset);
CREATE INDEX IF NOT EXISTS __P__stream_shard_id_idx ON __P__stream (shard_id, id);

CREATE TABLE IF NOT EXISTS __P__state (
    channel             TEXT NOT NULL,
    key                 TEXT COLLATE "C" NOT NULL,
    data                __D__,
    tags                JSONB,
    client_id           TEXT,
    user_id             TEXT,
    conn_info           __D__,
    chan_info           __D__,
    key_version         BIGINT DEFAULT 0,
    key_version_epoch   TEXT,
    key_offset          BIGINT NOT NULL,
    expires_at          TIMESTAMPTZ,
    created_at          TIMESTAMPTZ DEFAULT NOW(),
    updated_at          TIMESTAMPTZ DEFAULT NOW(),
    PRIMARY KEY (channel, key)
);
CREATE INDEX IF NOT EXISTS __P__state_expires_idx ON __P__state (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS __P__meta (
    channel           TEXT PRIMARY KEY,
    top_offset        BIGINT NOT NULL DEFAULT 0,
    epoch             TEXT NOT NULL DEFAULT '',
    created_at        TIMESTAMPTZ DEFAULT NOW(),
    updated_at        TIMESTAMPTZ DEFAULT NOW(),
    expires_at        TIMESTAMPTZ,
    stream_size       INTEGER,
    stream_ttl        INTERVAL,
    stream_start      BIGINT NOT NULL DEFAULT 1,
    stream_expires_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS __P__meta_expires_idx ON __P__meta (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS __P__idempotency (
    channel         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    result_offset   BIGINT NOT NULL,
    result_epoch    TEXT NOT NULL,
    result_id       BIGINT NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (channel, idempotency_key)
);
CREATE INDEX IF NOT EXISTS __P__idempotency_expires_idx ON __P__idempotency (expires_at);

CREATE TABLE IF NOT EXISTS __P__shard_lock (
    shard_id SMALLINT PRIMARY KEY
);

CREATE TABLE IF NOT EXISTS __P__schema_version (
    id              INTEGER PRIMARY KEY,
    schema_version  INTEGER NOT NULL
);
`;

/** The DDL and functions of one variant, ready to run. */
export function renderMapSchema(names: MapNames): string {
  return (TABLES_SQL + MAP_FUNCTIONS_SQL).replaceAll('__P__', names.prefix).replaceAll('__D__', names.binary ? 'BYTEA' : 'JSONB');
}

/** The tables a working map schema has, in the order they are checked. */
export function mapTables(names: MapNames): string[] {
  return [names.stream, names.state, names.meta, names.idempotency, names.shardLock, names.schemaVersion];
}

/**
 * Creates or upgrades both variants under a transaction-scoped advisory lock (nodes starting
 * together create the schema once), keeps exactly `numShards` shard lock rows, pre-creates the
 * stream partitions and records the version. Rejects a database whose schema is newer.
 */
export async function ensureMapSchema(pool: pg.Pool, tablePrefix: string, numShards: number, lookaheadDays: number): Promise<void> {
  const variants = [mapNames(tablePrefix, false), mapNames(tablePrefix, true)];
  await inTransaction(pool, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`gyre_map_schema_${variants[0]!.prefix}`]);
    for (const names of variants) {
      const current = await readVersion(c, names);
      if (current !== undefined && current > MAP_SCHEMA_VERSION) {
        throw new Error(`${names.schemaVersion}: database schema version ${current} is newer than this build's ${MAP_SCHEMA_VERSION}`);
      }
      if (current !== MAP_SCHEMA_VERSION || !(await tableExists(c, names.stream))) await c.query(renderMapSchema(names));
      await c.query(`INSERT INTO ${names.shardLock} (shard_id) SELECT generate_series(0, $1::int - 1) ON CONFLICT DO NOTHING`, [numShards]);
      await c.query(`DELETE FROM ${names.shardLock} WHERE shard_id >= $1`, [numShards]);
      await c.query(
        `INSERT INTO ${names.schemaVersion} (id, schema_version) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET schema_version = EXCLUDED.schema_version`,
        [MAP_SCHEMA_VERSION],
      );
    }
  });
  for (const names of variants) await ensureDailyPartitions(pool, names.stream, lookaheadDays);
}

/**
 * For `skip_schema_init`: checks that every table of the variant exists and that its version is
 * this build's, else rejects with an error naming the first missing table or the version found.
 */
export async function checkMapSchema(pool: pg.Pool, names: MapNames): Promise<void> {
  for (const table of mapTables(names)) {
    if (!(await tableExists(pool, table))) {
      throw new Error(`map_broker.postgres: table "${table}" does not exist and skip_schema_init is set; start once without skip_schema_init to create the schema`);
    }
  }
  const v = await readVersion(pool, names);
  if (v !== MAP_SCHEMA_VERSION) {
    throw new Error(`map_broker.postgres: ${names.schemaVersion} holds version ${v ?? 'none'}, this build needs ${MAP_SCHEMA_VERSION}; start once without skip_schema_init to upgrade`);
  }
}

async function tableExists(q: Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>, table: string): Promise<boolean> {
  const { rows } = await q.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [table]);
  return rows[0]?.t != null;
}

async function readVersion(q: Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>, names: MapNames): Promise<number | undefined> {
  if (!(await tableExists(q, names.schemaVersion))) return undefined;
  const { rows } = await q.query<{ v: number }>(`SELECT schema_version AS v FROM ${names.schemaVersion} WHERE id = 1`);
  return rows[0]?.v;
}
