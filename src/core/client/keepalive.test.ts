// The session's keepalive timer under a fake clock: the stale check before connect, then pings
// every interval (answered pongs keep the cadence), the pong check closing a silent client
// with 3012, and one timer entry per connection whatever the phase.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBroker, MemoryPresenceManager } from '../../brokers/memory/index.js';
import { jsonCodec } from '../../protocol/codec.js';
import type { Disconnect } from '../../protocol/codes.js';
import { MemoryTransport, until } from '../memory-transport.test-helper.js';
import { Node } from '../node.js';

async function setup(rules: { ping_interval: number; pong_timeout: number }) {
  let now = 1_000_000;
  const node = new Node(
    { client: { insecure: true, stale_close_delay: 3000, ...rules } },
    { broker: new MemoryBroker(), presenceManager: new MemoryPresenceManager(), clock: { now: () => now } },
  );
  await node.start();
  const t = new MemoryTransport();
  const c = node.createClient(t, { headers: {} });
  /** Moves the clock forward in wheel steps, answering each ping with a pong when asked. */
  const advance = async (ms: number, pong: boolean): Promise<number[]> => {
    const pingsAt: number[] = [];
    for (let left = ms; left > 0; left -= 100) {
      now += 100;
      const before = t.frames.length;
      node.wheel.tick();
      // The writer flushes at the end of the event-loop turn.
      await new Promise((r) => setImmediate(r));
      for (const f of t.frames.slice(before)) {
        if (f !== '{}') continue;
        pingsAt.push(now);
        if (pong) c.handleFrame(Buffer.from('{}'));
      }
    }
    return pingsAt;
  };
  return { node, t, c, advance };
}

async function connect(s: Awaited<ReturnType<typeof setup>>): Promise<void> {
  s.c.handleFrame(jsonCodec.encodeCommand({ id: 1, connect: {} }));
  await until(() => s.t.frames.length >= 1);
  assert.match(s.t.frames[0]!, /"connect"/);
}

test('a connection that never connects is closed as stale (3502) after stale_close_delay, not before', async () => {
  const s = await setup({ ping_interval: 1000, pong_timeout: 400 });
  await s.advance(2900, false);
  assert.equal(s.t.closed, undefined);
  await s.advance(200, false);
  assert.equal((s.t.closed as Disconnect | undefined)?.code, 3502);
  await s.node.shutdown();
});

test('answered pings keep coming every interval, with one timer entry for the connection throughout', async () => {
  const s = await setup({ ping_interval: 1000, pong_timeout: 400 });
  await connect(s);
  assert.equal(s.node.wheel.size, 1, 'connected: one timer (the first ping)');
  const pingsAt = await s.advance(10_000, true);
  assert.equal(s.t.closed, undefined, 'answered pings keep the connection');
  assert.ok(pingsAt.length >= 9 && pingsAt.length <= 11, `pings in 10 s: ${pingsAt.length}`);
  for (let i = 1; i < pingsAt.length; i++) {
    const gap = pingsAt[i]! - pingsAt[i - 1]!;
    assert.ok(gap >= 1000 && gap <= 1200, `gap between pings ${gap} ms`);
  }
  // A ping waiting for its pong, then answered: still the one entry.
  while ((await s.advance(100, false)).length === 0);
  assert.equal(s.node.wheel.size, 1, 'a ping waiting for its pong');
  s.c.handleFrame(Buffer.from('{}'));
  await s.advance(500, true);
  assert.equal(s.t.closed, undefined);
  assert.equal(s.node.wheel.size, 1, 'after the pong');
  s.c.close({ code: 3000, reason: 'bye', reconnect: true } as unknown as Disconnect);
  assert.equal(s.node.wheel.size, 0, 'closing releases the timer');
  await s.node.shutdown();
});

test('a ping without its pong closes with 3012 once the pong timeout has passed, not before', async () => {
  const s = await setup({ ping_interval: 1000, pong_timeout: 400 });
  await connect(s);
  const pings: number[] = [];
  while (pings.length === 0) pings.push(...(await s.advance(100, false)));
  await s.advance(300, false);
  assert.equal(s.t.closed, undefined, 'within the pong timeout');
  await s.advance(200, false);
  assert.equal((s.t.closed as Disconnect | undefined)?.code, 3012);
  assert.equal(s.node.wheel.size, 0);
  await s.node.shutdown();
});

test('a pong timeout of an interval or more never closes: the next ping comes first', async () => {
  const s = await setup({ ping_interval: 1000, pong_timeout: 1500 });
  await connect(s);
  const pingsAt = await s.advance(5000, false);
  assert.ok(pingsAt.length >= 4, `pings: ${pingsAt.length}`);
  assert.equal(s.t.closed, undefined);
  await s.node.shutdown();
});
