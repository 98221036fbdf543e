/**
 * The RabbitMQ consumer against the real RabbitMQ on 127.0.0.1:5672: a Gyre process consumes
 * two fresh queues (one in command mode, one in publication data mode) and an official SDK
 * client sees what the messages publish.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { connect, type Channel, type ChannelModel } from 'amqplib';
import { SdkClients, subscribed } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { apiResult } from '../helpers/api.js';
import { collect, uniq, waitEvent, waitFor } from '../helpers/wait.js';

const AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';

describe('RabbitMQ consumer', () => {
  let gyre: GyreProcess;
  let clients: SdkClients;
  let amqp: ChannelModel;
  let ch: Channel;
  const commandQueue = uniq('gyre_cmd_');
  const dataQueue = uniq('gyre_data_');

  const consumerCount = async (queue: string): Promise<number> => {
    const probe = await amqp.createChannel();
    probe.on('error', () => undefined);
    let count: number;
    try {
      count = (await probe.checkQueue(queue)).consumerCount;
    } catch {
      return -1; // Not declared yet; the broker closed the probe channel.
    }
    await probe.close();
    return count;
  };

  before(async () => {
    amqp = await connect(AMQP_URL);
    ch = await amqp.createChannel();
    gyre = await startGyre({
      log: { level: 'warn' },
      client: { insecure: true },
      http_api: { key: 'rabbit-key' },
      prometheus: { enabled: true },
      consumers: [
        { name: 'rabbit_commands', enabled: true, type: 'rabbitmq', rabbitmq: { url: AMQP_URL, queue: commandQueue } },
        {
          name: 'rabbit_data',
          enabled: true,
          type: 'rabbitmq',
          rabbitmq: { url: AMQP_URL, queue: dataQueue, prefetch_count: 10, publication_data_mode: { enabled: true } },
        },
      ],
    });
    clients = new SdkClients(gyre.wsUrl, 'json');
    // Gyre declares both queues and starts consuming them.
    await waitFor(async () => (await consumerCount(commandQueue)) === 1 && (await consumerCount(dataQueue)) === 1, 'Gyre consuming both queues', 10_000);
  });
  after(async () => {
    clients?.closeAll();
    await gyre?.stop();
    await ch?.deleteQueue(commandQueue).catch(() => undefined);
    await ch?.deleteQueue(dataQueue).catch(() => undefined);
    await amqp?.close().catch(() => undefined);
  });

  const send = (queue: string, body: string, headers: Record<string, string>): void => {
    assert.ok(ch.sendToQueue(queue, Buffer.from(body), { headers }));
  };

  it('declares the queue durable and names no not-supported warning for it', async () => {
    // Re-declaring with other durability is refused by the broker: the queue Gyre made is durable.
    const probe = await amqp.createChannel();
    probe.on('error', () => undefined);
    await assert.rejects(probe.assertQueue(commandQueue, { durable: false }), /PRECONDITION_FAILED/);
    const again = await amqp.createChannel();
    await again.assertQueue(commandQueue, { durable: true });
    await again.close();
    assert.doesNotMatch(gyre.output(), /consumers\[\d\]: not supported yet/);
  });

  it('runs an API command named by the method header', async () => {
    const client = await clients.connected();
    const channel = uniq('cmd');
    const { sub } = await subscribed(client, channel);
    const got = waitEvent(sub, 'publication');
    send(commandQueue, JSON.stringify({ channel, data: { n: 1 }, tags: { k: 'v' } }), { 'centrifugo-method': 'publish' });
    const ctx = await got;
    assert.deepEqual(ctx.data, { n: 1 });
    assert.deepEqual(ctx.tags, { k: 'v' });
  });

  it('drops a malformed message or unknown method and still delivers the next one', async () => {
    const client = await clients.connected();
    const channel = uniq('bad');
    const { sub } = await subscribed(client, channel);
    const pubs = collect(sub, 'publication');
    send(commandQueue, '{not json', { 'centrifugo-method': 'publish' });
    send(commandQueue, JSON.stringify({ channel, data: { n: 'unknown' } }), { 'centrifugo-method': 'no_such_method' });
    send(commandQueue, JSON.stringify({ channel: '', data: { n: 'bad request' } }), { 'centrifugo-method': 'publish' });
    send(commandQueue, JSON.stringify({ channel, data: { n: 2 } }), { 'centrifugo-method': 'publish' });
    await waitFor(() => pubs.length >= 1, 'the good message delivered');
    assert.deepEqual(
      pubs.map((p) => p.data),
      [{ n: 2 }],
    );
    // The bad ones were dropped (logged, acked), not requeued.
    assert.match(gyre.output(), /consumer dropped a message it cannot run/);
    assert.doesNotMatch(gyre.output(), /will retry/);
    await waitFor(async () => (await ch.checkQueue(commandQueue)).messageCount === 0, 'queue drained');
  });

  it('publication data mode: one channel publishes, with tags from centrifugo-tag-* headers', async () => {
    const client = await clients.connected();
    const channel = uniq('one');
    const { sub } = await subscribed(client, channel);
    const got = waitEvent(sub, 'publication');
    send(dataQueue, JSON.stringify({ price: 42 }), { 'centrifugo-channels': channel, 'centrifugo-tag-ticker': 'BTC', 'centrifugo-tag-side': 'buy' });
    const ctx = await got;
    assert.deepEqual(ctx.data, { price: 42 });
    assert.deepEqual(ctx.tags, { ticker: 'BTC', side: 'buy' });
  });

  it('publication data mode: several channels broadcast', async () => {
    const client = await clients.connected();
    const a = uniq('bc_a');
    const b = uniq('bc_b');
    const { sub: subA } = await subscribed(client, a);
    const { sub: subB } = await subscribed(client, b);
    const gotA = waitEvent(subA, 'publication');
    const gotB = waitEvent(subB, 'publication');
    send(dataQueue, JSON.stringify({ to: 'both' }), { 'centrifugo-channels': `${a}, ${b}`, 'centrifugo-idempotency-key': uniq('k') });
    assert.deepEqual((await gotA).data, { to: 'both' });
    assert.deepEqual((await gotB).data, { to: 'both' });
  });

  it('info and /metrics show each consumer with its state and counters', async () => {
    const info = await apiResult(gyre.apiUrl, 'rabbit-key', 'info', {});
    const consumers = info.nodes[0].consumers as { name: string; type: string; status: string; processed: number; errors: number; pending?: number }[];
    assert.deepEqual(
      consumers.map((c) => [c.name, c.type, c.status]),
      [
        ['rabbit_commands', 'rabbitmq', 'running'],
        ['rabbit_data', 'rabbitmq', 'running'],
      ],
    );
    // Earlier cases ran 2 good and 3 bad commands (the unknown method is skipped, not an error).
    const cmd = consumers[0]!;
    assert.equal(cmd.processed, 5);
    assert.equal(cmd.errors, 2);
    assert.equal(typeof cmd.pending, 'number');
    const metrics = await (await fetch(`${gyre.base}/metrics`)).text();
    assert.match(metrics, /centrifugo_consumers_messages_processed_total\{consumer_name="rabbit_commands"\} 5\n/);
    assert.match(metrics, /centrifugo_consumers_errors_total\{consumer_name="rabbit_commands"\} 2\n/);
    assert.match(metrics, /centrifugo_consumers_messages_processed_total\{consumer_name="rabbit_data"\} 2\n/);
  });

  it('reconnects when the broker closes its connection and keeps delivering', async () => {
    const rows = execFileSync('rabbitmqctl', ['-q', 'list_connections', '--no-table-headers', 'pid', 'client_properties'], { encoding: 'utf8', timeout: 30_000 });
    const mine = rows.split('\n').filter((l) => l.includes('gyre consumer rabbit_commands'));
    assert.equal(mine.length, 1, rows);
    execFileSync('rabbitmqctl', ['-q', 'close_connection', mine[0]!.split('\t')[0]!, 'e2e: forced close'], { timeout: 30_000 });
    await waitFor(async () => (await consumerCount(commandQueue)) === 0, 'consumer dropped by the broker');
    await waitFor(async () => (await consumerCount(commandQueue)) === 1, 'consumer back', 10_000);
    const client = await clients.connected();
    const channel = uniq('again');
    const { sub } = await subscribed(client, channel);
    const got = waitEvent(sub, 'publication');
    send(commandQueue, JSON.stringify({ channel, data: { n: 3 } }), { 'centrifugo-method': 'publish' });
    assert.deepEqual((await got).data, { n: 3 });
  });

  it('stops consuming on shutdown', async () => {
    const code = await gyre.stop();
    assert.equal(code, 0);
    await waitFor(async () => (await consumerCount(commandQueue)) === 0 && (await consumerCount(dataQueue)) === 0, 'consumers gone');
    // Every message was acknowledged: none went back to the queues when the connection closed.
    assert.equal((await ch.checkQueue(commandQueue)).messageCount, 0);
    assert.equal((await ch.checkQueue(dataQueue)).messageCount, 0);
  });
});
