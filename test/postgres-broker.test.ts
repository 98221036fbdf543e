/**
 * The PostgreSQL stream broker against the local PostgreSQL: the broker contract for the JSONB and
 * BYTEA variants with and without LISTEN/NOTIFY, transactional publishing through the SQL functions
 * from a separate client, the functions' signatures, schema checks, partition maintenance and an
 * outage of the connection to PostgreSQL. Every table and function lives under a random prefix
 * dropped at the end.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { BrokerError, createBroker } from '../src/brokers/index.js';
import type { PostgresBrokerOptions } from '../src/brokers/index.js';
import { dropStreamSchema, STREAM_SCHEMA_VERSION, streamNames } from '../src/brokers/postgres/index.js';
import { PostgresBroker } from '../src/brokers/postgres/index.js';
import type { Broker, BrokerEventHandler, BrokerPublication, HistoryOptions } from '../src/core/ports.js';
import { loadValues } from '../src/config/testing.js';
import { nullLogger } from '../src/core/ports.js';
import { buildEngine } from '../src/server/engine.js';
import { runBrokerContract } from './contracts/broker-contract.js';
import { Recorder, bytes, sleep, text, uniqueChannel } from './contracts/contract-helpers.js';

const DSN = 'postgres://postgres@127.0.0.1:5432/postgres';
const prefix = `gyre_t${randomBytes(4).toString('hex')}`;
const prefixes = new Set<string>([prefix]);
const admin = new pg.Pool({ connectionString: DSN, max: 4 });
const HISTORY = { historySize: 10, historyTtlMs: 60_000 };

after(async () => {
  for (const p of prefixes) await dropStreamSchema(admin, p);
  await admin.end();
});

function options(extra: PostgresBrokerOptions = {}): PostgresBrokerOptions {
  return { dsn: DSN, table_prefix: prefix, num_shards: 4, pool_size: 8, outbox: { poll_interval: 50 }, ...extra };
}

/**
 * The contract publishes plain-text payloads; in front of the JSONB variant they travel as JSON
 * strings (and come back unwrapped), so the broker still stores and delivers real JSON.
 */
class JsonStringPayloads implements Broker {
  constructor(private readonly inner: Broker) {}
  get reliable(): boolean {
    return this.inner.reliable;
  }
  run(h: BrokerEventHandler): Promise<void> {
    return this.inner.run({
      handlePublication: (ch, pub, pos, delta, prev) => h.handlePublication(ch, unwrap(pub), pos, delta, prev && unwrap(prev)),
      handleJoin: (ch, info) => h.handleJoin(ch, info),
      handleLeave: (ch, info) => h.handleLeave(ch, info),
    });
  }
  subscribe(ch: string): Promise<void> {
    return this.inner.subscribe(ch);
  }
  unsubscribe(ch: string): Promise<void> {
    return this.inner.unsubscribe(ch);
  }
  publish(ch: string, data: Uint8Array, opts: Parameters<Broker['publish']>[2]): ReturnType<Broker['publish']> {
    return this.inner.publish(ch, bytes(JSON.stringify(text(data))), opts);
  }
  publishJoin(ch: string, info: Parameters<Broker['publishJoin']>[1]): Promise<void> {
    return this.inner.publishJoin(ch, info);
  }
  publishLeave(ch: string, info: Parameters<Broker['publishLeave']>[1]): Promise<void> {
    return this.inner.publishLeave(ch, info);
  }
  async history(ch: string, opts: HistoryOptions): ReturnType<Broker['history']> {
    const res = await this.inner.history(ch, opts);
    return { ...res, publications: res.publications.map(unwrap) };
  }
  removeHistory(ch: string): Promise<void> {
    return this.inner.removeHistory(ch);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

function unwrap(pub: BrokerPublication): BrokerPublication {
  return { ...pub, data: bytes(JSON.parse(text(pub.data)!) as string) };
}

for (const binary of [false, true]) {
  for (const notify of [false, true]) {
    const name = `postgres ${binary ? 'binary' : 'jsonb'}${notify ? ' notify' : ''}`;
    // With NOTIFY the idle poll period is longer than any delivery wait: deliveries prove the wake-up.
    const o = options({ binary_data: binary, use_notify: notify, outbox: { poll_interval: notify ? 30_000 : 50 } });
    runBrokerContract(
      name,
      async () => {
        const broker = createBroker('postgres', o);
        return { broker: binary ? broker : new JsonStringPayloads(broker) };
      },
      { sharedBackend: true, settleMs: notify ? 100 : 200, shortTtlMs: 400 },
    );
  }
}

/** Runs fn with a running broker (and its recorder) and always closes it. */
async function withBroker(extra: PostgresBrokerOptions, fn: (b: PostgresBroker, rec: Recorder) => Promise<void>): Promise<void> {
  const b = createBroker('postgres', options(extra));
  const rec = new Recorder();
  try {
    await b.run(rec);
    await fn(b, rec);
  } finally {
    await b.close();
  }
}

describe('postgres broker: SQL functions', () => {
  const n = streamNames(prefix, false);

  it('keep Centrifugo argument names, order and result columns', async () => {
    await withBroker({}, async () => {
      const sig = async (fn: string) =>
        (await admin.query<{ args: string; result: string }>(
          `SELECT pg_get_function_arguments(p.oid) AS args, pg_get_function_result(p.oid) AS result FROM pg_proc p WHERE proname = $1`,
          [fn],
        )).rows[0];
      for (const binary of [false, true]) {
        const v = streamNames(prefix, binary);
        const T = binary ? 'bytea' : 'jsonb';
        const publishArgs =
          `p_channel text, p_data ${T}, p_tags jsonb DEFAULT NULL::jsonb, p_history_ttl interval DEFAULT NULL::interval, p_history_size integer DEFAULT NULL::integer, ` +
          `p_meta_ttl interval DEFAULT NULL::interval, p_version bigint DEFAULT NULL::bigint, p_version_epoch text DEFAULT NULL::text, p_idempotency_key text DEFAULT NULL::text, ` +
          `p_idempotency_ttl interval DEFAULT NULL::interval, p_use_delta boolean DEFAULT false, p_client_id text DEFAULT NULL::text, p_user_id text DEFAULT NULL::text, ` +
          `p_conn_info ${T} DEFAULT NULL::${T}, p_chan_info ${T} DEFAULT NULL::${T}, p_num_shards integer DEFAULT NULL::integer`;
        assert.deepEqual(await sig(v.publish), {
          args: publishArgs,
          result: 'TABLE(out_result_id bigint, out_channel_offset bigint, out_epoch text, out_suppressed boolean, out_suppress_reason text)',
        });
        assert.deepEqual(await sig(v.publishStrict), { args: publishArgs, result: 'TABLE(out_result_id bigint, out_channel_offset bigint, out_epoch text)' });
        const jl = `p_channel text, p_client_id text, p_user_id text, p_conn_info ${T} DEFAULT NULL::${T}, p_chan_info ${T} DEFAULT NULL::${T}, p_num_shards integer DEFAULT NULL::integer`;
        assert.deepEqual(await sig(v.publishJoin), { args: jl, result: 'bigint' });
        assert.deepEqual(await sig(v.publishLeave), { args: jl, result: 'bigint' });
        assert.deepEqual(await sig(v.removeHistory), { args: 'p_channel text, p_num_shards integer DEFAULT NULL::integer', result: 'void' });
        assert.deepEqual(await sig(v.topPosition), { args: 'p_channel text', result: 'TABLE(out_top_offset bigint, out_epoch text)' });
      }
      assert.equal(n.publish, `${prefix}_stream_publish`);
      assert.equal(streamNames(prefix, true).publish, `${prefix}_binary_stream_publish`);
    });
  });

  it('a publish in an application transaction is delivered on commit, never on rollback, and a rollback uses no offset', async () => {
    await withBroker({}, async (b, rec) => {
      const ch = uniqueChannel('tx');
      await b.subscribe(ch);
      const app = await admin.connect();
      const publish = (data: string) =>
        app.query<{ out_channel_offset: string; out_epoch: string; out_suppressed: boolean }>(
          `SELECT * FROM ${n.publish}(p_channel => $1, p_data => $2::jsonb, p_history_size => 10, p_history_ttl => '60 seconds')`,
          [ch, data],
        );
      try {
        await app.query('BEGIN');
        await app.query('CREATE TEMP TABLE business (v int) ON COMMIT DROP');
        const first = await publish('{"a":1}');
        assert.equal(first.rows[0]?.out_channel_offset, '1');
        await sleep(200);
        assert.equal(rec.pubs(ch).length, 0, 'not delivered before commit');
        await app.query('COMMIT');
        await rec.waitFor(() => rec.pubs(ch).length === 1, 2000, 'the committed publication');
        assert.equal(text(rec.pubs(ch)[0]!.pub.data), '{"a":1}');
        assert.deepEqual(rec.pubs(ch)[0]!.position, { offset: 1, epoch: first.rows[0]!.out_epoch });

        await app.query('BEGIN');
        assert.equal((await publish('{"rolled":"back"}')).rows[0]?.out_channel_offset, '2');
        await app.query('ROLLBACK');
        const top = await app.query(`SELECT * FROM ${n.topPosition}(p_channel => $1)`, [ch]);
        assert.deepEqual(top.rows[0], { out_top_offset: '1', out_epoch: first.rows[0]!.out_epoch });

        const next = await b.publish(ch, bytes('{"b":2}'), HISTORY);
        assert.equal(next.position.offset, 2, 'the rolled-back offset is reused');
        await rec.waitFor(() => rec.pubs(ch).length === 2, 2000, 'the next publication');
        await sleep(200);
        assert.deepEqual(rec.pubs(ch).map((e) => text(e.pub.data)), ['{"a":1}', '{"b":2}']);
        assert.deepEqual((await b.history(ch, { filter: { limit: -1 } })).publications.map((p) => p.offset), [1, 2]);
      } finally {
        await app.query('ROLLBACK').catch(() => undefined);
        app.release();
      }
    });
  });

  it('an open transaction holds its shard: a publish to another channel of the shard waits for its commit', async () => {
    await withBroker({}, async (b, rec) => {
      const shardOf = async (ch: string) => Number((await admin.query('SELECT abs(hashtext($1)::bigint) % 4 AS s', [ch])).rows[0].s);
      const a = uniqueChannel('tx_shard_a');
      let other = uniqueChannel('tx_shard_b');
      while ((await shardOf(other)) !== (await shardOf(a))) other = uniqueChannel('tx_shard_b');
      await b.subscribe(a);
      await b.subscribe(other);
      const app = await admin.connect();
      try {
        await app.query('BEGIN');
        await app.query(`SELECT * FROM ${n.publish}(p_channel => $1, p_data => '"from app"', p_history_size => 10, p_history_ttl => '1 minute')`, [a]);
        let done = false;
        const later = b.publish(other, bytes('{"from":"broker"}'), HISTORY).then((r) => {
          done = true;
          return r;
        });
        await sleep(300);
        assert.equal(done, false, 'the second publish waits for the shard lock');
        await app.query('COMMIT');
        assert.equal((await later).position.offset, 1);
        await rec.waitFor(() => rec.events.length >= 2, 2000, 'both publications');
        await sleep(200);
        assert.deepEqual(rec.events.map((e) => e.channel), [a, other], 'delivered in commit order, none skipped');
      } finally {
        await app.query('ROLLBACK').catch(() => undefined);
        app.release();
      }
    });
  });

  it('publish_strict raises on suppression; join and leave rows from SQL are delivered', async () => {
    await withBroker({}, async (b, rec) => {
      const ch = uniqueChannel('strict');
      await b.subscribe(ch);
      const strict = (extra: string) =>
        admin.query(`SELECT * FROM ${n.publishStrict}(p_channel => $1, p_data => '{}', p_history_size => 5, p_history_ttl => '1 minute'${extra})`, [ch]);
      const ok = await strict(`, p_idempotency_key => 'k'`);
      assert.deepEqual(Object.keys(ok.rows[0]!), ['out_result_id', 'out_channel_offset', 'out_epoch']);
      await assert.rejects(strict(`, p_idempotency_key => 'k'`), /publish suppressed: idempotency/);
      await strict(`, p_version => 5, p_version_epoch => 'e'`);
      await assert.rejects(strict(`, p_version => 4, p_version_epoch => 'e'`), /publish suppressed: version/);
      await admin.query(`SELECT ${n.publishJoin}(p_channel => $1, p_client_id => 'c1', p_user_id => 'u1', p_conn_info => '{"n":1}')`, [ch]);
      await admin.query(`SELECT ${n.publishLeave}(p_channel => $1, p_client_id => 'c1', p_user_id => 'u1')`, [ch]);
      await rec.waitFor(() => rec.on(ch).length === 4, 2000, 'two publications, a join and a leave');
      const events = rec.on(ch);
      assert.deepEqual(events.map((e) => e.kind), ['pub', 'pub', 'join', 'leave']);
      const join = events[2]!;
      assert.ok(join.kind === 'join');
      assert.deepEqual({ ...join.info, conn_info: text(join.info.conn_info) }, { user: 'u1', client: 'c1', conn_info: '{"n":1}' });
    });
  });
});

describe('postgres broker: payloads', () => {
  it('JSONB mode refuses non-JSON data with bad_data and returns JSON compacted', async () => {
    await withBroker({}, async (b, rec) => {
      const ch = uniqueChannel('json');
      await b.subscribe(ch);
      await assert.rejects(b.publish(ch, bytes('not json'), HISTORY), (e: unknown) => e instanceof BrokerError && e.code === 'bad_data' && /not valid JSON/.test(e.message));
      await assert.rejects(b.publish(ch, new Uint8Array([0xff, 0xfe]), {}), (e: unknown) => e instanceof BrokerError && e.code === 'bad_data');
      await assert.rejects(b.publishJoin(ch, { user: 'u', client: 'c', conn_info: bytes('{bad') }), (e: unknown) => e instanceof BrokerError && e.code === 'bad_data');
      await b.publish(ch, bytes('{ "s": "a b, c: d", "n" : [1, 2.50] }'), HISTORY);
      await rec.waitFor(() => rec.pubs(ch).length === 1, 2000, 'the JSON publication');
      assert.equal(text(rec.pubs(ch)[0]!.pub.data), '{"n":[1,2.50],"s":"a b, c: d"}');
      assert.equal(text((await b.history(ch, { filter: { limit: -1 } })).publications[0]!.data), '{"n":[1,2.50],"s":"a b, c: d"}');
    });
  });

  it('binary mode keeps any bytes', async () => {
    await withBroker({ binary_data: true }, async (b, rec) => {
      const ch = uniqueChannel('bin');
      await b.subscribe(ch);
      const data = new Uint8Array([0, 255, 1, 128, 34]);
      await b.publish(ch, data, { ...HISTORY, clientInfo: { user: 'u', client: 'c', conn_info: new Uint8Array([9, 0]) } });
      await rec.waitFor(() => rec.pubs(ch).length === 1, 2000, 'the binary publication');
      assert.deepEqual([...rec.pubs(ch)[0]!.pub.data], [...data]);
      assert.deepEqual([...rec.pubs(ch)[0]!.pub.info!.conn_info!], [9, 0]);
      assert.deepEqual([...(await b.history(ch, { filter: { limit: -1 } })).publications[0]!.data], [...data]);
    });
  });
});

describe('postgres broker: schema and maintenance', () => {
  it('skip_schema_init fails run() naming the missing table', async () => {
    const other = `gyre_t${randomBytes(4).toString('hex')}`;
    const b = createBroker('postgres', options({ table_prefix: other, skip_schema_init: true }));
    try {
      await assert.rejects(b.run(new Recorder()), (e: unknown) => e instanceof BrokerError && e.code === 'backend_error' && e.message.includes(`table "${other}_stream" does not exist`));
    } finally {
      await b.close();
    }
    const tables = await admin.query(`SELECT 1 FROM pg_class WHERE relname LIKE $1`, [`${other}%`]);
    assert.equal(tables.rowCount, 0, 'nothing was created');
  });

  it('several nodes starting at once create the schema once; skip_schema_init then starts', async () => {
    const fresh = `gyre_t${randomBytes(4).toString('hex')}`;
    prefixes.add(fresh);
    const brokers = Array.from({ length: 4 }, () => createBroker('postgres', options({ table_prefix: fresh })));
    try {
      await Promise.all(brokers.map((b) => b.run(new Recorder())));
      const version = await admin.query(`SELECT schema_version FROM ${fresh}_stream_schema_version`);
      assert.deepEqual(version.rows, [{ schema_version: STREAM_SCHEMA_VERSION }]);
      const shards = await admin.query(`SELECT shard_id FROM ${fresh}_binary_stream_shard_lock ORDER BY shard_id`);
      assert.deepEqual(shards.rows.map((r: { shard_id: number }) => r.shard_id), [0, 1, 2, 3]);
    } finally {
      await Promise.all(brokers.map((b) => b.close()));
    }
    await withBroker({ table_prefix: fresh, skip_schema_init: true }, async (b) => {
      assert.equal((await b.publish(uniqueChannel('skip'), bytes('{}'), HISTORY)).position.offset, 1);
    });
  });

  it('a database at the previous schema version gets the current functions at start', async () => {
    const old = `gyre_t${randomBytes(4).toString('hex')}`;
    prefixes.add(old);
    await withBroker({ table_prefix: old }, async () => undefined);
    for (const binary of [false, true]) {
      const v = streamNames(old, binary);
      await admin.query(`UPDATE ${v.schemaVersion} SET schema_version = $1`, [STREAM_SCHEMA_VERSION - 1]);
      const def = (await admin.query<{ def: string }>(`SELECT pg_get_functiondef($1::regproc) AS def`, [v.publish])).rows[0]!.def;
      const body = def.slice(def.indexOf('$function$') + '$function$'.length, def.lastIndexOf('$function$'));
      await admin.query(def.replace(body, `\nBEGIN\n  RAISE EXCEPTION 'body of an older schema version';\nEND\n`));
    }
    await withBroker({ table_prefix: old }, async (b) => {
      assert.equal((await b.publish(uniqueChannel('upgraded'), bytes('{}'), HISTORY)).position.offset, 1);
    });
    await withBroker({ table_prefix: old, binary_data: true }, async (b) => {
      assert.equal((await b.publish(uniqueChannel('upgraded'), bytes('raw'), HISTORY)).position.offset, 1);
    });
    const version = await admin.query(`SELECT schema_version FROM ${old}_binary_stream_schema_version`);
    assert.deepEqual(version.rows, [{ schema_version: STREAM_SCHEMA_VERSION }]);
  });

  it('maintenance creates partitions ahead, drops old ones and deletes expired rows', async () => {
    const own = `gyre_t${randomBytes(4).toString('hex')}`;
    prefixes.add(own);
    const day = 86_400_000;
    const key = (ms: number) => new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');
    const parts = async () =>
      (await admin.query<{ relname: string }>(
        `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = $1 ORDER BY 1`,
        [`${own}_stream`],
      )).rows.map((r) => r.relname);
    await withBroker({ table_prefix: own, partition_lookahead_days: 2, partition_retention_days: 3 }, async (b) => {
      const now = Date.now();
      const initial = await parts();
      for (const d of [-1, 0, 1, 2]) assert.ok(initial.includes(`${own}_stream_p${key(now + d * day)}`), `day ${d} at start`);
      const res = await b.maintain(now + 10 * day);
      const later = await parts();
      for (const d of [9, 10, 11, 12]) assert.ok(later.includes(`${own}_stream_p${key(now + d * day)}`), `day ${d} ahead`);
      for (const d of [-1, 0, 1, 2, 6]) assert.ok(!later.includes(`${own}_stream_p${key(now + d * day)}`), `day ${d} dropped`);
      assert.ok(res.droppedPartitions.includes(`${own}_stream_p${key(now)}`));
      await b.maintain(now);
      assert.ok((await parts()).includes(`${own}_stream_p${key(now)}`), 'today again');

      const ch = uniqueChannel('expire');
      await b.publish(ch, bytes('{}'), { historySize: 5, historyTtlMs: 100, historyMetaTtlMs: 100, idempotencyKey: 'k', idempotentResultTtlMs: 100 });
      const count = async (table: string) => Number((await admin.query(`SELECT count(*) AS n FROM ${own}_stream_${table} WHERE channel = $1`, [ch])).rows[0].n);
      assert.deepEqual([await count('meta'), await count('idempotency')], [1, 1]);
      await sleep(300);
      await b.maintain();
      assert.deepEqual([await count('meta'), await count('idempotency')], [0, 0]);
    });
  });
});

/** A TCP relay to PostgreSQL that can be cut and restored, standing in for a server outage. */
class Relay {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  async up(): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(5432, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async down(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }
}

describe('postgres broker: outage', () => {
  it('rejects publishes with backend_error while PostgreSQL is unreachable and delivers every row once it is back', async () => {
    const relay = new Relay();
    await relay.up();
    const ch = uniqueChannel('outage');
    try {
      await withBroker({ dsn: `postgres://postgres@127.0.0.1:${relay.port}/postgres`, outbox: { poll_interval: 20 } }, async (b, rec) => {
        await b.subscribe(ch);
        await b.publish(ch, bytes('{"i":1}'), HISTORY);
        await rec.waitFor(() => rec.pubs(ch).length === 1, 2000, 'the first publication');
        await relay.down();
        await assert.rejects(b.publish(ch, bytes('{"i":0}'), HISTORY), (e: unknown) => e instanceof BrokerError && e.code === 'backend_error');
        // Written by another client straight to PostgreSQL while the broker cannot reach it.
        for (let i = 2; i <= 4; i++) {
          await admin.query(`SELECT * FROM ${prefix}_stream_publish(p_channel => $1, p_data => $2::jsonb, p_history_size => 10, p_history_ttl => '1 minute', p_num_shards => 4)`, [ch, `{"i":${i}}`]);
        }
        await sleep(500);
        assert.equal(rec.pubs(ch).length, 1);
        await relay.up();
        await rec.waitFor(() => rec.pubs(ch).length === 4, 5000, 'the rows written during the outage');
        await b.publish(ch, bytes('{"i":5}'), HISTORY);
        await rec.waitFor(() => rec.pubs(ch).length === 5, 5000, 'a publication after the outage');
        await sleep(200);
        assert.deepEqual(rec.pubs(ch).map((e) => e.pub.offset), [1, 2, 3, 4, 5]);
      });
    } finally {
      await relay.down();
    }
  });
});

describe('postgres broker: server wiring', () => {
  it('broker.type postgres from a loaded config builds a running PostgreSQL broker (config durations in ms)', async () => {
    const { config } = loadValues({
      broker: { enabled: true, type: 'postgres', postgres: { dsn: DSN, table_prefix: prefix, num_shards: 4, outbox: { poll_interval: '30ms' } } },
    });
    const engine = buildEngine({ engine: config.engine, broker: config.broker, presence_manager: config.presence_manager, historyMetaTtlMs: config.channel.history_meta_ttl }, nullLogger);
    try {
      assert.ok(engine.broker instanceof PostgresBroker);
      assert.equal(engine.controller, undefined, 'not a controller');
      assert.equal(engine.description, 'postgres+memory');
      const rec = new Recorder();
      await engine.broker.run(rec);
      const ch = uniqueChannel('wiring');
      await engine.broker.subscribe(ch);
      const res = await engine.broker.publish(ch, bytes('{"w":1}'), HISTORY);
      assert.equal(res.position.offset, 1);
      await rec.waitFor(() => rec.pubs(ch).length === 1, 2000, 'the publication');
    } finally {
      await engine.broker.close();
      await engine.presenceManager.close();
    }
  });
});
