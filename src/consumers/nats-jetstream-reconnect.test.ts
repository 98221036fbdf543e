/**
 * The NATS JetStream consumer across a NATS server outage: a throwaway nats-server with
 * JetStream (spare port, temp store dir) is killed under a running consumer and restarted on the
 * same port and store; the consumer shows the outage in its status and last error, comes back to
 * running and processes what is published after the restart. A FakeNode sits behind the API executor.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, headers as natsHeaders, type NatsConnection } from 'nats';
import { ApiExecutor } from '../api/index.js';
import { FakeNode } from '../api/fake-node.test-helper.js';
import { LogLimiter, type Logger } from '../core/index.js';
import type { ConsumerStatus } from './consumer.js';
import { PUBLICATION_DATA_HEADERS } from './consumer.js';
import { Dispatcher } from './dispatcher.js';
import { NatsJetStreamConsumer } from './nats-jetstream.js';

const logger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} } as unknown as Logger;

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A nats-server with JetStream on `port`, storing under `dir`; resolves once it takes connections. */
async function startNats(port: number, dir: string): Promise<ChildProcess> {
  const proc = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: 'ignore' });
  process.once('exit', () => proc.kill('SIGKILL'));
  await waitFor(async () => {
    try {
      const nc = await connect({ servers: `127.0.0.1:${port}`, reconnect: false, timeout: 500 });
      await nc.jetstreamManager();
      await nc.close();
      return true;
    } catch {
      return false;
    }
  }, `nats-server on ${port}`);
  return proc;
}

async function kill(proc: ChildProcess | undefined): Promise<void> {
  if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGKILL');
  await exited;
}

describe('NATS JetStream consumer across a server outage (FakeNode, throwaway nats-server)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gyre-nats-'));
  const stream = 'gyre_reconnect';
  let port = 0;
  let server: ChildProcess | undefined;

  before(async () => {
    port = await freePort();
    server = await startNats(port, dir);
  });
  after(async () => {
    await kill(server);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Publishes one command through a short-lived connection (the server may have restarted meanwhile). */
  const publish = async (channel: string): Promise<void> => {
    const nc: NatsConnection = await connect({ servers: `127.0.0.1:${port}` });
    try {
      const h = natsHeaders();
      h.set('centrifugo-method', 'publish');
      await nc.jetstream().publish(`${stream}.x`, Buffer.from(JSON.stringify({ channel, data: { channel } })), { headers: h });
    } finally {
      await nc.close();
    }
  };

  it('goes reconnecting while the server is down, back to running after it restarts, and processes messages published after the restart', async () => {
    const nc = await connect({ servers: `127.0.0.1:${port}` });
    await (await nc.jetstreamManager()).streams.add({ name: stream, subjects: [`${stream}.>`] });
    await nc.close();

    const node = new FakeNode();
    const executor = new ApiExecutor(node, { logger, protocol: 'consuming' });
    const d = new Dispatcher(executor, { name: 'unit', methodHeader: 'centrifugo-method', publicationDataMode: { enabled: false, ...PUBLICATION_DATA_HEADERS } }, new LogLimiter(logger, { intervalMs: 0 }));
    const consumer = new NatsJetStreamConsumer(
      { name: 'unit', url: `nats://127.0.0.1:${port}`, streamName: stream, durableConsumerName: 'reconnect_d', useExistingConsumer: false, subjects: [], deliverPolicy: 'all', maxAckPending: 100 },
      d,
      logger,
    );
    const seen: ConsumerStatus[] = [];
    const watch = setInterval(() => {
      const s = consumer.state().status;
      if (seen.at(-1) !== s) seen.push(s);
    }, 5);
    const channels = (): string[] => node.callsOf('publish').map((a) => (a as { channel: string }).channel);
    try {
      await consumer.start();
      await publish('before');
      await waitFor(() => channels().includes('before'), 'the message published before the outage');
      assert.equal(consumer.state().status, 'running');

      await kill(server);
      await waitFor(() => consumer.state().status === 'reconnecting', 'reconnecting');
      assert.match(consumer.state().lastError ?? '', /nats connection lost/);
      const errorsInOutage = consumer.state().errors;
      assert.ok(errorsInOutage >= 1);

      server = await startNats(port, dir);
      await waitFor(() => consumer.state().status === 'running', 'running again', 15_000);
      await publish('after');
      await waitFor(() => channels().includes('after'), 'the message published after the restart', 15_000);
      assert.deepEqual(channels(), ['before', 'after']);
      assert.equal(consumer.state().processed, 2);
      assert.deepEqual(seen.slice(seen.indexOf('running')), ['running', 'reconnecting', 'running']);
    } finally {
      clearInterval(watch);
      await consumer.close();
    }
    assert.equal(consumer.state().status, 'stopped');
  });
});
