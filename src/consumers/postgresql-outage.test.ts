/**
 * The PostgreSQL outbox consumer across a PostgreSQL outage, on a throwaway server (stop/start on
 * the same port and data dir) with a FakeNode behind the API executor and a long poll interval,
 * so that only notifications (and the poll after every LISTEN reconnect) move rows quickly.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { startPgServer, type PgServer } from '../../test/helpers/pg-server.js';
import { ApiExecutor } from '../api/index.js';
import { FakeNode } from '../api/fake-node.test-helper.js';
import { LogLimiter, type Logger } from '../core/index.js';
import { PUBLICATION_DATA_HEADERS, type ConsumerStatus } from './consumer.js';
import { Dispatcher } from './dispatcher.js';
import { PostgresOutboxConsumer } from './postgresql.js';

const logger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} } as unknown as Logger;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const TABLE = 'gyre_outage_outbox';
const CHANNEL = 'gyre_outage_change';
/** Far longer than the test: a row that moves quickly was moved by a notification or a reconnect. */
const POLL_INTERVAL_MS = 120_000;

describe('PostgreSQL outbox consumer across a PostgreSQL outage (FakeNode, throwaway server)', () => {
  let server: PgServer;

  before(async () => {
    server = await startPgServer();
    const c = new pg.Client({ connectionString: server.dsn });
    await c.connect();
    await c.query(`CREATE TABLE ${TABLE} (id BIGSERIAL PRIMARY KEY, method TEXT NOT NULL, payload JSONB NOT NULL, partition INTEGER NOT NULL DEFAULT 0)`);
    await c.query(`CREATE FUNCTION ${TABLE}_notify() RETURNS trigger AS $$ BEGIN PERFORM pg_notify('${CHANNEL}', NEW.partition::text); RETURN NEW; END $$ LANGUAGE plpgsql`);
    await c.query(`CREATE TRIGGER ${TABLE}_t AFTER INSERT ON ${TABLE} FOR EACH ROW EXECUTE FUNCTION ${TABLE}_notify()`);
    await c.end();
  });
  after(async () => {
    for (const c of opened) await c.close();
    await server?.destroy();
  });

  /** Inserts rows in one short-lived session; `quiet` keeps the trigger from firing (no NOTIFY). */
  const insert = async (channels: string[], quiet = false): Promise<void> => {
    const c = new pg.Client({ connectionString: server.dsn, connectionTimeoutMillis: 2000 });
    c.on('error', () => undefined);
    try {
      await c.connect();
      if (quiet) await c.query('SET session_replication_role = replica');
      for (const ch of channels) await c.query(`INSERT INTO ${TABLE} (method, payload) VALUES ('publish', $1)`, [JSON.stringify({ channel: ch, data: {} })]);
    } finally {
      await c.end().catch(() => undefined);
    }
  };
  /** Whether the consumer's LISTEN session is connected and listening. */
  const listening = async (): Promise<boolean> => {
    const c = new pg.Client({ connectionString: server.dsn });
    try {
      await c.connect();
      const r = await c.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'gyre_outage_listen' AND query LIKE 'LISTEN%'`);
      return r.rows[0].n === 1;
    } catch {
      return false;
    } finally {
      await c.end().catch(() => undefined);
    }
  };

  const setup = (listenUser = 'postgres'): { node: FakeNode; d: Dispatcher; consumer: PostgresOutboxConsumer } => {
    const node = new FakeNode();
    const executor = new ApiExecutor(node, { logger, protocol: 'consuming' });
    const d = new Dispatcher(executor, { name: 'outage', methodHeader: 'method', publicationDataMode: { enabled: false, ...PUBLICATION_DATA_HEADERS } }, new LogLimiter(logger, { intervalMs: 0 }));
    const consumer = new PostgresOutboxConsumer(
      {
        name: 'outage',
        connection: { connectionString: server.dsn, application_name: 'gyre_outage_poll' },
        notifyConnection: { host: '127.0.0.1', port: server.port, database: 'postgres', user: listenUser, application_name: 'gyre_outage_listen' },
        table: TABLE,
        numPartitions: 1,
        selectLimit: 100,
        pollIntervalMs: POLL_INTERVAL_MS,
        notificationChannel: CHANNEL,
        useTryLock: false,
      },
      d,
      logger,
    );
    opened.push(consumer);
    return { node, d, consumer };
  };
  const opened: PostgresOutboxConsumer[] = [];

  it('delivers rows from before and after the outage, shows the outage in status and lastError, and is woken by NOTIFY again after the restart', async () => {
    const { node, d, consumer } = setup();
    const channels = (): string[] => node.callsOf('publish').map((a) => (a as { channel: string }).channel);
    // Every failure the consumer records, in order (lastError only keeps the latest).
    const failures: string[] = [];
    const fail = d.stats.fail.bind(d.stats);
    d.stats.fail = (message: string, now?: number): void => {
      failures.push(message);
      fail(message, now);
    };
    const seen: ConsumerStatus[] = [];
    const watch = setInterval(() => {
      const s = d.stats.status;
      if (seen.at(-1) !== s) seen.push(s);
    }, 5);
    try {
      await consumer.start();
      await waitFor(async () => consumer.state().status === 'running' && (await listening()), 'running and listening');
      await insert(['n1']);
      await waitFor(() => channels().includes('n1'), 'a notified row before the outage');
      // Rows without a notification wait for the (long) poll interval.
      await insert(['quiet1', 'quiet2'], true);
      await sleep(300);
      assert.deepEqual(channels(), ['n1']);
      assert.equal(consumer.state().errors, 0);

      await server.stop();
      await waitFor(() => consumer.state().status === 'reconnecting', 'reconnecting during the outage');
      const down = consumer.state();
      assert.ok(down.lastError !== undefined && down.lastErrorAt !== undefined);
      // Both the polling and the LISTEN connection report the outage.
      await waitFor(() => failures.some((f) => f.startsWith(`LISTEN ${CHANNEL}: `)), 'the LISTEN connection loss recorded');
      assert.ok(failures.some((f) => f.startsWith('poll partition 0: ')), failures.join('\n'));
      assert.equal(consumer.state().errors, failures.length);
      // Nothing can be written to the outbox while the server is down.
      await assert.rejects(insert(['never']));

      await server.start();
      // Back up: the rows that were never notified are found by the poll that follows the reconnect.
      await waitFor(() => channels().includes('quiet2'), 'the rows inserted before the outage', 15_000);
      await waitFor(async () => consumer.state().status === 'running' && (await listening()), 'running and listening again', 15_000);
      assert.deepEqual(channels(), ['n1', 'quiet1', 'quiet2']);
      // The LISTEN session is back: a notification wakes the consumer long before its poll interval.
      await insert(['n2']);
      await waitFor(() => channels().includes('n2'), 'a notified row after the restart');
      await insert(['n3']);
      await waitFor(() => channels().includes('n3'), 'another notified row after the restart');
      assert.deepEqual(channels(), ['n1', 'quiet1', 'quiet2', 'n2', 'n3']);
      assert.equal(consumer.state().processed, 5);
      assert.deepEqual(seen.slice(seen.indexOf('running')), ['running', 'reconnecting', 'running']);
      const c = new pg.Client({ connectionString: server.dsn });
      await c.connect();
      assert.equal((await c.query(`SELECT count(*)::int AS n FROM ${TABLE}`)).rows[0].n, 0);
      await c.end();
    } finally {
      clearInterval(watch);
      await consumer.close();
    }
    assert.equal(consumer.state().status, 'stopped');
  });

  it('makes up for a notification sent while only the LISTEN connection was down: it polls once LISTEN is back', async () => {
    const admin = new pg.Client({ connectionString: server.dsn });
    await admin.connect();
    try {
      await admin.query('CREATE ROLE gyre_outage_listener LOGIN');
      const { node, consumer } = setup('gyre_outage_listener');
      const channels = (): string[] => node.callsOf('publish').map((a) => (a as { channel: string }).channel);
      await consumer.start();
      await waitFor(async () => consumer.state().status === 'running' && (await listening()), 'running and listening');
      await insert(['l1']);
      await waitFor(() => channels().includes('l1'), 'a notified row');
      // Cut the LISTEN session and keep it from coming back; the polling connection stays up.
      await admin.query('ALTER ROLE gyre_outage_listener NOLOGIN');
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'gyre_outage_listen'`);
      await waitFor(async () => !(await listening()), 'LISTEN session gone');
      await insert(['lost1', 'lost2']);
      await sleep(300);
      assert.deepEqual(channels(), ['l1']);
      await admin.query('ALTER ROLE gyre_outage_listener LOGIN');
      await waitFor(() => channels().includes('lost2'), 'the rows whose notification was lost, after LISTEN is back', 15_000);
      assert.deepEqual(channels(), ['l1', 'lost1', 'lost2']);
      assert.equal(consumer.state().status, 'running');
      await consumer.close();
    } finally {
      await admin.query('DROP ROLE IF EXISTS gyre_outage_listener').catch(() => undefined);
      await admin.end();
    }
  });
});
