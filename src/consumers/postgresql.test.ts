/**
 * The PostgreSQL outbox consumer against the real PostgreSQL on 127.0.0.1:5432, dispatching into
 * a FakeNode: retries of internal failures, payload column types, partition locks, a missing
 * table, pending counts and table name quoting.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { ApiExecutor } from '../api/index.js';
import { FakeNode } from '../api/fake-node.test-helper.js';
import { LogLimiter, type Logger } from '../core/index.js';
import { PUBLICATION_DATA_HEADERS } from './consumer.js';
import { Dispatcher } from './dispatcher.js';
import { outboxTableIdentifier, PostgresOutboxConsumer, type PostgresOutboxOptions } from './postgresql.js';

const DSN = 'postgres://postgres@127.0.0.1:5432/postgres';
const lines: string[] = [];
const logger: Logger = {
  debug: () => {},
  info: () => {},
  warn: (_f: object, m: string) => lines.push(`warn ${m}`),
  error: (_f: object, m: string) => lines.push(`error ${m}`),
} as unknown as Logger;

const rand = (): string => `gyre_t_${Date.now().toString(36)}${Math.floor(Math.random() * 1e9).toString(36)}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function consumer(table: string, node: FakeNode, over: Partial<PostgresOutboxOptions> = {}): PostgresOutboxConsumer {
  const executor = new ApiExecutor(node, { logger, protocol: 'consuming' });
  const name = over.name ?? rand();
  const d = new Dispatcher(executor, { name, methodHeader: 'method', publicationDataMode: { enabled: false, ...PUBLICATION_DATA_HEADERS } }, new LogLimiter(logger, { intervalMs: 0 }));
  const connection = { connectionString: DSN, application_name: name };
  const c = new PostgresOutboxConsumer(
    { name, connection, notifyConnection: connection, table, numPartitions: 1, selectLimit: 100, pollIntervalMs: 20, notificationChannel: '', useTryLock: false, ...over },
    d,
    logger,
  );
  opened.push(c);
  return c;
}

/** Everything a test opened, closed in `after` even when the test failed half-way. */
const opened: { close(): Promise<void> }[] = [];
function holderClient(): pg.Client {
  const c = new pg.Client({ connectionString: DSN });
  opened.push({ close: () => c.end().catch(() => undefined) });
  return c;
}

const channelsOf = (node: FakeNode): string[] => node.callsOf('publish').map((a) => (a as { channel: string }).channel);

describe('PostgreSQL outbox consumer (unit, real PostgreSQL)', () => {
  const db = new pg.Client({ connectionString: DSN });
  const tables: string[] = [];
  const makeTable = async (payloadType = 'JSONB', name = rand()): Promise<string> => {
    await db.query(`CREATE TABLE ${name} (id BIGSERIAL PRIMARY KEY, method TEXT NOT NULL, payload ${payloadType} NOT NULL, partition INTEGER NOT NULL DEFAULT 0)`);
    tables.push(name);
    return name;
  };
  const insert = async (table: string, channel: string, partition = 0, payload?: unknown): Promise<void> => {
    await db.query(`INSERT INTO ${table} (method, payload, partition) VALUES ('publish', $1, $2)`, [payload ?? JSON.stringify({ channel, data: { c: channel } }), partition]);
  };
  const count = async (table: string): Promise<number> => Number((await db.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);

  before(async () => {
    await db.connect();
  });
  after(async () => {
    for (const o of opened.splice(0)) await o.close();
    for (const t of tables) await db.query(`DROP TABLE IF EXISTS ${t}`);
    await db.end();
  });

  it('retries a row failing with an internal error until it succeeds; it stays in the table and later rows wait behind it', async () => {
    const table = await makeTable();
    for (const c of ['a', 'b', 'c']) await insert(table, c);
    const node = new FakeNode();
    let failuresLeft = 4;
    // The first four publishes throw (an internal error, code 100 for the API).
    node.throwOn = new Proxy({} as Record<string, unknown>, {
      has: (_t, k) => k === 'publish' && failuresLeft-- > 0,
      get: () => new Error('broker down'),
    });
    const c = consumer(table, node);
    await c.start();
    await waitFor(() => node.calls.length >= 3, 'three failed attempts');
    // Still failing: the head row is kept and nothing behind it ran.
    assert.deepEqual(channelsOf(node).slice(0, 3), ['a', 'a', 'a']);
    assert.equal(await count(table), 3);
    await waitFor(async () => (await count(table)) === 0, 'table drained');
    await c.close();
    assert.deepEqual(channelsOf(node), ['a', 'a', 'a', 'a', 'a', 'b', 'c']);
    assert.equal(c.state().errors, 4);
    assert.equal(c.state().processed, 3);
  });

  for (const type of ['TEXT', 'BYTEA', 'JSON']) {
    it(`reads a ${type} payload column as the request JSON (method column and envelope)`, async () => {
      const table = await makeTable(type);
      const enc = (v: unknown): unknown => (type === 'BYTEA' ? Buffer.from(JSON.stringify(v)) : JSON.stringify(v));
      await db.query(`INSERT INTO ${table} (method, payload) VALUES ('publish', $1), ('', $2)`, [enc({ channel: 'm', data: 1 }), enc({ method: 'publish', payload: { channel: 'e', data: 2 } })]);
      const node = new FakeNode();
      const c = consumer(table, node);
      await c.start();
      await waitFor(async () => (await count(table)) === 0, 'table drained');
      await c.close();
      assert.deepEqual(channelsOf(node), ['m', 'e']);
    });
  }

  it('passes a JSONB payload verbatim: a JSON string value is not unwrapped into a request', async () => {
    const table = await makeTable();
    await db.query(`INSERT INTO ${table} (method, payload) VALUES ('publish', to_jsonb($1::text)), ('publish', $2)`, [JSON.stringify({ channel: 'wrapped', data: 1 }), JSON.stringify({ channel: 'plain', data: 2 })]);
    const node = new FakeNode();
    const c = consumer(table, node);
    await c.start();
    await waitFor(async () => (await count(table)) === 0, 'table drained');
    await c.close();
    assert.deepEqual(channelsOf(node), ['plain']);
    assert.equal(c.state().errors, 1);
  });

  it('waits for a partition locked by another session, or skips it with use_try_lock', async () => {
    const table = await makeTable();
    await insert(table, 'x');
    const name = rand();
    const holder = holderClient();
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`centrifugo_partition_lock_${name}0`]);
    const blockingNode = new FakeNode();
    const tryNode = new FakeNode();
    const blocking = consumer(table, blockingNode, { name });
    const trying = consumer(table, tryNode, { name, useTryLock: true });
    await blocking.start();
    await trying.start();
    await sleep(300);
    assert.equal(blockingNode.calls.length + tryNode.calls.length, 0, 'nothing runs while the lock is held');
    await holder.query('COMMIT');
    await holder.end();
    await waitFor(async () => (await count(table)) === 0, 'table drained');
    await Promise.all([blocking.close(), trying.close()]);
    assert.equal(blockingNode.calls.length + tryNode.calls.length, 1, 'one of them ran the row once');
  });

  it('names a missing table in its error log, keeps retrying and starts once the table exists', async () => {
    const table = rand();
    const node = new FakeNode();
    const c = consumer(table, node);
    await c.start();
    await waitFor(() => lines.some((l) => l.includes(`error postgresql outbox table "${table}" does not exist`)), 'missing table logged');
    assert.equal(c.state().status, 'reconnecting');
    await makeTable('JSONB', table);
    await insert(table, 'late');
    await waitFor(() => node.calls.length === 1, 'row delivered', 10_000);
    // The status turns running when the poll that delivered the row has committed.
    await waitFor(() => c.state().status === 'running', 'running');
    await c.close();
    assert.equal(c.state().status, 'stopped');
  });

  it('counts pending rows of its partitions only', async () => {
    const table = await makeTable();
    const node = new FakeNode();
    node.throwOn = { publish: new Error('down') };
    for (let i = 0; i < 3; i++) await insert(table, `p0_${i}`, 0);
    for (let i = 0; i < 2; i++) await insert(table, `p1_${i}`, 1);
    await insert(table, 'other', 7);
    const c = consumer(table, node, { numPartitions: 2 });
    await c.start();
    await waitFor(() => c.state().pending !== undefined, 'first count');
    assert.equal(c.state().pending, 5);
    await c.close();
  });

  it('close() ends a loop waiting on a partition lock', async () => {
    const table = await makeTable();
    const name = rand();
    const holder = holderClient();
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`centrifugo_partition_lock_${name}0`]);
    try {
      const c = consumer(table, new FakeNode(), { name });
      await c.start();
      await waitFor(async () => (await db.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [name])).rows[0].n === 1, 'consumer waiting on the lock');
      const started = Date.now();
      await c.close();
      assert.ok(Date.now() - started < 4000, 'close() did not wait for the lock');
      // The consumer's sessions go away (the server notices the closed socket a moment later).
      await waitFor(async () => (await db.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1`, [name])).rows[0].n === 0, 'sessions gone');
    } finally {
      await holder.query('COMMIT');
      await holder.end();
    }
  });
});

describe('outboxTableIdentifier', () => {
  it('quotes plain names folded to lower case, keeps quoted parts, allows schema.table', () => {
    assert.equal(outboxTableIdentifier('outbox'), '"outbox"');
    assert.equal(outboxTableIdentifier('Public.Centrifugo_Outbox'), '"public"."centrifugo_outbox"');
    assert.equal(outboxTableIdentifier('"My ""Box"""'), '"My ""Box"""');
    assert.equal(outboxTableIdentifier('app."a.b"'), '"app"."a.b"');
  });
  it('refuses anything else', () => {
    for (const bad of ['', 'a.b.c', 'x; DROP TABLE y', 'a-b', '"open', 'a.', '.a', '""']) {
      assert.throws(() => outboxTableIdentifier(bad), /outbox_table_name/, bad);
    }
  });
});
