/**
 * The RabbitMQ consumer when its Gyre process dies: a Gyre consuming a queue of a few thousand
 * messages (prefetch 100) is SIGKILLed in the middle, a second Gyre on the same Redis engine
 * holds the official SDK subscriber, and after a restart every message is delivered at least
 * once. The duplicate count is printed as a figure.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { connect, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { SdkClients, subscribed } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { uniq, waitFor } from '../helpers/wait.js';

const AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';

describe('RabbitMQ consumer: Gyre killed with unacknowledged messages', () => {
  const queue = `gyre_e2e_kill_${randomUUID().slice(0, 8)}`;
  const prefix = `gyre-rmq-${randomUUID().slice(0, 8)}`;
  const engine = { engine: { type: 'redis', redis: { address: ['redis://127.0.0.1:6379'], prefix } }, client: { insecure: true } };
  const consumerConfig = {
    ...engine,
    log: { level: 'warn' },
    consumers: [{ name: 'rmq_kill', enabled: true, type: 'rabbitmq', rabbitmq: { url: AMQP_URL, queue, prefetch_count: 100 } }],
  };
  let amqp: ChannelModel;
  let ch: ConfirmChannel;
  let observer: GyreProcess;
  let worker: GyreProcess | undefined;
  let clients: SdkClients;

  before(async () => {
    amqp = await connect(AMQP_URL);
    ch = await amqp.createConfirmChannel();
    await ch.assertQueue(queue, { durable: true });
    // The SDK client sits on a second node of the same Redis engine: it outlives the killed one.
    observer = await startGyre({ ...engine, log: { level: 'warn' } });
    clients = new SdkClients(observer.wsUrl, 'json');
  });
  after(async () => {
    clients?.closeAll();
    await worker?.stop();
    await observer?.stop();
    await ch?.deleteQueue(queue).catch(() => undefined);
    await amqp?.close().catch(() => undefined);
  });

  it('after SIGKILL and a restart every message is delivered at least once', async () => {
    const client = await clients.connected();
    const channel = uniq('kill');
    const { sub } = await subscribed(client, channel);
    const got: number[] = [];
    sub.on('publication', (ctx) => got.push(ctx.data.i as number));
    const n = 5000;
    for (let i = 0; i < n; i++) {
      if (!ch.sendToQueue(queue, Buffer.from(JSON.stringify({ channel, data: { i } })), { headers: { 'centrifugo-method': 'publish' } })) {
        await new Promise((r) => ch.once('drain', r));
      }
    }
    await ch.waitForConfirms();
    assert.equal((await ch.checkQueue(queue)).messageCount, n);

    worker = await startGyre(consumerConfig);
    await waitFor(() => got.length >= 300, 'some deliveries before the kill', 15_000);
    worker.child.kill('SIGKILL');
    await waitFor(() => worker!.exitCode() !== null, 'killed');
    const deliveredAtKill = new Set(got).size;
    // The broker sees the connection drop and puts what the killed process held back in the queue.
    await waitFor(async () => (await ch.checkQueue(queue)).consumerCount === 0, 'the killed consumer gone from the broker', 10_000);
    const leftAtKill = (await ch.checkQueue(queue)).messageCount;
    assert.ok(leftAtKill > 0 && leftAtKill < n, `messages left at the kill: ${leftAtKill}`);
    await worker.stop();

    worker = await startGyre(consumerConfig);
    const unique = (): number => new Set(got).size;
    await waitFor(() => unique() === n, `all ${n} messages`, 40_000);
    await waitFor(async () => {
      const q = await ch.checkQueue(queue);
      return q.messageCount === 0 && q.consumerCount === 1;
    }, 'queue drained');
    assert.ok(got.every((i) => Number.isInteger(i) && i >= 0 && i < n));
    const duplicates = got.length - unique();
    console.log(
      `rabbitmq kill test: ${n} messages, ${deliveredAtKill} delivered and ${n - leftAtKill} acknowledged before the kill, ${duplicates} delivered more than once, 0 lost`,
    );
  });
});
