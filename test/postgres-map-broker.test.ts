/**
 * The MapBroker contract against the PostgreSQL map broker (BYTEA variant, since the contract's
 * payloads are not JSON), plus its specifics: transactional publishing from application SQL,
 * delivery across two broker instances, NOTIFY wake-up, strict functions, maintenance and
 * skip_schema_init. Every table and function lives under a random prefix dropped at the end.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { createMapBroker } from '../src/brokers/index.js';
import { PostgresMapBroker, type PostgresMapBrokerOptions } from '../src/brokers/postgres/index.js';
import { MapRecorder, RECOVERABLE, runMapBrokerContract } from './contracts/map-broker-contract.js';
import { bytes, sleep, text, uniqueChannel } from './contracts/contract-helpers.js';

const DSN = 'postgres://postgres@127.0.0.1:5432/postgres';
const prefix = `gyre_pm${randomBytes(4).toString('hex')}`;
const admin = new pg.Pool({ connectionString: DSN, max: 2 });

after(async () => {
  await admin.query(`DO $$ DECLARE r record; BEGIN
    FOR r IN SELECT c.relname FROM pg_class c WHERE c.relkind IN ('r', 'p') AND c.relname LIKE '${prefix}\\_%' AND NOT c.relispartition LOOP
      EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', r.relname); END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS f FROM pg_proc p WHERE p.proname LIKE '${prefix}\\_%' LOOP
      EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', r.f); END LOOP; END $$`);
  await admin.end();
});

function options(extra: PostgresMapBrokerOptions = {}): PostgresMapBrokerOptions {
  return { dsn: DSN, table_prefix: prefix, num_shards: 4, pool_size: 8, outbox: { poll_interval: 20, batch_size: 1000 }, ...extra };
}

runMapBrokerContract('postgres', async () => {
  const broker = createMapBroker('postgres', options({ binary_data: true })) as PostgresMapBroker;
  return { broker, expireNow: async () => void (await broker.expireKeys()) };
});

async function running(extra: PostgresMapBrokerOptions = {}): Promise<{ broker: PostgresMapBroker; rec: MapRecorder }> {
  const broker = new PostgresMapBroker(options(extra));
  const rec = new MapRecorder();
  await broker.run(rec);
  return { broker, rec };
}

describe('postgres map broker specifics', () => {
  it('application SQL publishes in its own transaction with named arguments: rollback delivers nothing and takes no offset, commit delivers', async () => {
    const { broker, rec } = await running();
    const app = new pg.Client({ connectionString: DSN });
    await app.connect();
    try {
      const ch = uniqueChannel('tx');
      await broker.subscribe(ch);
      const call = `SELECT channel_offset, epoch, suppressed FROM ${prefix}_map_publish(p_channel := $1, p_key := $2, p_data := $3::jsonb, p_tags := '{"t":"1"}'::jsonb)`;
      await app.query('BEGIN');
      await app.query('CREATE TEMP TABLE business (id int) ON COMMIT DROP');
      const rolled = await app.query(call, [ch, 'k', '{"v":0}']);
      assert.equal(Number(rolled.rows[0].channel_offset), 1);
      await app.query('ROLLBACK');
      await sleep(200);
      assert.equal(rec.on(ch).length, 0, 'a rolled back write is not delivered');

      await app.query('BEGIN');
      const committed = await app.query(call, [ch, 'k', '{"v":1}']);
      await sleep(100);
      assert.equal(rec.on(ch).length, 0, 'nothing is delivered before commit');
      await app.query('COMMIT');
      assert.equal(Number(committed.rows[0].channel_offset), 1, 'the rolled back write took no offset');
      const [e] = await rec.waitFor(ch, 1);
      assert.deepEqual([e!.pub.key, text(e!.pub.data), e!.pub.offset, e!.pub.tags, e!.position.epoch], ['k', '{"v": 1}', 1, { t: '1' }, committed.rows[0].epoch]);
      const state = await broker.readState(ch, { channel: RECOVERABLE, limit: -1 });
      assert.deepEqual(state.entries.map((x) => [x.key, JSON.parse(text(x.data)!)]), [['k', { v: 1 }]]);

      const removed = await app.query(`SELECT * FROM ${prefix}_map_remove(p_channel := $1, p_key := $2)`, [ch, 'k']);
      assert.deepEqual([Number(removed.rows[0].channel_offset), removed.rows[0].suppressed], [2, false]);
      const live = await rec.waitFor(ch, 2);
      assert.deepEqual([live[1]!.pub.removed, live[1]!.pub.tags], [true, { t: '1' }]);
    } finally {
      await app.end();
      await broker.close();
    }
  });

  it('a write committed after a later one of the same shard is still delivered (the shard lock orders ids by commit)', async () => {
    const { broker, rec } = await running();
    const [slow, fast] = [new pg.Client({ connectionString: DSN }), new pg.Client({ connectionString: DSN })];
    await slow.connect();
    await fast.connect();
    try {
      const shardOf = async (c: string) => Number((await admin.query(`SELECT ${prefix}_map_shard($1, 4) AS s`, [c])).rows[0].s);
      const first = uniqueChannel('order_a');
      let second = uniqueChannel('order_b');
      while ((await shardOf(second)) !== (await shardOf(first))) second = uniqueChannel('order_b');
      await broker.subscribe(first);
      await broker.subscribe(second);
      const call = `SELECT * FROM ${prefix}_map_publish(p_channel := $1, p_key := 'k', p_data := '1'::jsonb)`;
      await slow.query('BEGIN');
      await slow.query(call, [first]);
      const later = fast.query(call, [second]);
      await sleep(300);
      await slow.query('COMMIT');
      await later;
      await rec.waitFor(first, 1);
      await rec.waitFor(second, 1);
    } finally {
      await slow.end();
      await fast.end();
      await broker.close();
    }
  });

  it('strict functions raise on suppression, so the application transaction rolls back', async () => {
    const { broker } = await running();
    try {
      const ch = uniqueChannel('strict');
      const pub = `SELECT * FROM ${prefix}_map_publish_strict(p_channel := $1, p_key := 'k', p_data := '1'::jsonb, p_key_mode := 'if_new')`;
      const first = await admin.query(pub, [ch]);
      assert.equal(Number(first.rows[0].channel_offset), 1);
      await assert.rejects(admin.query(pub, [ch]), (e: { code?: string }) => e.code === '23505');
      await admin.query(`SELECT * FROM ${prefix}_map_remove_strict($1, 'k')`, [ch]);
      await assert.rejects(admin.query(`SELECT * FROM ${prefix}_map_remove_strict($1, 'k')`, [ch]), (e: { code?: string }) => e.code === 'P0002');
    } finally {
      await broker.close();
    }
  });

  it('two broker instances share the tables: one writes, the other delivers', async () => {
    const a = await running({ binary_data: true });
    const z = await running({ binary_data: true });
    try {
      const ch = uniqueChannel('nodes');
      await z.broker.subscribe(ch);
      await a.broker.publish(ch, 'k', { channel: RECOVERABLE, data: bytes('x'), clientInfo: { user: 'u', client: 'c', conn_info: bytes('ci') } });
      await a.broker.remove(ch, 'k', { channel: RECOVERABLE });
      const got = await z.rec.waitFor(ch, 2);
      assert.deepEqual(got.map((e) => [e.pub.key, e.pub.offset, e.pub.removed ?? false]), [['k', 1, false], ['k', 2, true]]);
      assert.deepEqual([got[0]!.pub.info?.user, got[0]!.pub.info?.client, text(got[0]!.pub.info?.conn_info)], ['u', 'c', 'ci']);
      assert.equal(a.rec.on(ch).length, 0, 'a node delivers only the channels it subscribed');
    } finally {
      await a.broker.close();
      await z.broker.close();
    }
  });

  it('use_notify wakes the pollers long before the poll interval', async () => {
    const { broker, rec } = await running({ use_notify: true, outbox: { poll_interval: 60_000, batch_size: 1000 } });
    try {
      const ch = uniqueChannel('notify');
      await broker.subscribe(ch);
      await sleep(100);
      await broker.publish(ch, 'k', { channel: RECOVERABLE, data: bytes('1') });
      await rec.waitFor(ch, 1, 5000);
    } finally {
      await broker.close();
    }
  });

  it('the JSONB variant refuses data that is not JSON', async () => {
    const { broker } = await running();
    try {
      await assert.rejects(broker.publish(uniqueChannel('json'), 'k', { channel: RECOVERABLE, data: bytes('not json') }), (e: { code?: string }) => e.code === 'backend_error');
    } finally {
      await broker.close();
    }
  });

  it('maintenance drops idle meta rows with their state, expired idempotency results and old partitions', async () => {
    const { broker } = await running({ binary_data: true, partition_retention_days: 3 });
    try {
      const ch = uniqueChannel('maint');
      const short = { mode: 'recoverable' as const, keyTtlMs: 100, streamSize: 10, streamTtlMs: 100, metaTtlMs: 150 };
      await broker.publish(ch, 'k', { channel: short, data: bytes('1'), idempotencyKey: 'i', idempotentResultTtlMs: 100 });
      const old = `${prefix}_binary_map_stream_p20000101`;
      await admin.query(`CREATE TABLE ${old} PARTITION OF ${prefix}_binary_map_stream FOR VALUES FROM ('2000-01-01') TO ('2000-01-02')`);
      await sleep(250);
      await broker.cleanup();
      const count = async (t: string) => Number((await admin.query(`SELECT count(*) AS n FROM ${prefix}_binary_map_${t} WHERE channel = $1`, [ch])).rows[0].n);
      assert.deepEqual([await count('meta'), await count('state'), await count('idempotency')], [0, 0, 0]);
      assert.equal((await admin.query('SELECT to_regclass($1) AS t', [old])).rows[0].t, null, 'the old partition is dropped');
      const today = new Date().toISOString().slice(0, 10).replaceAll('-', '');
      assert.notEqual((await admin.query('SELECT to_regclass($1) AS t', [`${prefix}_binary_map_stream_p${today}`])).rows[0].t, null);
    } finally {
      await broker.close();
    }
  });

  it('skip_schema_init refuses to start without the tables and names the missing one', async () => {
    const other = `gyre_pmx${randomBytes(3).toString('hex')}`;
    const broker = new PostgresMapBroker({ dsn: DSN, table_prefix: other, skip_schema_init: true });
    try {
      await assert.rejects(broker.run(new MapRecorder()), (e: Error) => e.message.includes(`"${other}_map_stream" does not exist`));
    } finally {
      await broker.close();
    }
    const ok = await running({ skip_schema_init: true });
    await ok.broker.close();
  });

  it('refuses a table prefix too long for the partition names', () => {
    assert.throws(() => new PostgresMapBroker({ dsn: DSN, table_prefix: 'p'.repeat(36) }), /table_prefix: .* longer than 35/);
  });
});
