/**
 * Tables and SQL functions of the PostgreSQL stream broker, with Centrifugo's names, argument
 * names, argument order, defaults and result columns (`<table_prefix>_stream_publish(p_channel,
 * p_data, ...)`). Two variants always exist side by side: JSONB payload columns under
 * `<table_prefix>_stream_*` and BYTEA ones under `<table_prefix>_binary_stream_*`.
 *
 * Publishing takes the row of its shard in `<p>shard_lock` FOR UPDATE and keeps it until its
 * transaction ends, so within one shard stream ids are assigned in commit order and a poller that
 * reads `id > cursor` never skips a row that commits later. A publication keeps history only when
 * both `p_history_size` and `p_history_ttl` are positive; otherwise it is delivered live with offset
 * 0 and no meta row is written (Gyre's Broker contract). The schema is versioned per variant in
 * `<p>schema_version`; a newer version runs `MIGRATIONS` before the (idempotent) DDL.
 */
import type pg from 'pg';
import { ensureDailyPartitions } from './partitions.js';
import { inTransaction, type PgQueryable } from './pool.js';

/** Version of the objects below; bump it (and add a MIGRATIONS entry when needed) on any change. */
export const STREAM_SCHEMA_VERSION = 2;

/**
 * SQL run, in order, to bring a variant from version n-1 to n before the DDL below is applied.
 * Each entry receives the variant's names; the DDL itself (CREATE ... IF NOT EXISTS, CREATE OR
 * REPLACE FUNCTION) then brings functions and missing objects up to date.
 */
export const MIGRATIONS: Readonly<Record<number, (n: StreamNames) => string>> = {};

/** Names of one variant's tables, functions and NOTIFY channel. */
export interface StreamNames {
  /** `cf_stream_` or `cf_binary_stream_`: the prefix of every name below but the stream table. */
  readonly prefix: string;
  readonly binary: boolean;
  /** Payload column type: JSONB or BYTEA. */
  readonly dataType: 'JSONB' | 'BYTEA';
  /** The partitioned stream table: `cf_stream` or `cf_binary_stream`. */
  readonly stream: string;
  readonly meta: string;
  readonly idempotency: string;
  readonly shardLock: string;
  readonly schemaVersion: string;
  readonly publish: string;
  readonly publishStrict: string;
  readonly publishJoin: string;
  readonly publishLeave: string;
  readonly removeHistory: string;
  readonly topPosition: string;
  readonly newEpoch: string;
  readonly shardOf: string;
  readonly notifyChannel: string;
}

/** Longest table_prefix that keeps every derived name within PostgreSQL's 63-byte identifiers. */
export const MAX_TABLE_PREFIX_LENGTH = 32;

/** The names of the JSONB (`binary` false) or BYTEA variant for a `table_prefix` (already checked). */
export function streamNames(tablePrefix: string, binary: boolean): StreamNames {
  const p = `${tablePrefix}_${binary ? 'binary_' : ''}stream_`;
  return {
    prefix: p,
    binary,
    dataType: binary ? 'BYTEA' : 'JSONB',
    stream: p.slice(0, -1),
    meta: `${p}meta`,
    idempotency: `${p}idempotency`,
    shardLock: `${p}shard_lock`,
    schemaVersion: `${p}schema_version`,
    publish: `${p}publish`,
    publishStrict: `${p}publish_strict`,
    publishJoin: `${p}publish_join`,
    publishLeave: `${p}publish_leave`,
    removeHistory: `${p}remove_history`,
    topPosition: `${p}top_position`,
    newEpoch: `${p}new_epoch`,
    shardOf: `${p}shard_of`,
    notifyChannel: `${p}notify`,
  };
}

/** Tables and indexes of one variant (idempotent). */
function tablesDdl(n: StreamNames): string {
  const T = n.dataType;
  return `
CREATE TABLE IF NOT EXISTS ${n.stream} (
  id BIGSERIAL,
  channel TEXT NOT NULL,
  channel_offset BIGINT NOT NULL,
  epoch TEXT NOT NULL DEFAULT '',
  kind SMALLINT NOT NULL DEFAULT 0,
  data ${T},
  tags JSONB,
  client_id TEXT,
  user_id TEXT,
  conn_info ${T},
  chan_info ${T},
  prev_data ${T},
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  shard_id SMALLINT NOT NULL DEFAULT 0,
  use_delta BOOLEAN NOT NULL DEFAULT FALSE,
  PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
ALTER TABLE ${n.stream} ADD COLUMN IF NOT EXISTS use_delta BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX IF NOT EXISTS ${n.stream}_ceo_idx ON ${n.stream} (channel, epoch, channel_offset) WHERE kind = 0;
CREATE INDEX IF NOT EXISTS ${n.stream}_shard_idx ON ${n.stream} (shard_id, id);
CREATE INDEX IF NOT EXISTS ${n.stream}_created_idx ON ${n.stream} (created_at);

CREATE TABLE IF NOT EXISTS ${n.meta} (
  channel TEXT PRIMARY KEY,
  top_offset BIGINT NOT NULL DEFAULT 0,
  epoch TEXT NOT NULL DEFAULT '',
  history_ttl INTERVAL NOT NULL DEFAULT interval '1 minute',
  history_size INTEGER NOT NULL DEFAULT 100,
  top_version BIGINT NOT NULL DEFAULT 0,
  top_version_epoch TEXT NOT NULL DEFAULT '',
  expires_at TIMESTAMPTZ NOT NULL DEFAULT NOW() + interval '7 days',
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS ${n.meta}_expires_idx ON ${n.meta} (expires_at);
ALTER TABLE ${n.meta} SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_vacuum_threshold = 100, autovacuum_analyze_scale_factor = 0.05);

CREATE TABLE IF NOT EXISTS ${n.idempotency} (
  channel TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  result_offset BIGINT NOT NULL,
  result_epoch TEXT NOT NULL,
  result_id BIGINT NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (channel, idempotency_key)
);
CREATE INDEX IF NOT EXISTS ${n.idempotency}_expires_idx ON ${n.idempotency} (expires_at);

CREATE TABLE IF NOT EXISTS ${n.shardLock} (shard_id SMALLINT PRIMARY KEY);

CREATE TABLE IF NOT EXISTS ${n.schemaVersion} (id INTEGER PRIMARY KEY, schema_version INTEGER NOT NULL);
`;
}

/** The publish argument list (Centrifugo's order and defaults). */
function publishArgs(T: string): string {
  return `p_channel TEXT, p_data ${T}, p_tags JSONB DEFAULT NULL, p_history_ttl INTERVAL DEFAULT NULL,
  p_history_size INTEGER DEFAULT NULL, p_meta_ttl INTERVAL DEFAULT NULL, p_version BIGINT DEFAULT NULL,
  p_version_epoch TEXT DEFAULT NULL, p_idempotency_key TEXT DEFAULT NULL, p_idempotency_ttl INTERVAL DEFAULT NULL,
  p_use_delta BOOLEAN DEFAULT FALSE, p_client_id TEXT DEFAULT NULL, p_user_id TEXT DEFAULT NULL,
  p_conn_info ${T} DEFAULT NULL, p_chan_info ${T} DEFAULT NULL, p_num_shards INTEGER DEFAULT NULL`;
}

/** Functions of one variant (CREATE OR REPLACE). */
function functionsDdl(n: StreamNames): string {
  const T = n.dataType;
  return `
-- Eight random letters. PL/pgSQL rather than SQL: a SQL function is parsed and planned on every call.
CREATE OR REPLACE FUNCTION ${n.newEpoch}() RETURNS TEXT LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  v_epoch TEXT := '';
BEGIN
  FOR i IN 1..8 LOOP
    v_epoch := v_epoch || substr('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ', 1 + floor(random() * 52)::int, 1);
  END LOOP;
  RETURN v_epoch;
END
$fn$;

-- Shard of a channel; a NULL count means the number of shard_lock rows. Locks the shard's row
-- until the calling transaction ends, which keeps stream ids in commit order per shard.
CREATE OR REPLACE FUNCTION ${n.shardOf}(p_channel TEXT, p_num_shards INTEGER) RETURNS INTEGER LANGUAGE plpgsql AS $fn$
DECLARE
  v_n INTEGER := p_num_shards;
  v_shard INTEGER;
BEGIN
  IF v_n IS NULL THEN
    SELECT count(*)::INTEGER INTO v_n FROM ${n.shardLock};
  END IF;
  IF v_n IS NULL OR v_n <= 0 THEN
    RAISE EXCEPTION '${n.shardLock} is empty: the stream broker schema was not initialised';
  END IF;
  v_shard := (abs(hashtext(p_channel)::BIGINT) % v_n)::INTEGER;
  PERFORM 1 FROM ${n.shardLock} WHERE shard_id = v_shard FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION '${n.shardLock} has no row for shard %: num_shards does not match the schema', v_shard;
  END IF;
  RETURN v_shard;
END
$fn$;

-- Publishes one publication. History is kept only when p_history_size > 0 and p_history_ttl > 0;
-- p_meta_ttl NULL means 24 hours, negative means never expire, and the meta row always lives at
-- least p_history_ttl. Suppressed (idempotency, version) publications write nothing.
-- The shard lock of ${n.shardOf} is taken inline (one function call less). The common case (a live
-- meta row, no version suppression) costs one UPDATE of the meta row; a missing or expired row,
-- or a publication the version check may suppress, takes the general path: lock or create the
-- row, check, then update it.
CREATE OR REPLACE FUNCTION ${n.publish}(
  ${publishArgs(T)}
) RETURNS TABLE(out_result_id BIGINT, out_channel_offset BIGINT, out_epoch TEXT, out_suppressed BOOLEAN, out_suppress_reason TEXT)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_n INTEGER := p_num_shards;
  v_shard INTEGER;
  v_expires TIMESTAMPTZ;
  v_offset BIGINT := 0;
  v_epoch TEXT := '';
  v_version BIGINT;
  v_version_epoch TEXT;
  v_prev ${T};
  v_id BIGINT;
BEGIN
  IF v_n IS NULL THEN
    SELECT count(*)::INTEGER INTO v_n FROM ${n.shardLock};
  END IF;
  IF v_n IS NULL OR v_n <= 0 THEN
    RAISE EXCEPTION '${n.shardLock} is empty: the stream broker schema was not initialised';
  END IF;
  v_shard := (abs(hashtext(p_channel)::BIGINT) % v_n)::INTEGER;
  PERFORM 1 FROM ${n.shardLock} WHERE shard_id = v_shard FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION '${n.shardLock} has no row for shard %: num_shards does not match the schema', v_shard;
  END IF;

  IF p_idempotency_key IS NOT NULL THEN
    SELECT i.result_offset, i.result_epoch INTO out_channel_offset, out_epoch FROM ${n.idempotency} i
     WHERE i.channel = p_channel AND i.idempotency_key = p_idempotency_key AND i.expires_at > now();
    IF FOUND THEN
      out_suppressed := TRUE;
      out_suppress_reason := 'idempotency';
      RETURN NEXT;
      RETURN;
    END IF;
  END IF;

  IF COALESCE(p_history_size, 0) > 0 AND COALESCE(p_history_ttl, interval '0') > interval '0' THEN
    IF p_meta_ttl IS NOT NULL AND p_meta_ttl < interval '0' THEN
      v_expires := 'infinity';
    ELSE
      v_expires := now() + GREATEST(COALESCE(NULLIF(p_meta_ttl, interval '0'), interval '24 hours'), p_history_ttl);
    END IF;
    -- Common case: a live row this publication is not suppressed by.
    UPDATE ${n.meta} AS m SET
      top_offset = m.top_offset + 1,
      history_ttl = p_history_ttl,
      history_size = p_history_size,
      top_version = CASE WHEN COALESCE(p_version, 0) > 0 THEN p_version ELSE m.top_version END,
      top_version_epoch = CASE WHEN COALESCE(p_version, 0) > 0 THEN COALESCE(p_version_epoch, '') ELSE m.top_version_epoch END,
      expires_at = v_expires,
      updated_at = now()
    WHERE m.channel = p_channel AND m.expires_at > now()
      AND NOT (COALESCE(p_version, 0) > 0 AND m.top_version > 0 AND p_version <= m.top_version
               AND (COALESCE(p_version_epoch, '') = '' OR p_version_epoch = m.top_version_epoch))
    RETURNING m.top_offset, m.epoch INTO v_offset, v_epoch;

    IF NOT FOUND THEN
      -- Lock (or create) the meta row; an expired one starts over with a new epoch.
      INSERT INTO ${n.meta} AS m (channel, top_offset, epoch, history_ttl, history_size, expires_at)
      VALUES (p_channel, 0, ${n.newEpoch}(), p_history_ttl, p_history_size, v_expires)
      ON CONFLICT (channel) DO UPDATE SET
        top_offset = CASE WHEN m.expires_at <= now() THEN 0 ELSE m.top_offset END,
        epoch = CASE WHEN m.expires_at <= now() THEN EXCLUDED.epoch ELSE m.epoch END,
        top_version = CASE WHEN m.expires_at <= now() THEN 0 ELSE m.top_version END,
        top_version_epoch = CASE WHEN m.expires_at <= now() THEN '' ELSE m.top_version_epoch END
      RETURNING m.top_offset, m.epoch, m.top_version, m.top_version_epoch INTO v_offset, v_epoch, v_version, v_version_epoch;

      IF COALESCE(p_version, 0) > 0 AND v_version > 0 AND p_version <= v_version
         AND (COALESCE(p_version_epoch, '') = '' OR p_version_epoch = v_version_epoch) THEN
        out_channel_offset := v_offset;
        out_epoch := v_epoch;
        out_suppressed := TRUE;
        out_suppress_reason := 'version';
        RETURN NEXT;
        RETURN;
      END IF;

      UPDATE ${n.meta} AS m SET
        top_offset = m.top_offset + 1,
        history_ttl = p_history_ttl,
        history_size = p_history_size,
        top_version = CASE WHEN COALESCE(p_version, 0) > 0 THEN p_version ELSE m.top_version END,
        top_version_epoch = CASE WHEN COALESCE(p_version, 0) > 0 THEN COALESCE(p_version_epoch, '') ELSE m.top_version_epoch END,
        expires_at = v_expires,
        updated_at = now()
      WHERE m.channel = p_channel
      RETURNING m.top_offset INTO v_offset;
    END IF;

    -- v_offset is the new top: the previous publication, if any, is the one just below it.
    IF p_use_delta AND v_offset > 1 THEN
      SELECT s.data INTO v_prev FROM ${n.stream} s
       WHERE s.channel = p_channel AND s.epoch = v_epoch AND s.kind = 0 AND s.channel_offset = v_offset - 1
       LIMIT 1;
    END IF;
  END IF;

  INSERT INTO ${n.stream} (channel, channel_offset, epoch, kind, data, tags, client_id, user_id, conn_info, chan_info, prev_data, use_delta, shard_id)
  VALUES (p_channel, v_offset, v_epoch, 0, p_data, p_tags, p_client_id, p_user_id, p_conn_info, p_chan_info, v_prev, COALESCE(p_use_delta, FALSE), v_shard)
  RETURNING id INTO v_id;

  IF p_idempotency_key IS NOT NULL THEN
    INSERT INTO ${n.idempotency} AS i (channel, idempotency_key, result_offset, result_epoch, result_id, expires_at)
    VALUES (p_channel, p_idempotency_key, v_offset, v_epoch, v_id, now() + COALESCE(p_idempotency_ttl, interval '5 minutes'))
    ON CONFLICT (channel, idempotency_key) DO UPDATE SET
      result_offset = EXCLUDED.result_offset, result_epoch = EXCLUDED.result_epoch,
      result_id = EXCLUDED.result_id, expires_at = EXCLUDED.expires_at
    WHERE i.expires_at <= now();
  END IF;

  PERFORM pg_notify('${n.notifyChannel}', v_shard::TEXT);
  out_result_id := v_id;
  out_channel_offset := v_offset;
  out_epoch := v_epoch;
  out_suppressed := FALSE;
  out_suppress_reason := NULL;
  RETURN NEXT;
END
$fn$;

-- Same as publish but raises when the publication is suppressed.
CREATE OR REPLACE FUNCTION ${n.publishStrict}(
  ${publishArgs(T)}
) RETURNS TABLE(out_result_id BIGINT, out_channel_offset BIGINT, out_epoch TEXT)
LANGUAGE plpgsql AS $fn$
DECLARE
  r RECORD;
BEGIN
  SELECT * INTO r FROM ${n.publish}(p_channel, p_data, p_tags, p_history_ttl, p_history_size, p_meta_ttl,
    p_version, p_version_epoch, p_idempotency_key, p_idempotency_ttl, p_use_delta, p_client_id, p_user_id,
    p_conn_info, p_chan_info, p_num_shards);
  IF r.out_suppressed THEN
    RAISE EXCEPTION 'publish suppressed: %', r.out_suppress_reason;
  END IF;
  RETURN QUERY SELECT r.out_result_id, r.out_channel_offset, r.out_epoch;
END
$fn$;

CREATE OR REPLACE FUNCTION ${n.publishJoin}(
  p_channel TEXT, p_client_id TEXT, p_user_id TEXT, p_conn_info ${T} DEFAULT NULL, p_chan_info ${T} DEFAULT NULL,
  p_num_shards INTEGER DEFAULT NULL
) RETURNS BIGINT LANGUAGE plpgsql AS $fn$
DECLARE
  v_shard INTEGER := ${n.shardOf}(p_channel, p_num_shards);
  v_id BIGINT;
BEGIN
  INSERT INTO ${n.stream} (channel, channel_offset, kind, client_id, user_id, conn_info, chan_info, shard_id)
  VALUES (p_channel, 0, 1, p_client_id, p_user_id, p_conn_info, p_chan_info, v_shard) RETURNING id INTO v_id;
  PERFORM pg_notify('${n.notifyChannel}', v_shard::TEXT);
  RETURN v_id;
END
$fn$;

CREATE OR REPLACE FUNCTION ${n.publishLeave}(
  p_channel TEXT, p_client_id TEXT, p_user_id TEXT, p_conn_info ${T} DEFAULT NULL, p_chan_info ${T} DEFAULT NULL,
  p_num_shards INTEGER DEFAULT NULL
) RETURNS BIGINT LANGUAGE plpgsql AS $fn$
DECLARE
  v_shard INTEGER := ${n.shardOf}(p_channel, p_num_shards);
  v_id BIGINT;
BEGIN
  INSERT INTO ${n.stream} (channel, channel_offset, kind, client_id, user_id, conn_info, chan_info, shard_id)
  VALUES (p_channel, 0, 2, p_client_id, p_user_id, p_conn_info, p_chan_info, v_shard) RETURNING id INTO v_id;
  PERFORM pg_notify('${n.notifyChannel}', v_shard::TEXT);
  RETURN v_id;
END
$fn$;

-- Deletes the channel's publications; its epoch and top offset stay.
CREATE OR REPLACE FUNCTION ${n.removeHistory}(p_channel TEXT, p_num_shards INTEGER DEFAULT NULL) RETURNS VOID LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM ${n.shardOf}(p_channel, p_num_shards);
  DELETE FROM ${n.stream} WHERE channel = p_channel AND kind = 0;
END
$fn$;

-- Current top offset and epoch of a channel (0 and '' when it has none or it expired).
CREATE OR REPLACE FUNCTION ${n.topPosition}(p_channel TEXT) RETURNS TABLE(out_top_offset BIGINT, out_epoch TEXT) LANGUAGE plpgsql AS $fn$
BEGIN
  RETURN QUERY SELECT COALESCE(m.top_offset, 0::BIGINT), COALESCE(m.epoch, ''::TEXT)
    FROM (SELECT 1) AS one LEFT JOIN ${n.meta} m ON m.channel = p_channel AND m.expires_at > now();
END
$fn$;
`;
}

/** Every statement creating one variant: tables first, then functions. */
export function streamSchemaSql(n: StreamNames): string {
  return tablesDdl(n) + functionsDdl(n);
}

async function readVersion(db: PgQueryable, n: StreamNames): Promise<number> {
  const { rows } = await db.query<{ v: number | null }>(`SELECT CASE WHEN to_regclass($1) IS NULL THEN NULL ELSE 0 END AS v`, [n.schemaVersion]);
  if (rows[0]?.v === null) return 0;
  const res = await db.query<{ schema_version: number }>(`SELECT schema_version FROM ${n.schemaVersion} WHERE id = 1`);
  return res.rows[0]?.schema_version ?? 0;
}

/** Whether the variant is at the current version with its columns in place (no DDL needed). */
async function isCurrent(db: PgQueryable, n: StreamNames): Promise<boolean> {
  if ((await readVersion(db, n)) !== STREAM_SCHEMA_VERSION) return false;
  try {
    await db.query(`SELECT use_delta FROM ${n.stream} LIMIT 0`);
    const { rows } = await db.query('SELECT 1 FROM pg_proc WHERE proname = $1 AND pg_function_is_visible(oid)', [n.publish]);
    return rows.length > 0;
  } catch {
    return false;
  }
}

/**
 * Creates or upgrades both variants under a transaction-scoped advisory lock, so nodes starting
 * together serialise instead of colliding; a database at a newer version than this build fails
 * with an Error. Then sets the shard_lock rows to 0..numShards-1 and creates the daily partitions
 * of both stream tables (yesterday .. today + lookaheadDays).
 */
export async function ensureStreamSchema(pool: pg.Pool, tablePrefix: string, numShards: number, lookaheadDays: number): Promise<void> {
  const variants = [streamNames(tablePrefix, false), streamNames(tablePrefix, true)];
  let current = true;
  for (const n of variants) current = current && (await isCurrent(pool, n));
  if (!current) {
    await inTransaction(pool, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`gyre_stream_schema_${tablePrefix}`]);
      for (const n of variants) {
        const version = await readVersion(c, n);
        if (version > STREAM_SCHEMA_VERSION) {
          throw new Error(`${n.schemaVersion} is at version ${version}, newer than this build's ${STREAM_SCHEMA_VERSION}: upgrade Gyre`);
        }
        if (version > 0) {
          for (let v = version + 1; v <= STREAM_SCHEMA_VERSION; v++) {
            const migration = MIGRATIONS[v];
            if (migration) await c.query(migration(n));
          }
        }
        await c.query(streamSchemaSql(n));
        await c.query(
          `INSERT INTO ${n.schemaVersion} (id, schema_version) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET schema_version = EXCLUDED.schema_version`,
          [STREAM_SCHEMA_VERSION],
        );
      }
    });
  }
  for (const n of variants) {
    await reconcileShardLocks(pool, n, numShards);
    await ensureDailyPartitions(pool, n.stream, lookaheadDays);
  }
}

/** Makes `<p>shard_lock` hold exactly the rows 0..numShards-1. */
export async function reconcileShardLocks(db: PgQueryable, n: StreamNames, numShards: number): Promise<void> {
  await db.query(`INSERT INTO ${n.shardLock} (shard_id) SELECT generate_series(0, $1::int - 1) ON CONFLICT DO NOTHING`, [numShards]);
  await db.query(`DELETE FROM ${n.shardLock} WHERE shard_id >= $1`, [numShards]);
}

/**
 * For `skip_schema_init`: rejects with an Error naming the first missing table or function of
 * the variant, so a start against an uninitialised database fails clearly.
 */
export async function checkStreamSchema(db: PgQueryable, n: StreamNames): Promise<void> {
  for (const table of [n.stream, n.meta, n.idempotency, n.shardLock, n.schemaVersion]) {
    const { rows } = await db.query<{ r: string | null }>('SELECT to_regclass($1)::text AS r', [table]);
    if (!rows[0]?.r) throw new Error(`table "${table}" does not exist (skip_schema_init is set: create the stream broker schema first)`);
  }
  for (const fn of [n.publish, n.publishJoin, n.publishLeave, n.removeHistory, n.shardOf]) {
    const { rows } = await db.query('SELECT 1 FROM pg_proc WHERE proname = $1 AND pg_function_is_visible(oid)', [fn]);
    if (rows.length === 0) throw new Error(`function "${fn}" does not exist (skip_schema_init is set: create the stream broker schema first)`);
  }
}

/** Drops every table and function of both variants (tests and tooling). */
export async function dropStreamSchema(db: PgQueryable, tablePrefix: string): Promise<void> {
  for (const binary of [false, true]) {
    const n = streamNames(tablePrefix, binary);
    await db.query(`DROP TABLE IF EXISTS ${n.stream}, ${n.meta}, ${n.idempotency}, ${n.shardLock}, ${n.schemaVersion} CASCADE`);
    for (const fn of [n.publishStrict, n.publish, n.publishJoin, n.publishLeave, n.removeHistory, n.topPosition, n.shardOf, n.newEpoch]) {
      await db.query(`DROP FUNCTION IF EXISTS ${fn} CASCADE`);
    }
  }
}
