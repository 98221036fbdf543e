/**
 * RedisStreamConsumer against the real Redis on 127.0.0.1:6379 with a Dispatcher over an
 * ApiExecutor on a FakeNode: retries through reclaim, the worker bound, entries without payload,
 * a slow entry not run twice by its own reclaim. Each test uses fresh stream and group names.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { ApiExecutor } from '../api/index.js';
import { FakeNode } from '../api/fake-node.test-helper.js';
import type { ApiPublishRequest, ApiPublishResult } from '../core/node-api.js';
import { LogLimiter, type Logger } from '../core/index.js';
import { PUBLICATION_DATA_HEADERS } from './consumer.js';
import { Dispatcher } from './dispatcher.js';
import { RedisStreamConsumer, type RedisStreamOptions, type StreamClientFactory } from './redis-stream.js';

const logger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} } as unknown as Logger;

const factory: StreamClientFactory = async (req = {}) => {
  const c = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, commandTimeout: 4000 + (req.blockMs ?? 0) });
  c.on('error', () => undefined);
  await c.connect();
  return c;
};

async function waitFor<T>(cond: () => T | Promise<T>, what: string, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A FakeNode whose first `failures` publishes throw (an internal error, code 100). */
class FlakyNode extends FakeNode {
  constructor(private failures: number) {
    super();
  }
  override async publish(req: ApiPublishRequest): Promise<ApiPublishResult> {
    if (this.failures > 0) {
      this.failures--;
      this.throwOn.publish = new Error('storage down');
    } else delete this.throwOn.publish;
    return super.publish(req);
  }
}

describe('RedisStreamConsumer', () => {
  const redis = new Redis({ host: '127.0.0.1', port: 6379 });
  const keys: string[] = [];
  const consumers: RedisStreamConsumer[] = [];
  after(async () => {
    await Promise.all(consumers.map((c) => c.close()));
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  async function setup(node: FakeNode, o: Partial<RedisStreamOptions> = {}): Promise<{ c: RedisStreamConsumer; stream: string; group: string }> {
    const stream = `gyre-test-stream-${randomUUID()}`;
    const group = `g-${randomUUID().slice(0, 8)}`;
    keys.push(stream);
    const executor = new ApiExecutor(node, { logger, protocol: 'consuming' });
    const d = new Dispatcher(executor, { name: 'rs', methodHeader: 'centrifugo-method', publicationDataMode: { enabled: false, ...PUBLICATION_DATA_HEADERS } }, new LogLimiter(logger));
    const c = new RedisStreamConsumer(
      { name: 'rs', streams: [stream], group, consumerName: 'node-a', visibilityTimeoutMs: 300, numWorkers: 1, payloadField: 'payload', methodField: 'method', reclaimIntervalMs: 100, ...o },
      factory,
      d,
      logger,
    );
    consumers.push(c);
    await c.start();
    // The group exists once the consumer is running (created at `$`: only later entries count).
    await waitFor(async () => c.state().status === 'running' && ((await redis.call('xinfo', 'groups', stream)) as unknown[]).length === 1, 'group created');
    return { c, stream, group };
  }

  const pendingCount = async (stream: string, group: string): Promise<number> => Number(((await redis.call('xpending', stream, group)) as unknown[])[0]);

  it('leaves a message that failed with an internal error pending and runs it again through reclaim until it succeeds', async () => {
    const node = new FlakyNode(2);
    const { c, stream, group } = await setup(node);
    await redis.xadd(stream, '*', 'method', 'publish', 'payload', JSON.stringify({ channel: 'news', data: { n: 1 } }));
    await waitFor(() => node.callsOf('publish').length === 3, 'two failures and one success');
    await waitFor(async () => (await pendingCount(stream, group)) === 0, 'acknowledged after success');
    const st = c.state();
    assert.equal(st.processed, 1);
    assert.equal(st.errors, 2);
    assert.match(st.lastError ?? '', /internal server error/);
    // Nothing more runs once acknowledged.
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(node.callsOf('publish').length, 3);
  });

  it('runs up to num_workers entries of a stream at once, never more', async () => {
    const node = new FakeNode();
    node.publishDelayMs = 60;
    const { stream, group } = await setup(node, { numWorkers: 3, visibilityTimeoutMs: 30_000 });
    for (let i = 0; i < 12; i++) await redis.xadd(stream, '*', 'method', 'publish', 'payload', JSON.stringify({ channel: 'news', data: { i } }));
    await waitFor(() => node.callsOf('publish').length === 12, 'all run');
    await waitFor(async () => (await pendingCount(stream, group)) === 0, 'all acknowledged');
    assert.equal(node.maxInFlight, 3);
  });

  it('skips and acknowledges an entry without the payload field, envelope mode without the method field', async () => {
    const node = new FakeNode();
    const { c, stream, group } = await setup(node);
    await redis.xadd(stream, '*', 'method', 'publish', 'data', '{}');
    await redis.xadd(stream, '*', 'payload', JSON.stringify({ method: 'publish', payload: JSON.stringify({ channel: 'env', data: 1 }) }));
    await waitFor(() => node.callsOf('publish').length === 1, 'envelope run');
    await waitFor(async () => (await pendingCount(stream, group)) === 0, 'both acknowledged');
    assert.equal((node.callsOf('publish')[0] as { channel: string }).channel, 'env');
    assert.equal(c.state().processed, 2);
    assert.match(c.state().lastError ?? '', /no "payload" field/);
  });

  it('does not run an entry again while its own worker still holds it past the visibility timeout', async () => {
    const node = new FakeNode();
    node.publishDelayMs = 900;
    const { stream, group } = await setup(node, { visibilityTimeoutMs: 150, numWorkers: 2 });
    await redis.xadd(stream, '*', 'method', 'publish', 'payload', JSON.stringify({ channel: 'slow', data: 1 }));
    await waitFor(async () => (await pendingCount(stream, group)) === 0 && node.callsOf('publish').length > 0, 'acknowledged');
    assert.equal(node.callsOf('publish').length, 1);
  });

  it('reports pending entries (unacknowledged plus not yet delivered) and stops on close', async () => {
    let open: () => void = () => undefined;
    const gate = new Promise<void>((r) => (open = r));
    const node = new (class extends FakeNode {
      override async publish(req: ApiPublishRequest): Promise<ApiPublishResult> {
        await gate;
        return super.publish(req);
      }
    })();
    const { c, stream } = await setup(node, { visibilityTimeoutMs: 60_000 });
    for (let i = 0; i < 4; i++) await redis.xadd(stream, '*', 'method', 'publish', 'payload', JSON.stringify({ channel: 'p', data: i }));
    await waitFor(() => node.callsOf('publish').length === 0 && c.state().pending === 4, 'pending figure: one in hand, three not delivered', 12_000);
    open();
    await waitFor(() => node.callsOf('publish').length === 4, 'all run');
    await c.close();
    assert.equal(c.state().status, 'stopped');
  });

  it('keeps retrying with backoff while Redis is unreachable, counts the failures and closes at once', async () => {
    const unreachable: StreamClientFactory = async () => {
      const c = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
      c.on('error', () => undefined);
      try {
        await c.connect();
      } catch (err) {
        c.disconnect();
        throw err;
      }
      return c;
    };
    const executor = new ApiExecutor(new FakeNode(), { logger, protocol: 'consuming' });
    const d = new Dispatcher(executor, { name: 'down', methodHeader: 'method', publicationDataMode: { enabled: false, ...PUBLICATION_DATA_HEADERS } }, new LogLimiter(logger));
    const c = new RedisStreamConsumer(
      { name: 'down', streams: ['a', 'b'], group: 'g', consumerName: 'n', visibilityTimeoutMs: 1000, numWorkers: 1, payloadField: 'payload', methodField: 'method' },
      unreachable,
      d,
      logger,
    );
    consumers.push(c);
    await c.start();
    await waitFor(() => c.state().status === 'reconnecting' && c.state().errors >= 4, 'failures counted');
    assert.match(c.state().lastError ?? '', /^[ab]: ./);
    const errors = c.state().errors;
    await c.close();
    assert.equal(c.state().status, 'stopped');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(c.state().errors, errors, 'no attempt after close');
  });
});
