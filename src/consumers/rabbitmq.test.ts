/**
 * The RabbitMQ consumer against the real RabbitMQ on 127.0.0.1:5672 with a FakeNode behind the
 * API executor: a message whose API call fails with an internal error stays unacknowledged, is
 * requeued after a growing delay and succeeds later; what that does to the order of the messages
 * behind it; the counters.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { connect, type Channel, type ChannelModel } from 'amqplib';
import { ApiExecutor } from '../api/index.js';
import { FakeNode } from '../api/fake-node.test-helper.js';
import type { ApiPublishRequest, ApiPublishResult } from '../core/node-api.js';
import { LogLimiter, type Logger } from '../core/index.js';
import { PUBLICATION_DATA_HEADERS } from './consumer.js';
import { Dispatcher } from './dispatcher.js';
import { RabbitMqConsumer } from './rabbitmq.js';

const AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';
const lines: string[] = [];
const logger: Logger = {
  debug: () => {},
  info: () => {},
  warn: (_f: object, m: string) => lines.push(`warn ${m}`),
  error: (_f: object, m: string) => lines.push(`error ${m}`),
} as unknown as Logger;

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 8000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A FakeNode whose first `failing` publish calls throw; records when each call came. */
class FlakyNode extends FakeNode {
  readonly at: number[] = [];
  constructor(private failing: number) {
    super();
  }
  override async publish(req: ApiPublishRequest): Promise<ApiPublishResult> {
    this.at.push(performance.now());
    if (this.failing > 0) {
      this.failing--;
      this.throwOn.publish = new Error('broker down');
    } else delete this.throwOn.publish;
    return super.publish(req);
  }
}

describe('RabbitMQ consumer (FakeNode, real RabbitMQ)', () => {
  let amqp: ChannelModel;
  let ch: Channel;
  const queues: string[] = [];
  const consumers: RabbitMqConsumer[] = [];

  before(async () => {
    amqp = await connect(AMQP_URL);
    ch = await amqp.createChannel();
  });
  after(async () => {
    for (const c of consumers) await c.close();
    for (const q of queues) await ch.deleteQueue(q).catch(() => undefined);
    await amqp?.close().catch(() => undefined);
  });

  const setup = (node: FakeNode, prefetchCount: number): { consumer: RabbitMqConsumer; queue: string } => {
    const queue = `gyre_unit_${randomBytes(4).toString('hex')}`;
    queues.push(queue);
    const executor = new ApiExecutor(node, { logger, protocol: 'consuming' });
    const d = new Dispatcher(executor, { name: 'unit', methodHeader: 'centrifugo-method', publicationDataMode: { enabled: false, ...PUBLICATION_DATA_HEADERS } }, new LogLimiter(logger, { intervalMs: 0 }));
    const consumer = new RabbitMqConsumer({ name: 'unit', url: AMQP_URL, queue, prefetchCount }, d, logger);
    consumers.push(consumer);
    return { consumer, queue };
  };
  const send = async (queue: string, channels: string[]): Promise<void> => {
    await ch.assertQueue(queue, { durable: true });
    for (const c of channels) ch.sendToQueue(queue, Buffer.from(JSON.stringify({ channel: c, data: { c } })), { headers: { 'centrifugo-method': 'publish' } });
  };
  const channelsOf = (node: FakeNode): string[] => node.callsOf('publish').map((a) => (a as { channel: string }).channel);
  /** Ready + unacknowledged messages of the queue, as the broker counts them. */
  const depth = async (queue: string): Promise<{ ready: number; consumers: number }> => {
    const q = await ch.checkQueue(queue);
    return { ready: q.messageCount, consumers: q.consumerCount };
  };

  it('keeps a failing message unacknowledged, requeues it with a growing delay and runs it once it succeeds (prefetch 1: order kept)', async () => {
    const failing = 4;
    const node = new FlakyNode(failing);
    const { consumer, queue } = setup(node, 1);
    await send(queue, ['m0', 'm1', 'm2', 'm3']);
    await consumer.start();
    await waitFor(() => node.at.length >= 2, 'two attempts');
    // While failing, the head message is held by the consumer (not acked, not dropped) and the rest wait in the queue.
    // (Between a requeue and its redelivery the head is briefly ready again, hence the wait.)
    await waitFor(async () => (await depth(queue)).ready === 3, 'the other three waiting in the queue');
    await waitFor(() => channelsOf(node).length === failing + 4, 'every message once it succeeds');
    // Every failed attempt was the head message; once it went through the rest followed in order.
    assert.deepEqual(channelsOf(node), ['m0', 'm0', 'm0', 'm0', 'm0', 'm1', 'm2', 'm3']);
    // The requeue waits retryDelayMs(k) (at least 10·2^(k-1) ms) after the k-th consecutive failure.
    for (let k = 1; k <= failing; k++) {
      const gap = node.at[k]! - node.at[k - 1]!;
      assert.ok(gap >= 10 * 2 ** (k - 1) - 2, `gap after failure ${k}: ${gap.toFixed(1)} ms`);
    }
    await waitFor(async () => (await depth(queue)).ready === 0, 'queue drained');
    const s = consumer.state();
    assert.equal(s.status, 'running');
    assert.equal(s.processed, 4);
    assert.equal(s.errors, failing);
    assert.match(s.lastError ?? '', /publish: internal server error/);
    assert.ok(lines.some((l) => l.includes('will retry')));
    await consumer.close();
    assert.equal(consumer.state().status, 'stopped');
    // Nothing went back to the queue: every message was acknowledged exactly once it succeeded.
    assert.equal((await depth(queue)).ready, 0);
  });

  it('with a wider prefetch window the messages delivered behind a failing one are requeued with it: the order survives the retry', async () => {
    const node = new FlakyNode(3);
    const { consumer, queue } = setup(node, 10);
    const names = Array.from({ length: 30 }, (_, i) => `w${i}`);
    await send(queue, names);
    await consumer.start();
    await waitFor(() => node.calls.length === names.length + 3, 'every message');
    // Three failed attempts of the head message, then every message exactly once, in queue order.
    assert.deepEqual(channelsOf(node), ['w0', 'w0', 'w0', ...names]);
    await waitFor(async () => (await depth(queue)).ready === 0, 'queue drained');
    const s = consumer.state();
    assert.equal(s.processed, names.length);
    assert.equal(s.errors, 3);
    await consumer.close();
    assert.equal((await depth(queue)).consumers, 0);
  });
});
