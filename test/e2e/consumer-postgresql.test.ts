/**
 * The PostgreSQL outbox consumer against the real PostgreSQL on 127.0.0.1:5432: a Gyre process
 * polls fresh outbox tables and an official SDK client sees what the rows publish. Covers the
 * method column and envelope modes, order per partition, bad rows, NOTIFY wake-ups, rolled back
 * inserts, and a Gyre killed in the middle of a batch.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { SdkClients, subscribed } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { collect, uniq, waitEvent, waitFor } from '../helpers/wait.js';

const DSN = 'postgres://postgres@127.0.0.1:5432/postgres';
const lower = (s: string): string => s.toLowerCase();

describe('PostgreSQL outbox consumer', () => {
  let gyre: GyreProcess;
  let clients: SdkClients;
  const db = new pg.Client({ connectionString: DSN });
  const table = lower(uniq('gyre_outbox_'));
  const notifyTable = lower(uniq('gyre_outbox_n_'));
  const killTable = lower(uniq('gyre_outbox_k_'));
  const notifyChannel = lower(uniq('gyre_outbox_ch_'));
  const notifyConsumer = lower(uniq('pg_notify_'));

  const createTable = (name: string): Promise<unknown> =>
    db.query(`CREATE TABLE ${name} (id BIGSERIAL PRIMARY KEY, method TEXT NOT NULL, payload JSONB NOT NULL, partition INTEGER NOT NULL DEFAULT 0, created_at TIMESTAMPTZ DEFAULT now());
      CREATE INDEX ON ${name} (partition, id)`);
  const insert = (t: string, method: string, payload: unknown, partition = 0): Promise<unknown> =>
    db.query(`INSERT INTO ${t} (method, payload, partition) VALUES ($1, $2, $3)`, [method, JSON.stringify(payload), partition]);
  const rowsIn = async (t: string): Promise<number> => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`)).rows[0]!.n;

  before(async () => {
    await db.connect();
    await createTable(table);
    await createTable(notifyTable);
    await createTable(killTable);
    await db.query(`CREATE FUNCTION ${notifyTable}_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_notify('${notifyChannel}', NEW.partition::text); RETURN NEW; END $$;
      CREATE TRIGGER ${notifyTable}_trg AFTER INSERT ON ${notifyTable} FOR EACH ROW EXECUTE FUNCTION ${notifyTable}_notify()`);
    gyre = await startGyre({
      log: { level: 'warn' },
      client: { insecure: true },
      consumers: [
        {
          name: 'pg_outbox',
          enabled: true,
          type: 'postgresql',
          postgresql: { dsn: DSN, outbox_table_name: table, num_partitions: 2, partition_select_limit: 50, partition_poll_interval: '50ms' },
        },
        {
          name: notifyConsumer,
          enabled: true,
          type: 'postgresql',
          // Only a notification can explain a delivery sooner than a minute.
          postgresql: { dsn: DSN, outbox_table_name: notifyTable, partition_poll_interval: '60s', partition_notification_channel: notifyChannel },
        },
      ],
    });
    clients = new SdkClients(gyre.wsUrl, 'json');
  });
  after(async () => {
    clients?.closeAll();
    await gyre?.stop();
    await db.query(`DROP TABLE IF EXISTS ${table}, ${notifyTable}, ${killTable}; DROP FUNCTION IF EXISTS ${notifyTable}_notify()`);
    await db.end();
  });

  it('runs the method named by the method column, and a {"method","payload"} envelope (payload object or JSON string) when it is empty', async () => {
    const client = await clients.connected();
    const channel = uniq('cmd');
    const { sub } = await subscribed(client, channel);
    const pubs = collect(sub, 'publication');
    await insert(table, 'publish', { channel, data: { n: 1 }, tags: { k: 'v' } });
    await insert(table, '', { method: 'publish', payload: { channel, data: { n: 2 } } });
    await insert(table, '', { method: 'publish', payload: JSON.stringify({ channel, data: { n: 3 } }) });
    await waitFor(() => pubs.length >= 3, 'three publications');
    assert.deepEqual(
      pubs.map((p) => p.data),
      [{ n: 1 }, { n: 2 }, { n: 3 }],
    );
    assert.deepEqual(pubs[0].tags, { k: 'v' });
    // Rows are deleted once handled.
    await waitFor(async () => (await rowsIn(table)) === 0, 'outbox drained');
    assert.doesNotMatch(gyre.output(), /consumers\[\d\]: not supported yet/);
  });

  it('keeps id order within each partition across many rows and two partitions', async () => {
    const client = await clients.connected();
    const ch = [uniq('p0_'), uniq('p1_')];
    const subs = await Promise.all(ch.map((c) => subscribed(client, c)));
    const got = subs.map(({ sub }) => collect(sub, 'publication'));
    const perPartition = 400;
    // One statement, rows interleaved between partitions; ids grow in insertion order.
    await db.query(
      `INSERT INTO ${table} (method, payload, partition)
       SELECT 'publish', jsonb_build_object('channel', (ARRAY[$1, $2])[i % 2 + 1], 'data', jsonb_build_object('i', i / 2)), i % 2
       FROM generate_series(0, $3::int - 1) AS i`,
      [ch[0], ch[1], perPartition * 2],
    );
    await waitFor(() => got[0]!.length >= perPartition && got[1]!.length >= perPartition, 'all rows', 20_000);
    const expected = Array.from({ length: perPartition }, (_, i) => ({ i }));
    assert.deepEqual(
      got[0]!.map((p) => p.data),
      expected,
    );
    assert.deepEqual(
      got[1]!.map((p) => p.data),
      expected,
    );
    await waitFor(async () => (await rowsIn(table)) === 0, 'outbox drained');
  });

  it('skips and deletes bad rows (bad JSON, unknown channel, bad request, unknown method) without blocking the rows behind them', async () => {
    const client = await clients.connected();
    const channel = uniq('bad');
    const { sub } = await subscribed(client, channel);
    const pubs = collect(sub, 'publication');
    await insert(table, '', { method: 'publish', payload: '{not json' });
    await insert(table, 'publish', { channel: `nosuchns:${channel}`, data: { n: 'unknown channel' } });
    await insert(table, 'publish', { channel: '', data: { n: 'bad request' } });
    await insert(table, 'no_such_method', { channel, data: { n: 'unknown method' } });
    await insert(table, '', { no: 'method' });
    await insert(table, 'publish', { channel, data: { n: 'good' } });
    await waitFor(() => pubs.length >= 1, 'the good row delivered');
    assert.deepEqual(
      pubs.map((p) => p.data),
      [{ n: 'good' }],
    );
    assert.match(gyre.output(), /consumer dropped a message it cannot run/);
    assert.doesNotMatch(gyre.output(), /will retry/);
    await waitFor(async () => (await rowsIn(table)) === 0, 'bad rows deleted too');
  });

  it('never delivers a row whose inserting transaction rolled back', async () => {
    const client = await clients.connected();
    const channel = uniq('tx');
    const { sub } = await subscribed(client, channel);
    const pubs = collect(sub, 'publication');
    const tx = new pg.Client({ connectionString: DSN });
    await tx.connect();
    await tx.query('BEGIN');
    await tx.query(`INSERT INTO ${table} (method, payload) VALUES ('publish', $1)`, [JSON.stringify({ channel, data: { n: 'rolled back' } })]);
    // Several polls run while the row is uncommitted; none may see it.
    await new Promise((r) => setTimeout(r, 300));
    await tx.query('ROLLBACK');
    await tx.end();
    await insert(table, 'publish', { channel, data: { n: 'committed' } });
    await waitFor(() => pubs.length >= 1, 'the committed row');
    await waitFor(async () => (await rowsIn(table)) === 0, 'outbox drained');
    assert.deepEqual(
      pubs.map((p) => p.data),
      [{ n: 'committed' }],
    );
  });

  it('polls at once on a NOTIFY from the outbox trigger', async () => {
    // The LISTEN connection is up (and the start-up polls are done) before the insert.
    await waitFor(
      async () => (await db.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`, [`gyre consumer ${notifyConsumer} listen`])).rowCount === 1,
      'LISTEN in place',
      10_000,
    );
    const client = await clients.connected();
    const channel = uniq('notify');
    const { sub } = await subscribed(client, channel);
    const got = waitEvent(sub, 'publication', { timeoutMs: 20_000 });
    await insert(notifyTable, 'publish', { channel, data: { n: 'notified' } });
    assert.deepEqual((await got).data, { n: 'notified' });
  });

  it('delivers every row at least once when Gyre is killed in the middle of a batch', async () => {
    const name = 'pg_kill';
    const config = {
      log: { level: 'warn' },
      client: { insecure: true },
      consumers: [{ name, enabled: true, type: 'postgresql', postgresql: { dsn: DSN, outbox_table_name: killTable, partition_select_limit: 5000, partition_poll_interval: '50ms' } }],
    };
    // Big batches: most of a batch's time is spent dispatching it, so the kill lands inside one.
    const total = 30_000;
    const channel = uniq('kill');
    // Hold the partition lock so nothing is consumed before a subscriber is in place.
    const lock = new pg.Client({ connectionString: DSN });
    await lock.connect();
    const holdLock = async (): Promise<void> => {
      await lock.query('BEGIN');
      await lock.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`centrifugo_partition_lock_${name}0`]);
    };
    const seen: number[] = [];
    const watch = async (g: GyreProcess): Promise<SdkClients> => {
      const cs = new SdkClients(g.wsUrl, 'json');
      const { sub } = await subscribed(await cs.connected(), channel);
      sub.on('publication', (ctx: { data: { i: number } }) => seen.push(ctx.data.i));
      return cs;
    };
    try {
      await holdLock();
      await db.query(
        `INSERT INTO ${killTable} (method, payload) SELECT 'publish', jsonb_build_object('channel', $1::text, 'data', jsonb_build_object('i', i)) FROM generate_series(0, $2::int - 1) AS i`,
        [channel, total],
      );
      const first = await startGyre(config);
      const firstClients = await watch(first);
      await lock.query('COMMIT');
      await waitFor(() => seen.length >= 5000, 'the first batch delivered', 20_000);
      first.child.kill('SIGKILL');
      await first.stop();
      firstClients.closeAll();
      const beforeKill = seen.length;
      assert.ok(beforeKill < total, 'the kill came before the outbox was drained');
      // The killed session's transaction is rolled back once the server sees its socket close.
      await holdLock();
      const second = await startGyre(config);
      const secondClients = await watch(second);
      await lock.query('COMMIT');
      try {
        await waitFor(async () => (await rowsIn(killTable)) === 0, 'outbox drained after the restart', 60_000);
        await waitFor(() => new Set(seen).size === total, 'every row delivered', 20_000);
      } finally {
        secondClients.closeAll();
        await second.stop();
      }
      const duplicates = seen.length - new Set(seen).size;
      console.log(`postgresql outbox kill test: ${total} rows, ${beforeKill} delivered before SIGKILL, ${duplicates} delivered twice`);
      assert.equal(new Set(seen).size, total, 'no row lost');
    } finally {
      await lock.query('ROLLBACK').catch(() => undefined);
      await lock.end();
    }
  });
});
