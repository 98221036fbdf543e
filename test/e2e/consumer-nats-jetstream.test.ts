/**
 * The NATS JetStream consumer against the real NATS (JetStream) on 127.0.0.1:4222: Gyre
 * processes consume durables of a fresh stream (one subject per case) and an official SDK
 * client sees what the messages publish. The stream is made here and deleted at the end:
 * Gyre never creates streams.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { AckPolicy, DeliverPolicy, connect, headers as natsHeaders, nanos, type JetStreamManager, type NatsConnection } from 'nats';
import { apiResult } from '../helpers/api.js';
import { SdkClients, subscribed } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { collect, uniq, waitEvent, waitFor } from '../helpers/wait.js';

const NATS_URL = 'nats://127.0.0.1:4222';
const API_KEY = 'njs-key';

describe('NATS JetStream consumer', () => {
  const stream = `gyre_e2e_${randomUUID().slice(0, 8)}`;
  const subj = (s: string): string => `${stream}.${s}`;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let gyre: GyreProcess;
  let clients: SdkClients;
  // Published before Gyre starts: only the deliver_policy "all" durable sees its message.
  const allChannel = `hist:${uniq('all')}`;
  const newChannel = `hist:${uniq('new')}`;

  const send = async (subject: string, body: string, hdrs: Record<string, string> = {}): Promise<void> => {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(hdrs)) h.set(k, v);
    await nc.jetstream().publish(subject, Buffer.from(body), { headers: h });
  };
  const cmd = (s: string, name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    name,
    enabled: true,
    type: 'nats_jetstream',
    nats_jetstream: { url: NATS_URL, stream_name: stream, durable_consumer_name: `${name}_d`, subjects: [subj(s)], ...extra },
  });
  const drained = async (durable: string): Promise<boolean> => {
    const info = await jsm.consumers.info(stream, durable);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  };

  before(async () => {
    nc = await connect({ servers: NATS_URL });
    jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    await jsm.consumers.add(stream, { durable_name: 'exist_d', ack_policy: AckPolicy.Explicit, ack_wait: nanos(7_000), max_ack_pending: 3, filter_subject: subj('exist'), deliver_policy: DeliverPolicy.All });
    await send(subj('all'), JSON.stringify({ channel: allChannel, data: { early: true } }), { 'centrifugo-method': 'publish' });
    await send(subj('new'), JSON.stringify({ channel: newChannel, data: { early: true } }), { 'centrifugo-method': 'publish' });
    gyre = await startGyre({
      log: { level: 'info' },
      client: { insecure: true },
      http_api: { key: API_KEY },
      channel: { namespaces: [{ name: 'hist', history_size: 10, history_ttl: '300s' }] },
      consumers: [
        cmd('cmd', 'js_cmd'),
        cmd('data', 'js_data', { publication_data_mode: { enabled: true }, max_ack_pending: 10 }),
        cmd('all', 'js_all', { deliver_policy: 'all' }),
        cmd('new', 'js_new', { deliver_policy: 'new' }),
        { name: 'js_exist', enabled: true, type: 'nats_jetstream', nats_jetstream: { url: NATS_URL, stream_name: stream, durable_consumer_name: 'exist_d', use_existing_consumer: true } },
        { name: 'js_absent', enabled: true, type: 'nats_jetstream', nats_jetstream: { url: NATS_URL, stream_name: stream, durable_consumer_name: 'absent_d', use_existing_consumer: true } },
        { name: 'js_nostream', enabled: true, type: 'nats_jetstream', nats_jetstream: { url: NATS_URL, stream_name: `${stream}_missing`, durable_consumer_name: 'x_d' } },
      ],
    });
    clients = new SdkClients(gyre.wsUrl, 'json');
    await waitFor(() => (gyre.output().match(/nats jetstream consumer running/g) ?? []).length === 5, 'five consumers running', 10_000);
  });
  after(async () => {
    clients?.closeAll();
    await gyre?.stop();
    await jsm?.streams.delete(stream).catch(() => undefined);
    await nc?.close();
  });

  it('creates the durables Gyre owns and names no not-supported warning', async () => {
    const info = await jsm.consumers.info(stream, 'js_data_d');
    assert.equal(info.config.ack_wait, nanos(30_000));
    assert.equal(info.config.max_ack_pending, 10);
    assert.equal(info.config.filter_subject, subj('data'));
    assert.equal(info.config.ack_policy, AckPolicy.Explicit);
    assert.doesNotMatch(gyre.output(), /consumers\[\d\]: not supported yet/);
  });

  it('runs an API command named by the method header', async () => {
    const client = await clients.connected();
    const channel = uniq('cmd');
    const { sub } = await subscribed(client, channel);
    const got = waitEvent(sub, 'publication');
    await send(subj('cmd'), JSON.stringify({ channel, data: { n: 1 }, tags: { k: 'v' } }), { 'centrifugo-method': 'publish' });
    const ctx = await got;
    assert.deepEqual(ctx.data, { n: 1 });
    assert.deepEqual(ctx.tags, { k: 'v' });
  });

  it('envelope mode without the header: payload as an object and as a JSON string', async () => {
    const client = await clients.connected();
    const channel = uniq('env');
    const { sub } = await subscribed(client, channel);
    const pubs = collect(sub, 'publication');
    await send(subj('cmd'), JSON.stringify({ method: 'publish', payload: { channel, data: { as: 'object' } } }));
    await send(subj('cmd'), JSON.stringify({ method: 'publish', payload: JSON.stringify({ channel, data: { as: 'string' } }) }));
    await waitFor(() => pubs.length >= 2, 'both envelopes');
    assert.deepEqual(
      pubs.map((p) => p.data),
      [{ as: 'object' }, { as: 'string' }],
    );
  });

  it('keeps delivery order over many messages', async () => {
    const client = await clients.connected();
    const channel = uniq('order');
    const { sub } = await subscribed(client, channel);
    const pubs = collect(sub, 'publication');
    const n = 300;
    for (let i = 0; i < n; i++) await send(subj('cmd'), JSON.stringify({ channel, data: { i } }), { 'centrifugo-method': 'publish' });
    await waitFor(() => pubs.length >= n, `${n} publications`, 15_000);
    assert.deepEqual(
      pubs.map((p) => p.data.i),
      Array.from({ length: n }, (_, i) => i),
    );
  });

  it('acks and skips bad messages without blocking the ones after them', async () => {
    const client = await clients.connected();
    const channel = uniq('bad');
    const { sub } = await subscribed(client, channel);
    const pubs = collect(sub, 'publication');
    await send(subj('cmd'), '{not json', { 'centrifugo-method': 'publish' });
    await send(subj('cmd'), JSON.stringify({ channel, data: { n: 'unknown' } }), { 'centrifugo-method': 'no_such_method' });
    await send(subj('cmd'), JSON.stringify({ channel: '', data: { n: 'bad request' } }), { 'centrifugo-method': 'publish' });
    await send(subj('cmd'), JSON.stringify({ channel, data: { n: 2 } }), { 'centrifugo-method': 'publish' });
    await waitFor(() => pubs.length >= 1, 'the good message delivered');
    assert.deepEqual(
      pubs.map((p) => p.data),
      [{ n: 2 }],
    );
    assert.match(gyre.output(), /consumer dropped a message it cannot run/);
    assert.doesNotMatch(gyre.output(), /consumer message failed, will retry/);
    // Every message was acknowledged: nothing pending, nothing awaiting redelivery.
    await waitFor(() => drained('js_cmd_d'), 'durable drained');
  });

  it('publication data mode: one channel publishes with tags and idempotency key, several broadcast', async () => {
    const client = await clients.connected();
    const a = uniq('pd_a');
    const b = uniq('pd_b');
    const { sub: subA } = await subscribed(client, a);
    const { sub: subB } = await subscribed(client, b);
    const pubsA = collect(subA, 'publication');
    const key = uniq('k');
    await send(subj('data'), JSON.stringify({ price: 42 }), { 'centrifugo-channels': a, 'centrifugo-tag-ticker': 'BTC', 'centrifugo-idempotency-key': key });
    // Same idempotency key: the publish is not repeated.
    await send(subj('data'), JSON.stringify({ price: 43 }), { 'centrifugo-channels': a, 'centrifugo-idempotency-key': key });
    const gotB = waitEvent(subB, 'publication');
    await send(subj('data'), JSON.stringify({ to: 'both' }), { 'centrifugo-channels': `${a}, ${b}` });
    assert.deepEqual((await gotB).data, { to: 'both' });
    await waitFor(() => pubsA.length >= 2, 'two publications on a');
    assert.deepEqual(
      pubsA.map((p) => p.data),
      [{ price: 42 }, { to: 'both' }],
    );
    assert.deepEqual(pubsA[0].tags, { ticker: 'BTC' });
    await waitFor(() => drained('js_data_d'), 'durable drained');
  });

  it('deliver_policy all reads what the stream held before start, new does not', async () => {
    await send(subj('new'), JSON.stringify({ channel: newChannel, data: { late: true } }), { 'centrifugo-method': 'publish' });
    const history = async (channel: string): Promise<unknown[]> => (await apiResult(gyre.apiUrl, API_KEY, 'history', { channel, limit: 10 })).publications.map((p: { data: unknown }) => p.data);
    await waitFor(async () => (await history(newChannel)).length > 0, 'the late message');
    assert.deepEqual(await history(newChannel), [{ late: true }]);
    await waitFor(async () => (await history(allChannel)).length > 0, 'the early message');
    assert.deepEqual(await history(allChannel), [{ early: true }]);
    assert.equal((await jsm.consumers.info(stream, 'js_new_d')).config.deliver_policy, DeliverPolicy.New);
    assert.equal((await jsm.consumers.info(stream, 'js_all_d')).config.deliver_policy, DeliverPolicy.All);
  });

  it('use_existing_consumer attaches to the durable as it is', async () => {
    const client = await clients.connected();
    const channel = uniq('exist');
    const { sub } = await subscribed(client, channel);
    const got = waitEvent(sub, 'publication');
    await send(subj('exist'), JSON.stringify({ channel, data: { attached: true } }), { 'centrifugo-method': 'publish' });
    assert.deepEqual((await got).data, { attached: true });
    // Gyre left the durable's settings alone.
    const info = await jsm.consumers.info(stream, 'exist_d');
    assert.equal(info.config.ack_wait, nanos(7_000));
    assert.equal(info.config.max_ack_pending, 3);
  });

  it('a missing durable (use_existing_consumer) or stream is a logged error, retried until it appears', async () => {
    assert.match(gyre.output(), /durable consumer \\?"absent_d\\?" does not exist/);
    assert.match(gyre.output(), /does not exist \(Gyre does not create streams\)/);
    await assert.rejects(jsm.consumers.info(stream, 'absent_d'), /consumer not found/);
    await jsm.consumers.add(stream, { durable_name: 'absent_d', ack_policy: AckPolicy.Explicit, filter_subject: subj('absent'), deliver_policy: DeliverPolicy.All });
    const client = await clients.connected();
    const channel = uniq('absent');
    const { sub } = await subscribed(client, channel);
    const got = waitEvent(sub, 'publication', { timeoutMs: 15_000 });
    await send(subj('absent'), JSON.stringify({ channel, data: { late: 'durable' } }), { 'centrifugo-method': 'publish' });
    assert.deepEqual((await got).data, { late: 'durable' });
  });

  it('recreates its durable when it is deleted', async () => {
    await jsm.consumers.delete(stream, 'js_cmd_d');
    await waitFor(
      () => jsm.consumers.info(stream, 'js_cmd_d').then(() => true, () => false),
      'durable recreated',
      10_000,
    );
    const client = await clients.connected();
    const channel = uniq('again');
    const { sub } = await subscribed(client, channel);
    const got = waitEvent(sub, 'publication', { timeoutMs: 10_000 });
    // The new durable delivers only new messages: wait until it pulls before publishing.
    await waitFor(async () => (await jsm.consumers.info(stream, 'js_cmd_d')).num_waiting > 0, 'recreated durable pulling', 10_000);
    await send(subj('cmd'), JSON.stringify({ channel, data: { n: 3 } }), { 'centrifugo-method': 'publish' });
    assert.deepEqual((await got).data, { n: 3 });
  });

  it('stops on shutdown with every message acknowledged', async () => {
    assert.equal(await gyre.stop(), 0);
    for (const d of ['js_cmd_d', 'js_data_d', 'js_all_d', 'js_new_d', 'exist_d', 'absent_d']) assert.ok(await drained(d), d);
  });
});

describe('NATS JetStream consumer: Gyre killed with unacknowledged messages', () => {
  const stream = `gyre_e2e_kill_${randomUUID().slice(0, 8)}`;
  const subject = `${stream}.kill`;
  const prefix = `gyre-njs-${randomUUID().slice(0, 8)}`;
  const engine = { engine: { type: 'redis', redis: { address: ['redis://127.0.0.1:6379'], prefix } }, client: { insecure: true } };
  // The consumer node: a durable made here with a short ack wait, so that what the killed process
  // held comes back within seconds instead of Gyre's own 30 s.
  const consumerConfig = {
    ...engine,
    log: { level: 'warn' },
    consumers: [{ name: 'js_kill', enabled: true, type: 'nats_jetstream', nats_jetstream: { url: NATS_URL, stream_name: stream, durable_consumer_name: 'kill_d', use_existing_consumer: true } }],
  };
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let observer: GyreProcess;
  let worker: GyreProcess | undefined;
  let clients: SdkClients;

  before(async () => {
    nc = await connect({ servers: NATS_URL });
    jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    await jsm.consumers.add(stream, { durable_name: 'kill_d', ack_policy: AckPolicy.Explicit, ack_wait: nanos(2_000), max_ack_pending: 50, deliver_policy: DeliverPolicy.All });
    // The SDK client sits on a second node of the same Redis engine: it outlives the killed one.
    observer = await startGyre({ ...engine, log: { level: 'warn' } });
    clients = new SdkClients(observer.wsUrl, 'json');
  });
  after(async () => {
    clients?.closeAll();
    await worker?.stop();
    await observer?.stop();
    await jsm?.streams.delete(stream).catch(() => undefined);
    await nc?.close();
  });

  it('after SIGKILL and a restart every message is delivered at least once', async () => {
    const client = await clients.connected();
    const channel = uniq('kill');
    const { sub } = await subscribed(client, channel);
    const got: number[] = [];
    sub.on('publication', (ctx) => got.push(ctx.data.i as number));
    const n = 5000;
    const js = nc.jetstream();
    const h = natsHeaders();
    h.set('centrifugo-method', 'publish');
    for (let i = 0; i < n; i += 250) {
      await Promise.all(Array.from({ length: Math.min(250, n - i) }, (_, k) => js.publish(subject, Buffer.from(JSON.stringify({ channel, data: { i: i + k } })), { headers: h })));
    }
    worker = await startGyre(consumerConfig);
    await waitFor(() => got.length >= 300, 'some deliveries before the kill', 15_000);
    worker.child.kill('SIGKILL');
    await waitFor(() => worker!.exitCode() !== null, 'killed');
    const atKill = await jsm.consumers.info(stream, 'kill_d');
    // The killed process held messages it had not acknowledged, and more were left in the stream.
    assert.ok(atKill.num_ack_pending > 0, `ack pending at kill: ${atKill.num_ack_pending}`);
    assert.ok(atKill.num_pending > 0, `pending at kill: ${atKill.num_pending}`);
    await worker.stop();
    worker = await startGyre(consumerConfig);
    const unique = (): number => new Set(got).size;
    await waitFor(() => unique() === n, `all ${n} messages`, 60_000);
    await waitFor(async () => (await jsm.consumers.info(stream, 'kill_d')).num_ack_pending === 0, 'all acknowledged', 10_000);
    const duplicates = got.length - unique();
    console.log(`nats_jetstream kill test: ${n} messages, ${atKill.num_ack_pending} unacknowledged at the kill, ${duplicates} delivered more than once, 0 lost`);
    assert.ok(got.every((i) => i >= 0 && i < n));
  });
});
