/**
 * The redis_stream consumer against the real Redis on 127.0.0.1:6379: a Gyre process consumes
 * fresh streams (command mode over two streams, publication data mode with its own field names)
 * and an official SDK client sees what the entries publish. A second part kills a consuming Gyre
 * with SIGKILL while it holds unacknowledged entries and checks that a restarted one delivers
 * every entry at least once (subscriber on a separate Gyre sharing the Redis engine).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { SdkClients, subscribed } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { collect, sleep, uniq, waitEvent, waitFor } from '../helpers/wait.js';

const ADDRESS = ['redis://127.0.0.1:6379'];

async function groupExists(redis: Redis, stream: string, group: string): Promise<boolean> {
  try {
    const groups = (await redis.call('xinfo', 'groups', stream)) as unknown[][];
    return groups.some((g) => g.some((v, i) => i % 2 === 1 && g[i - 1] === 'name' && v === group));
  } catch {
    return false; // No stream yet.
  }
}

const pendingCount = async (redis: Redis, stream: string, group: string): Promise<number> => Number(((await redis.call('xpending', stream, group)) as unknown[])[0]);

describe('Redis Streams consumer', () => {
  let gyre: GyreProcess;
  let clients: SdkClients;
  const redis = new Redis({ host: '127.0.0.1', port: 6379 });
  const id = randomUUID().slice(0, 8);
  const cmdStream = `gyre-e2e-cmd-${id}`;
  const cmd2Stream = `gyre-e2e-cmd2-${id}`;
  const dataStream = `gyre-e2e-data-${id}`;
  const group = `gyre_${id}`;
  const clientName = `gyre-e2e-rs-${id}`;

  before(async () => {
    gyre = await startGyre({
      log: { level: 'warn' },
      client: { insecure: true },
      consumers: [
        {
          name: 'redis_commands',
          enabled: true,
          type: 'redis_stream',
          redis_stream: { address: ADDRESS, client_name: clientName, streams: [cmdStream, cmd2Stream], consumer_group: group, num_workers: 4, visibility_timeout: '1s' },
        },
        {
          name: 'redis_data',
          enabled: true,
          type: 'redis_stream',
          redis_stream: {
            address: ADDRESS,
            streams: [dataStream],
            consumer_group: group,
            payload_value: 'body',
            publication_data_mode: { enabled: true, channels_value: 'to', tags_value_prefix: 'tag-', idempotency_key_value: 'idem' },
          },
        },
      ],
    });
    clients = new SdkClients(gyre.wsUrl, 'json');
    // The group starts at `$`: entries added before it exists are not consumed.
    for (const s of [cmdStream, cmd2Stream, dataStream]) await waitFor(() => groupExists(redis, s, group), `group on ${s}`, 10_000);
  });
  after(async () => {
    clients?.closeAll();
    await gyre?.stop();
    await redis.del(cmdStream, cmd2Stream, dataStream);
    redis.disconnect();
  });

  const add = (stream: string, fields: Record<string, string>): Promise<string | null> => redis.xadd(stream, '*', ...Object.entries(fields).flat());

  it('runs an API command named by the method field, payload in the payload field', async () => {
    const client = await clients.connected();
    const channel = uniq('cmd');
    const { sub } = await subscribed(client, channel);
    const got = waitEvent(sub, 'publication');
    await add(cmdStream, { method: 'publish', payload: JSON.stringify({ channel, data: { n: 1 }, tags: { k: 'v' } }) });
    const ctx = await got;
    assert.deepEqual(ctx.data, { n: 1 });
    assert.deepEqual(ctx.tags, { k: 'v' });
    assert.doesNotMatch(gyre.output(), /consumers\[\d\]: not supported yet/);
  });

  it('without a method field reads a {"method","payload"} envelope, payload as object or JSON string', async () => {
    const client = await clients.connected();
    const channel = uniq('env');
    const { sub } = await subscribed(client, channel);
    const pubs = collect(sub, 'publication');
    await add(cmdStream, { payload: JSON.stringify({ method: 'publish', payload: { channel, data: { as: 'object' } } }) });
    await waitFor(() => pubs.length === 1, 'object envelope');
    await add(cmd2Stream, { payload: JSON.stringify({ method: 'publish', payload: JSON.stringify({ channel, data: { as: 'string' } }) }) });
    await waitFor(() => pubs.length === 2, 'string envelope');
    assert.deepEqual(
      pubs.map((p) => p.data),
      [{ as: 'object' }, { as: 'string' }],
    );
  });

  it('num_workers > 1: every entry of a burst is run once', async () => {
    const client = await clients.connected();
    const channel = uniq('burst');
    const { sub } = await subscribed(client, channel);
    const pubs = collect(sub, 'publication');
    const p = redis.pipeline();
    for (let i = 0; i < 200; i++) p.xadd(cmdStream, '*', 'method', 'publish', 'payload', JSON.stringify({ channel, data: { i } }));
    await p.exec();
    await waitFor(() => pubs.length >= 200, '200 publications', 10_000);
    await sleep(200);
    const seen = pubs.map((x) => (x.data as { i: number }).i).sort((a, b) => a - b);
    assert.deepEqual(
      seen,
      Array.from({ length: 200 }, (_, i) => i),
    );
    await waitFor(async () => (await pendingCount(redis, cmdStream, group)) === 0, 'all acknowledged');
  });

  it('acknowledges and skips bad entries (malformed JSON, unknown method, API error, no payload field) and still runs the next one', async () => {
    const client = await clients.connected();
    const channel = uniq('bad');
    const { sub } = await subscribed(client, channel);
    const pubs = collect(sub, 'publication');
    await add(cmdStream, { method: 'publish', payload: '{not json' });
    await add(cmdStream, { method: 'no_such_method', payload: JSON.stringify({ channel, data: { n: 'unknown' } }) });
    await add(cmdStream, { method: 'publish', payload: JSON.stringify({ channel: '', data: { n: 'bad request' } }) });
    await add(cmdStream, { method: 'publish', data: JSON.stringify({ channel, data: { n: 'no payload field' } }) });
    await add(cmdStream, { method: 'publish', payload: JSON.stringify({ channel, data: { n: 2 } }) });
    await waitFor(() => pubs.length >= 1, 'the good entry delivered');
    await sleep(300);
    assert.deepEqual(
      pubs.map((p) => p.data),
      [{ n: 2 }],
    );
    assert.match(gyre.output(), /consumer dropped a message it cannot run/);
    assert.doesNotMatch(gyre.output(), /will retry/);
    // Nothing left pending: dropped and skipped entries were acknowledged (not reclaimed later).
    await waitFor(async () => (await pendingCount(redis, cmdStream, group)) === 0, 'all acknowledged');
  });

  it('publication data mode: the configured channels field, one channel publishes with tags, several broadcast', async () => {
    const client = await clients.connected();
    const one = uniq('one');
    const a = uniq('bc_a');
    const b = uniq('bc_b');
    const { sub } = await subscribed(client, one);
    const { sub: subA } = await subscribed(client, a);
    const { sub: subB } = await subscribed(client, b);
    const got = waitEvent(sub, 'publication');
    await add(dataStream, { to: one, body: JSON.stringify({ price: 42 }), 'tag-ticker': 'BTC', 'tag-side': 'buy' });
    const ctx = await got;
    assert.deepEqual(ctx.data, { price: 42 });
    assert.deepEqual(ctx.tags, { ticker: 'BTC', side: 'buy' });
    const gotA = waitEvent(subA, 'publication');
    const gotB = waitEvent(subB, 'publication');
    await add(dataStream, { to: `${a},${b}`, body: JSON.stringify({ to: 'both' }), idem: uniq('k') });
    assert.deepEqual((await gotA).data, { to: 'both' });
    assert.deepEqual((await gotB).data, { to: 'both' });
    await waitFor(async () => (await pendingCount(redis, dataStream, group)) === 0, 'data entries acknowledged');
  });

  it('runs an entry left pending by a consumer that died, once idle past visibility_timeout', async () => {
    const client = await clients.connected();
    const channel = uniq('orphan');
    const { sub } = await subscribed(client, channel);
    const got = waitEvent(sub, 'publication', { timeoutMs: 15_000 });
    // Added and read by another consumer in one transaction, so Gyre's own read never sees it as new.
    const res = await redis
      .multi()
      .xadd(cmd2Stream, '*', 'method', 'publish', 'payload', JSON.stringify({ channel, data: { orphan: true } }))
      .xreadgroup('GROUP', group, 'dead-consumer', 'COUNT', 1, 'STREAMS', cmd2Stream, '>')
      .exec();
    const entryId = res?.[0]?.[1] as string;
    const pending = (await redis.call('xpending', cmd2Stream, group, '-', '+', 10)) as [string, string, number, number][];
    assert.deepEqual(
      pending.map((p) => [p[0], p[1]]),
      [[entryId, 'dead-consumer']],
    );
    assert.deepEqual((await got).data, { orphan: true });
    await waitFor(async () => (await pendingCount(redis, cmd2Stream, group)) === 0, 'reclaimed entry acknowledged');
  });

  it('reconnects when Redis closes its connections and keeps consuming', async () => {
    const ids = async (): Promise<string[]> =>
      ((await redis.call('client', 'list')) as string)
        .split('\n')
        .filter((l) => l.includes(` name=${clientName} `))
        .map((l) => /(?:^|\s)id=(\d+)/.exec(l)?.[1] ?? '');
    // One command connection plus one reading connection per stream, named by client_name.
    const before = await ids();
    assert.equal(before.length, 3);
    for (const cid of before) await redis.call('client', 'kill', 'id', cid);
    await waitFor(async () => (await ids()).filter((x) => !before.includes(x)).length === 3, 'connections back', 10_000);
    const client = await clients.connected();
    const channel = uniq('again');
    const { sub } = await subscribed(client, channel);
    const got = waitEvent(sub, 'publication', { timeoutMs: 10_000 });
    await add(cmd2Stream, { method: 'publish', payload: JSON.stringify({ channel, data: { n: 3 } }) });
    assert.deepEqual((await got).data, { n: 3 });
  });

  it('stops consuming on shutdown with nothing left pending', async () => {
    const code = await gyre.stop();
    assert.equal(code, 0);
    for (const s of [cmdStream, cmd2Stream, dataStream]) assert.equal(await pendingCount(redis, s, group), 0, s);
  });
});

describe('Redis Streams consumer: a Gyre killed while holding entries', () => {
  const redis = new Redis({ host: '127.0.0.1', port: 6379 });
  const id = randomUUID().slice(0, 8);
  const stream = `gyre-e2e-kill-${id}`;
  const group = `gyre_kill_${id}`;
  const prefix = `gyre-e2e-rs-${id}`;
  const engine = { engine: { type: 'redis', redis: { address: ADDRESS, prefix } } };
  const consumerConfig = {
    ...engine,
    log: { level: 'warn' },
    consumers: [
      {
        name: 'redis_kill',
        enabled: true,
        type: 'redis_stream',
        redis_stream: { address: ADDRESS, streams: [stream], consumer_group: group, num_workers: 16, visibility_timeout: '1s' },
      },
    ],
  };
  let observer: GyreProcess;
  let clients: SdkClients;
  const gyres: GyreProcess[] = [];

  before(async () => {
    // The subscriber sits on a node without consumers, reached through the Redis engine.
    observer = await startGyre({ ...engine, log: { level: 'warn' }, client: { insecure: true } });
    clients = new SdkClients(observer.wsUrl, 'json');
  });
  after(async () => {
    clients?.closeAll();
    await Promise.all([observer?.stop(), ...gyres.map((g) => g.stop())]);
    await redis.del(stream);
    const left = await redis.keys(`${prefix}*`);
    if (left.length > 0) await redis.del(...left);
    redis.disconnect();
  });

  it('after SIGKILL and a restart every entry is delivered at least once', async () => {
    const client = await clients.connected();
    const channel = uniq('kill');
    const { sub } = await subscribed(client, channel);
    const pubs = collect(sub, 'publication');
    const first = await startGyre(consumerConfig);
    gyres.push(first);
    await waitFor(() => groupExists(redis, stream, group), 'group created', 10_000);
    const total = 3000;
    const p = redis.pipeline();
    for (let i = 0; i < total; i++) p.xadd(stream, '*', 'method', 'publish', 'payload', JSON.stringify({ channel, data: { i } }));
    await p.exec();
    await waitFor(() => pubs.length >= 300, 'some delivered before the kill', 20_000);
    first.child.kill('SIGKILL');
    await waitFor(() => first.exitCode() !== null, 'first Gyre gone');
    const pendingAtKill = await pendingCount(redis, stream, group);
    const deliveredAtKill = pubs.length;

    const second = await startGyre(consumerConfig);
    gyres.push(second);
    const distinct = (): number => new Set(pubs.map((x) => (x.data as { i: number }).i)).size;
    await waitFor(() => distinct() === total, `all ${total} entries delivered`, 60_000);
    await waitFor(async () => (await pendingCount(redis, stream, group)) === 0, 'nothing left pending', 15_000);
    await sleep(300);
    console.log(`redis_stream kill test: ${total} entries, ${deliveredAtKill} delivered before SIGKILL, ${pendingAtKill} pending (unacknowledged) at the kill, ${pubs.length - distinct()} duplicates`);
    const seen = new Set(pubs.map((x) => (x.data as { i: number }).i));
    for (let i = 0; i < total; i++) assert.ok(seen.has(i), `entry ${i} lost`);
  });
});
