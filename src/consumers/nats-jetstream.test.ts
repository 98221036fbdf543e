/**
 * The NATS JetStream consumer against the real NATS on 127.0.0.1:4222 with a FakeNode behind
 * the API executor: how it sets up the durable, and the retry path (nak with delay, redelivery
 * until the API call succeeds).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { AckPolicy, DeliverPolicy, connect, headers as natsHeaders, nanos, type JetStreamManager, type NatsConnection } from 'nats';
import { ApiExecutor } from '../api/index.js';
import { FakeNode } from '../api/fake-node.test-helper.js';
import { LogLimiter, type Logger } from '../core/index.js';
import { PUBLICATION_DATA_HEADERS } from './consumer.js';
import { Dispatcher } from './dispatcher.js';
import { NatsJetStreamConsumer, type NatsJetStreamOptions } from './nats-jetstream.js';

const lines: string[] = [];
const logger: Logger = {
  debug: () => {},
  info: (_f: object, m: string) => lines.push(`info ${m}`),
  warn: (_f: object, m: string) => lines.push(`warn ${m}`),
  error: (_f: object, m: string) => lines.push(`error ${m}`),
} as unknown as Logger;

const stream = `gyre_unit_${randomBytes(4).toString('hex')}`;

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 8000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function setup(durable: string, over: Partial<NatsJetStreamOptions> = {}): { node: FakeNode; consumer: NatsJetStreamConsumer } {
  const node = new FakeNode();
  const executor = new ApiExecutor(node, { logger, protocol: 'consuming' });
  const d = new Dispatcher(executor, { name: 'unit', methodHeader: 'centrifugo-method', publicationDataMode: { enabled: false, ...PUBLICATION_DATA_HEADERS } }, new LogLimiter(logger, { intervalMs: 0 }));
  const consumer = new NatsJetStreamConsumer(
    { name: 'unit', url: 'nats://127.0.0.1:4222', streamName: stream, durableConsumerName: durable, useExistingConsumer: false, subjects: [], deliverPolicy: 'all', maxAckPending: 100, ...over },
    d,
    logger,
  );
  return { node, consumer };
}

describe('NATS JetStream consumer (FakeNode)', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  before(async () => {
    nc = await connect({ servers: '127.0.0.1:4222' });
    jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
  });
  after(async () => {
    await jsm?.streams.delete(stream).catch(() => undefined);
    await nc?.close();
  });

  const publish = async (subject: string, body: unknown, method?: string): Promise<void> => {
    const h = natsHeaders();
    if (method !== undefined) h.set('centrifugo-method', method);
    await nc.jetstream().publish(subject, Buffer.from(JSON.stringify(body)), { headers: h });
  };

  it('creates the durable pull consumer: explicit ack, AckWait 30s, max_ack_pending, deliver policy, filter subject', async () => {
    const { consumer } = setup('setup_d', { subjects: [`${stream}.only`], deliverPolicy: 'new', maxAckPending: 7 });
    await consumer.start();
    try {
      await waitFor(() => consumer.state().status === 'running', 'running');
      const info = await jsm.consumers.info(stream, 'setup_d');
      assert.equal(info.config.ack_policy, AckPolicy.Explicit);
      assert.equal(info.config.ack_wait, nanos(30_000));
      assert.equal(info.config.max_ack_pending, 7);
      assert.equal(info.config.deliver_policy, DeliverPolicy.New);
      assert.equal(info.config.filter_subject, `${stream}.only`);
      assert.equal(info.config.durable_name, 'setup_d');
    } finally {
      await consumer.close();
    }
    assert.equal(consumer.state().status, 'stopped');
  });

  it('naks a message whose API call fails with an internal error and gets it redelivered until it succeeds', async () => {
    const { node, consumer } = setup('retry_d', { subjects: [`${stream}.retry`] });
    node.throwOn.publish = new Error('broker down');
    await publish(`${stream}.retry`, { channel: 'news', data: { n: 1 } }, 'publish');
    await consumer.start();
    try {
      // Each failed attempt is a fresh delivery from the server (a nak, not the 30 s ack wait).
      await waitFor(() => node.callsOf('publish').length >= 3, 'three failed attempts');
      const failing = await jsm.consumers.info(stream, 'retry_d');
      assert.ok(failing.num_redelivered >= 1, `redelivered ${failing.num_redelivered}`);
      assert.ok(consumer.state().errors >= 3);
      delete node.throwOn.publish;
      const before = node.callsOf('publish').length;
      await waitFor(async () => (await jsm.consumers.info(stream, 'retry_d')).num_ack_pending === 0 && node.callsOf('publish').length > before, 'acked after success');
      assert.equal(consumer.state().processed, 1);
      assert.equal(consumer.state().pending, 0);
      assert.ok(lines.some((l) => l.includes('will retry')));
    } finally {
      await consumer.close();
    }
  });
});
