/**
 * The PostgreSQL controller against a real PostgreSQL: broadcast and addressed delivery between
 * two controllers, order, no replay of messages older than the start, the schema (created once
 * under concurrent starts, or checked with skip_schema_init), NOTIFY wake-up, resuming after
 * lost connections, and partition maintenance. Every test uses its own table prefix and drops it.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createController, type ClosableController, type PostgresControllerOptions } from '../src/brokers/index.js';
import { controllerNames, dropControllerSchema } from '../src/brokers/postgres/index.js';
import { partitionName } from '../src/brokers/postgres/partitions.js';
import { BrokerError } from '../src/brokers/errors.js';
import { startPgServer, type PgServer } from './helpers/pg-server.js';
import { sleep, waitFor } from './helpers/wait.js';

const DSN = 'postgres://postgres@127.0.0.1:5432/postgres';
const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

describe('postgres controller', () => {
  const direct = new pg.Client({ connectionString: DSN });
  const prefixes: string[] = [];
  const open: ClosableController[] = [];

  before(() => direct.connect());
  after(async () => {
    await Promise.all(open.map((c) => c.close()));
    for (const p of prefixes) await dropControllerSchema(direct, controllerNames(p));
    await direct.end();
  });

  function newPrefix(): string {
    const p = `gyre_ctl_${randomUUID().slice(0, 8)}`;
    prefixes.push(p);
    return p;
  }

  function controller(prefix: string, opts: PostgresControllerOptions = {}): ClosableController {
    const c = createController('postgres', { dsn: DSN, table_prefix: prefix, poll_interval: 20, ...opts });
    open.push(c);
    return c;
  }

  /** Starts `count` controllers on one prefix; returns them with what each received. */
  async function nodes(prefix: string, count: number, opts: PostgresControllerOptions = {}) {
    const got: string[][] = [];
    const ctls: ClosableController[] = [];
    for (let i = 0; i < count; i++) {
      const c = controller(prefix, opts);
      const mine: string[] = [];
      got.push(mine);
      await c.runControl(`${prefix}-node${i}`, (m) => mine.push(text(m)));
      ctls.push(c);
    }
    return { ctls, got };
  }

  for (const useNotify of [false, true]) {
    it(`delivers broadcasts to every node and addressed messages to one (use_notify ${useNotify})`, async () => {
      const prefix = newPrefix();
      // With NOTIFY the idle poll is a minute away: delivery in time proves the wake-up works.
      const { ctls, got } = await nodes(prefix, 2, useNotify ? { use_notify: true, poll_interval: 60_000 } : {});
      await sleep(100);
      await ctls[0]!.publishControl(bytes('to all'));
      await ctls[0]!.publishControl(bytes('to 1'), `${prefix}-node1`);
      await waitFor(() => got[0]!.length + got[1]!.length >= 3, 'three deliveries', 10_000);
      await sleep(100);
      assert.deepEqual(got, [['to all'], ['to all', 'to 1']]);
    });
  }

  it('delivers in publish order, across full batches, the same order on every node', async () => {
    const prefix = newPrefix();
    const { ctls, got } = await nodes(prefix, 2, { batch_size: 7 });
    const sent: string[] = [];
    // Two publishers at once: both nodes must see one and the same commit order.
    await Promise.all(
      ctls.map(async (c, n) => {
        for (let i = 0; i < 60; i++) {
          const m = `n${n}-${i}`;
          await c.publishControl(bytes(m));
          sent.push(m);
        }
      }),
    );
    await waitFor(() => got[0]!.length >= 120 && got[1]!.length >= 120, 'all delivered', 15_000);
    assert.deepEqual(got[0], got[1]);
    for (const n of [0, 1]) {
      const own = got[0]!.filter((m) => m.startsWith(`n${n}-`));
      assert.deepEqual(own, Array.from({ length: 60 }, (_, i) => `n${n}-${i}`));
    }
    assert.equal(new Set(got[0]).size, 120);
  });

  it('polls again at once after a full batch', async () => {
    const prefix = newPrefix();
    // The idle poll is a minute away and one commit sends one NOTIFY: only re-polling after
    // each full batch of 3 gets all 10 rows.
    const { got } = await nodes(prefix, 1, { use_notify: true, poll_interval: 60_000, batch_size: 3 });
    await direct.query('BEGIN');
    for (let i = 0; i < 10; i++) await direct.query(`SELECT ${prefix}_controller_publish($1)`, [Buffer.from(`r${i}`)]);
    await direct.query('COMMIT');
    await waitFor(() => got[0]!.length >= 10, 'all ten delivered', 10_000);
    assert.deepEqual(got[0], Array.from({ length: 10 }, (_, i) => `r${i}`));
  });

  it('keeps the order of messages addressed to one node with several shards', async () => {
    const prefix = newPrefix();
    const { ctls, got } = await nodes(prefix, 2, { num_shards: 3 });
    for (let i = 0; i < 30; i++) await ctls[0]!.publishControl(bytes(`m${i}`), `${prefix}-node1`);
    for (let i = 0; i < 9; i++) await ctls[1]!.publishControl(bytes(`b${i}`));
    await waitFor(() => got[1]!.length >= 39 && got[0]!.length >= 9, 'all delivered', 10_000);
    assert.deepEqual(got[1]!.filter((m) => m.startsWith('m')), Array.from({ length: 30 }, (_, i) => `m${i}`));
    assert.deepEqual([...got[0]!].sort(), Array.from({ length: 9 }, (_, i) => `b${i}`).sort());
    const { rows } = await direct.query(`SELECT count(*)::INT AS n FROM ${prefix}_controller_shard_lock`);
    assert.equal(rows[0].n, 3);
  });

  it('does not replay messages published before the node started', async () => {
    const prefix = newPrefix();
    const { ctls, got } = await nodes(prefix, 1);
    await ctls[0]!.publishControl(bytes('old broadcast'));
    await ctls[0]!.publishControl(bytes('old addressed'), `${prefix}-late`);
    await waitFor(() => got[0]!.length >= 1, 'first node got the old broadcast');
    const late = controller(prefix);
    const lateGot: string[] = [];
    await late.runControl(`${prefix}-late`, (m) => lateGot.push(text(m)));
    await ctls[0]!.publishControl(bytes('new'));
    await waitFor(() => lateGot.length >= 1, 'late node got the new message');
    await sleep(100);
    assert.deepEqual(lateGot, ['new']);
  });

  it('creates the schema once when several nodes start at the same time', async () => {
    const prefix = newPrefix();
    const ctls = [0, 1, 2, 3].map(() => controller(prefix));
    const got: string[][] = [[], [], [], []];
    await Promise.all(ctls.map((c, i) => c.runControl(`n${i}`, (m) => got[i]!.push(text(m)))));
    const { rows } = await direct.query(`SELECT schema_version FROM ${prefix}_controller_schema_version`);
    assert.deepEqual(rows, [{ schema_version: 1 }]);
    const part = await direct.query('SELECT to_regclass($1) IS NOT NULL AS ok', [partitionName(`${prefix}_controller_messages`, Date.now() + 2 * 86_400_000)]);
    assert.equal(part.rows[0].ok, true, 'lookahead partition exists');
    await ctls[3]!.publishControl(bytes('hi'));
    await waitFor(() => got.every((g) => g.length === 1), 'everyone got it');
  });

  it('with skip_schema_init, fails to start naming the missing table, and runs on an existing schema', async () => {
    const prefix = newPrefix();
    const skip = controller(prefix, { skip_schema_init: true });
    await assert.rejects(skip.runControl('n', () => {}), (err: Error) => {
      assert.match(err.message, new RegExp(`${prefix}_controller_messages`));
      assert.match(err.message, /skip_schema_init/);
      return true;
    });
    const { ctls, got } = await nodes(prefix, 1);
    const skipping = controller(prefix, { skip_schema_init: true });
    const skipGot: string[] = [];
    await skipping.runControl('skipping', (m) => skipGot.push(text(m)));
    // The node retries a failed start: the first controller starts once the schema exists.
    const skipRetryGot: string[] = [];
    await skip.runControl('skip-retry', (m) => skipRetryGot.push(text(m)));
    await ctls[0]!.publishControl(bytes('x'));
    await waitFor(() => skipGot.length === 1 && got[0]!.length === 1 && skipRetryGot.length === 1, 'all three got it');
  });

  it('the SQL publish function is usable from any transaction, with Centrifugo argument names', async () => {
    const prefix = newPrefix();
    const { got } = await nodes(prefix, 2);
    await direct.query('BEGIN');
    await direct.query(`SELECT ${prefix}_controller_publish(p_data => $1, p_node_id => $2, p_num_shards => 1)`, [Buffer.from('sql to 0'), `${prefix}-node0`]);
    await sleep(150);
    assert.deepEqual(got, [[], []], 'nothing before commit');
    await direct.query('COMMIT');
    await direct.query(`SELECT ${prefix}_controller_publish($1)`, [Buffer.from('sql to all')]);
    await waitFor(() => got[0]!.length === 2 && got[1]!.length === 1, 'delivered');
    assert.deepEqual(got, [['sql to 0', 'sql to all'], ['sql to all']]);
  });

  it('a message whose transaction commits late is not skipped (the shard lock orders ids by commit)', async () => {
    const prefix = newPrefix();
    const { got } = await nodes(prefix, 1);
    const second = new pg.Client({ connectionString: DSN });
    await second.connect();
    try {
      await direct.query('BEGIN');
      await direct.query(`SELECT ${prefix}_controller_publish($1)`, [Buffer.from('first')]);
      // Without the lock this commits a larger id at once, the poller moves past 'first' and loses it.
      const later = second.query(`SELECT ${prefix}_controller_publish($1)`, [Buffer.from('second')]);
      await sleep(300);
      await direct.query('COMMIT');
      await later;
      await waitFor(() => got[0]!.length >= 2, 'both delivered');
      assert.deepEqual(got[0], ['first', 'second']);
    } finally {
      await direct.query('ROLLBACK').catch(() => {});
      await second.end();
    }
  });

  it('resumes from its cursor after its connections are killed', async () => {
    const prefix = newPrefix();
    const { got } = await nodes(prefix, 1, { poll_interval: 30 });
    // Only this test's connections: their last statement names its tables.
    const killed = await direct.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'gyre-controller' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()`,
      [prefix],
    );
    assert.ok(killed.rowCount! >= 1, 'killed the poller connection');
    for (let i = 0; i < 5; i++) await direct.query(`SELECT ${prefix}_controller_publish($1, '', 1)`, [Buffer.from(`after kill ${i}`)]);
    await waitFor(() => got[0]!.length >= 5, 'delivered after reconnect', 15_000);
    assert.deepEqual(got[0], [0, 1, 2, 3, 4].map((i) => `after kill ${i}`));
  });

  it('publish rejects with backend_error when PostgreSQL cannot be reached', async () => {
    const c = controller(newPrefix(), { dsn: 'postgres://postgres@127.0.0.1:1/postgres' });
    await assert.rejects(c.publishControl(bytes('x')), (err: unknown) => err instanceof BrokerError && err.code === 'backend_error');
    await assert.rejects(c.runControl('n', () => {}), (err: unknown) => err instanceof BrokerError && err.code === 'backend_error');
  });

  it('maintenance drops partitions older than the retention and keeps the recent ones', async () => {
    const prefix = newPrefix();
    const table = `${prefix}_controller_messages`;
    await nodes(prefix, 1);
    const day = 86_400_000;
    const old = partitionName(table, Date.now() - 5 * day);
    const lo = new Date(Math.floor((Date.now() - 5 * day) / day) * day).toISOString();
    const hi = new Date(Math.floor((Date.now() - 4 * day) / day) * day).toISOString();
    await direct.query(`CREATE TABLE ${old} PARTITION OF ${table} FOR VALUES FROM ('${lo}') TO ('${hi}')`);
    const exists = async (name: string): Promise<boolean> => (await direct.query('SELECT to_regclass($1) IS NOT NULL AS ok', [name])).rows[0].ok;
    const maintained = controller(prefix, { partition_cleanup_interval: 50, partition_retention_days: 1 });
    await maintained.runControl('m', () => {});
    await waitFor(async () => !(await exists(old)), 'old partition dropped', 10_000);
    assert.equal(await exists(partitionName(table, Date.now())), true);
    assert.equal(await exists(partitionName(table, Date.now() - day)), true);
  });
});

describe('postgres controller across a PostgreSQL outage', { timeout: 120_000 }, () => {
  let server: PgServer;
  const open: ClosableController[] = [];

  before(async () => {
    server = await startPgServer();
  });
  after(async () => {
    await Promise.all(open.map((c) => c.close()));
    await server?.destroy();
  });

  it('publish rejects while PostgreSQL is down; pollers and LISTEN resume from their cursors after it is back', async () => {
    const got: string[][] = [[], []];
    for (const [i, useNotify] of [false, true].entries()) {
      const c = createController('postgres', { dsn: server.dsn, table_prefix: 'outage', use_notify: useNotify, poll_interval: useNotify ? 60_000 : 20 });
      open.push(c);
      await c.runControl(`node${i}`, (m) => got[i]!.push(text(m)));
    }
    await open[0]!.publishControl(bytes('before'));
    await waitFor(() => got.every((g) => g.length === 1), 'delivered before the outage');
    await server.stop();
    await assert.rejects(open[0]!.publishControl(bytes('lost')), (err: unknown) => err instanceof BrokerError && err.code === 'backend_error');
    await server.start();
    // Written straight to the table: the controllers' own pools may still be reconnecting.
    const direct = new pg.Client({ connectionString: server.dsn });
    await direct.connect();
    try {
      for (let i = 0; i < 3; i++) await direct.query('SELECT outage_controller_publish($1)', [Buffer.from(`after ${i}`)]);
    } finally {
      await direct.end();
    }
    await waitFor(() => got.every((g) => g.length >= 4), 'delivered after the outage', 30_000);
    for (const g of got) assert.deepEqual(g, ['before', 'after 0', 'after 1', 'after 2']);
    await open[1]!.publishControl(bytes('to node0'), 'node0');
    await waitFor(() => got[0]!.length === 5, 'publish works again', 10_000);
  });
});
