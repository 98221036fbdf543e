// PostgreSQL outbox consumer bench: N publish rows are written to a fresh outbox table while
// the test holds every partition's advisory lock, one Gyre process (memory engine) starts with
// a `postgresql` consumer on that table and one official-SDK client subscribes to the
// channels; then the locks are released and the time until the client has received every row
// gives rows/s delivered (select, dispatch, delete and commit included). The table is dropped
// at the end.
// After a build: `node dist/bench/outbox-consumer.js [rows=50000] [partitions=1] [select_limit=100]`.
// Not part of `npm test` or `npm run bench`.

import pg from 'pg';
import { fmt, nowMs, startGyre } from './kinds-common.js';
import { loadAverage, processCpuUs } from './proc.js';
import { terminate } from './targets.js';

const DSN = process.env.BENCH_PG_DSN ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function main(): Promise<void> {
  const rows = Number(process.argv[2] ?? 50_000);
  const partitions = Number(process.argv[3] ?? 1);
  const limit = Number(process.argv[4] ?? 100);
  const table = `gyre_bench_outbox_${process.pid}`;
  const name = 'bench_outbox';
  const db = new pg.Client({ connectionString: DSN });
  await db.connect();
  await db.query(`CREATE TABLE ${table} (id BIGSERIAL PRIMARY KEY, method TEXT NOT NULL, payload JSONB NOT NULL, partition INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX ON ${table} (partition, id)`);
  const lock = new pg.Client({ connectionString: DSN });
  await lock.connect();
  try {
    await lock.query('BEGIN');
    for (let p = 0; p < partitions; p++) await lock.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`centrifugo_partition_lock_${name}${p}`]);
    await db.query(
      `INSERT INTO ${table} (method, payload, partition)
       SELECT 'publish', jsonb_build_object('channel', 'bench' || (i % $2), 'data', jsonb_build_object('i', i, 'text', 'some payload of a typical size')), i % $2
       FROM generate_series(0, $1::int - 1) AS i`,
      [rows, partitions],
    );
    const gyre = await startGyre({
      client: { insecure: true },
      consumers: [{ name, enabled: true, type: 'postgresql', postgresql: { dsn: DSN, outbox_table_name: table, num_partitions: partitions, partition_select_limit: limit } }],
    });
    try {
      const { Centrifuge } = await import('centrifuge');
      const WebSocket = (await import('ws')).default;
      const client = new Centrifuge(gyre.wsUrl, { websocket: WebSocket });
      client.on('error', () => undefined);
      let received = 0;
      let resolveDone: () => void = () => undefined;
      const done = new Promise<void>((r) => (resolveDone = r));
      const subscribedAll: Promise<unknown>[] = [];
      for (let p = 0; p < partitions; p++) {
        const sub = client.newSubscription(`bench${p}`);
        sub.on('publication', () => {
          if (++received === rows) resolveDone();
        });
        subscribedAll.push(new Promise((r) => sub.once('subscribed', r)));
        sub.subscribe();
      }
      client.connect();
      await Promise.all(subscribedAll);
      const cpu0 = processCpuUs(gyre.child.pid!);
      const t0 = nowMs();
      await lock.query('COMMIT');
      await done;
      const elapsedMs = nowMs() - t0;
      const cpuMs = (processCpuUs(gyre.child.pid!) - cpu0) / 1000;
      client.disconnect();
      console.log(
        `outbox consumer: ${rows} rows, ${partitions} partition(s), select limit ${limit}: ${fmt(elapsedMs, 0)} ms, ${fmt((rows / elapsedMs) * 1000, 0)} rows/s delivered; ` +
          `gyre CPU ${fmt(cpuMs, 0)} ms (${fmt((cpuMs * 1000) / rows, 1)} µs/row); load average ${loadAverage()}`,
      );
    } finally {
      await terminate(gyre.child);
    }
  } finally {
    await lock.query('ROLLBACK').catch(() => undefined);
    await lock.end();
    await db.query(`DROP TABLE IF EXISTS ${table}`);
    await db.end();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
