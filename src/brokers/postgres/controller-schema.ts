/**
 * Schema of the PostgreSQL controller, with Centrifugo's names: `<p>_controller_messages` (the
 * control message outbox, daily partitions on created_at), `<p>_controller_shard_lock` (one row per
 * shard, locked by every insert so ids follow commit order within a shard),
 * `<p>_controller_schema_version`, and the SQL function `<p>_controller_publish(p_data, p_node_id,
 * p_num_shards)` that inserts and NOTIFYs `<p>_controller_notify`.
 */
import type pg from 'pg';
import { ensureDailyPartitions } from './partitions.js';
import { checkIdentifier, inTransaction, type PgQueryable } from './pool.js';

/** Version this build writes to `<p>_controller_schema_version`; a newer one in the database stops the start. */
export const CONTROLLER_SCHEMA_VERSION = 1;

/** Table, function and NOTIFY channel names of one controller table prefix (lowercase). */
export interface ControllerNames {
  messages: string;
  shardLock: string;
  schemaVersion: string;
  publishFn: string;
  notifyChannel: string;
}

/**
 * The names for `table_prefix` (a trailing `_` is optional: `cf` and `cf_` are the same). Throws an
 * Error naming `controller.postgres.table_prefix` when the prefix is not a plain identifier or so long
 * that PostgreSQL would truncate the daily partition names (at most 32 characters).
 */
export function controllerNames(tablePrefix: string): ControllerNames {
  const key = 'controller.postgres.table_prefix';
  const base = checkIdentifier(tablePrefix || 'cf', key).replace(/_+$/, '').toLowerCase();
  if (base === '' || base.length > 32) throw new Error(`${key}: "${tablePrefix}" must have 1 to 32 characters before any trailing _`);
  const p = `${base}_`;
  return {
    messages: `${p}controller_messages`,
    shardLock: `${p}controller_shard_lock`,
    schemaVersion: `${p}controller_schema_version`,
    publishFn: `${p}controller_publish`,
    notifyChannel: `${p}controller_notify`,
  };
}

function tablesSql(n: ControllerNames): string {
  return `
CREATE TABLE IF NOT EXISTS ${n.messages} (
  id BIGSERIAL,
  shard_id SMALLINT NOT NULL DEFAULT 0,
  node_id TEXT NOT NULL DEFAULT '',
  data BYTEA NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX IF NOT EXISTS ${n.messages}_shard_idx ON ${n.messages} (shard_id, id);
CREATE TABLE IF NOT EXISTS ${n.shardLock} (shard_id SMALLINT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS ${n.schemaVersion} (id INTEGER PRIMARY KEY, schema_version INTEGER NOT NULL);`;
}

// The shard is 0 with one shard; with several, a message to one node always lands in that node's
// shard (its order is kept), a broadcast spreads by transaction id. The lock on the shard row is
// held until commit, so a later insert in the same shard takes a larger id only after this one is
// visible: a poller reading `id > cursor` never skips a row that commits late. NOTIFY is sent
// whatever the publishing node's use_notify: listening is each reader's choice.
function publishFnSql(n: ControllerNames): string {
  return `
CREATE OR REPLACE FUNCTION ${n.publishFn}(p_data BYTEA, p_node_id TEXT DEFAULT '', p_num_shards INTEGER DEFAULT NULL)
RETURNS BIGINT LANGUAGE plpgsql AS $fn$
DECLARE
  v_shards INTEGER := p_num_shards;
  v_shard INTEGER;
  v_node TEXT := coalesce(p_node_id, '');
  v_id BIGINT;
BEGIN
  IF v_shards IS NULL OR v_shards <= 0 THEN
    SELECT count(*)::INTEGER INTO v_shards FROM ${n.shardLock};
  END IF;
  IF v_shards <= 1 THEN
    v_shard := 0;
  ELSIF v_node <> '' THEN
    v_shard := (abs(hashtext(v_node)::BIGINT) % v_shards)::INTEGER;
  ELSE
    v_shard := (txid_current() % v_shards)::INTEGER;
  END IF;
  PERFORM 1 FROM ${n.shardLock} WHERE shard_id = v_shard FOR UPDATE;
  INSERT INTO ${n.messages} (shard_id, node_id, data) VALUES (v_shard, v_node, p_data) RETURNING id INTO v_id;
  PERFORM pg_notify('${n.notifyChannel}', '');
  RETURN v_id;
END;
$fn$;`;
}

async function exists(q: PgQueryable, relation: string): Promise<boolean> {
  const { rows } = await q.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [relation]);
  return rows[0]?.ok === true;
}

async function storedVersion(q: PgQueryable, n: ControllerNames): Promise<number | undefined> {
  if (!(await exists(q, n.schemaVersion))) return undefined;
  const { rows } = await q.query<{ v: number }>(`SELECT schema_version AS v FROM ${n.schemaVersion} WHERE id = 1`);
  return rows[0]?.v;
}

/**
 * Creates the tables and the publish function when missing or older than this build, makes sure
 * shard lock rows 0..numShards-1 exist (rows of other shards are kept, for nodes configured with
 * more shards) and the daily partitions are in place. Several nodes may run it at once: the
 * work is serialized by an advisory lock. Rejects when the database holds a newer schema version.
 */
export async function ensureControllerSchema(pool: pg.Pool, n: ControllerNames, numShards: number, lookaheadDays: number): Promise<void> {
  await inTransaction(pool, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`gyre_schema_${n.messages}`]);
    const version = await storedVersion(c, n);
    if (version !== undefined && version > CONTROLLER_SCHEMA_VERSION) {
      throw new Error(`postgres controller: ${n.schemaVersion} holds schema version ${version}, newer than ${CONTROLLER_SCHEMA_VERSION} known to this build`);
    }
    if (version !== CONTROLLER_SCHEMA_VERSION || !(await exists(c, n.messages))) {
      await c.query(tablesSql(n));
      const { rows } = await c.query<{ partitioned: boolean }>('SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = $1::regclass) AS partitioned', [n.messages]);
      if (rows[0]?.partitioned !== true) throw new Error(`postgres controller: table ${n.messages} exists but is not partitioned; drop it (and ${n.shardLock}, ${n.schemaVersion}) to let it be recreated`);
      await c.query(publishFnSql(n));
      await c.query(
        `INSERT INTO ${n.schemaVersion} (id, schema_version) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET schema_version = EXCLUDED.schema_version`,
        [CONTROLLER_SCHEMA_VERSION],
      );
    }
    await c.query(`INSERT INTO ${n.shardLock} (shard_id) SELECT generate_series(0, $1::INTEGER - 1) ON CONFLICT DO NOTHING`, [Math.max(1, numShards)]);
  });
  await ensureDailyPartitions(pool, n.messages, lookaheadDays);
}

/**
 * For `skip_schema_init`: checks that the tables and the publish function exist and rejects with
 * an Error naming the first missing one (and the option), without creating anything.
 */
export async function checkControllerSchema(q: PgQueryable, n: ControllerNames): Promise<void> {
  for (const table of [n.messages, n.shardLock, n.schemaVersion]) {
    if (!(await exists(q, table))) {
      throw new Error(`postgres controller: table ${table} does not exist and controller.postgres.skip_schema_init is set; create the schema or unset skip_schema_init`);
    }
  }
  const { rows } = await q.query<{ ok: boolean }>('SELECT to_regproc($1) IS NOT NULL AS ok', [n.publishFn]);
  if (rows[0]?.ok !== true) {
    throw new Error(`postgres controller: function ${n.publishFn} does not exist and controller.postgres.skip_schema_init is set; create the schema or unset skip_schema_init`);
  }
}

/** Drops everything `ensureControllerSchema` created for these names (tests and tooling). */
export async function dropControllerSchema(q: PgQueryable, n: ControllerNames): Promise<void> {
  await q.query(`DROP FUNCTION IF EXISTS ${n.publishFn}(BYTEA, TEXT, INTEGER)`);
  await q.query(`DROP TABLE IF EXISTS ${n.messages}, ${n.shardLock}, ${n.schemaVersion} CASCADE`);
}
