import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BrokerEventHandler, BrokerPublication, Clock } from '../../core/ports.js';
import { BrokerError } from '../errors.js';
import { createBroker, createPresenceManager } from '../index.js';
import { DEFAULT_HISTORY_META_TTL_MS, MemoryBroker } from './memory-broker.js';
import { MemoryPresenceManager } from './memory-presence.js';

class FakeClock implements Clock {
  constructor(public t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

const data = (s: string) => new TextEncoder().encode(s);
const H = { historySize: 10, historyTtlMs: 60_000 };

function collector(): BrokerEventHandler & { pubs: BrokerPublication[] } {
  const pubs: BrokerPublication[] = [];
  return { pubs, handlePublication: (_c, p) => void pubs.push(p), handleJoin: () => {}, handleLeave: () => {} };
}

async function broker(clock: FakeClock, defaultHistoryMetaTtlMs?: number): Promise<MemoryBroker> {
  const b = new MemoryBroker(defaultHistoryMetaTtlMs === undefined ? { clock } : { clock, defaultHistoryMetaTtlMs });
  await b.run(collector());
  return b;
}

describe('MemoryBroker with an injected clock', () => {
  it('makes epochs of 8 letters from [a-zA-Z]', async () => {
    const b = await broker(new FakeClock());
    const epochs = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const { position } = await b.history(`ch${i}`, { filter: { limit: 0 } });
      assert.match(position.epoch, /^[a-zA-Z]{8}$/);
      epochs.add(position.epoch);
    }
    assert.equal(epochs.size, 20);
    await b.close();
  });

  it('history keeps its own copy of data that is a view into a larger buffer (no pool slab pinned)', async () => {
    const b = await broker(new FakeClock());
    const slab = new Uint8Array(8192);
    slab.set(data('hello'), 100);
    await b.publish('ch', slab.subarray(100, 105), H);
    const own = data('exact');
    await b.publish('ch', own, H);
    const [first, second] = (await b.history('ch', { filter: { limit: -1 } })).publications;
    assert.equal(new TextDecoder().decode(first!.data), 'hello');
    assert.equal(first!.data.buffer.byteLength, 5, 'the view was copied');
    assert.equal(second!.data, own, 'data that owns its buffer is kept as is');
    await b.close();
  });

  it('data expiry empties the stream at now + historyTtlMs, keeping top and epoch', async () => {
    const clock = new FakeClock();
    const b = await broker(clock);
    const { position } = await b.publish('ch', data('a'), { historySize: 10, historyTtlMs: 1000 });
    clock.advance(600);
    await b.publish('ch', data('b'), { historySize: 10, historyTtlMs: 1000 });
    clock.advance(600); // 1200 after the first publish, 600 after the last: still retained
    assert.equal((await b.history('ch', { filter: { limit: -1 } })).publications.length, 2);
    clock.advance(400);
    const h = await b.history('ch', { filter: { limit: -1 } });
    assert.deepEqual(h, { publications: [], position: { offset: 2, epoch: position.epoch } });
    await b.close();
  });

  it('meta expiry uses historyMetaTtlMs, else the default, and reads push it forward', async () => {
    const clock = new FakeClock();
    const b = await broker(clock, 5000);
    const first = await b.publish('ch', data('a'), { ...H, historyMetaTtlMs: 1000 });
    clock.advance(999);
    assert.equal((await b.history('ch', { filter: { limit: 0 }, metaTtlMs: 1000 })).position.epoch, first.position.epoch);
    clock.advance(999); // 1998 after publish, 999 after the read
    assert.equal((await b.history('ch', { filter: { limit: 0 } })).position.epoch, first.position.epoch);
    clock.advance(4999); // the last read used the 5000 default
    assert.equal((await b.history('ch', { filter: { limit: 0 } })).position.epoch, first.position.epoch);
    clock.advance(5000);
    const fresh = await b.history('ch', { filter: { limit: -1 } });
    assert.notEqual(fresh.position.epoch, first.position.epoch);
    assert.equal(fresh.position.offset, 0);
    assert.deepEqual(fresh.publications, []);
    await b.close();
  });

  it('meta expiry also resets the last version', async () => {
    const clock = new FakeClock();
    const b = await broker(clock);
    await b.publish('ch', data('a'), { ...H, version: 5 });
    clock.advance(DEFAULT_HISTORY_META_TTL_MS);
    const res = await b.publish('ch', data('b'), { ...H, version: 1 });
    assert.equal(res.suppressed, false);
    assert.equal(res.position.offset, 1);
    await b.close();
  });

  it('idempotent results expire after idempotentResultTtlMs (default 5 minutes)', async () => {
    const clock = new FakeClock();
    const b = await broker(clock);
    await b.publish('ch', data('a'), { ...H, idempotencyKey: 'k' });
    clock.advance(5 * 60_000 - 1);
    assert.equal((await b.publish('ch', data('a'), { ...H, idempotencyKey: 'k' })).suppressed, true);
    clock.advance(1);
    assert.deepEqual((await b.publish('ch', data('a'), { ...H, idempotencyKey: 'k' })).position.offset, 2);
    await b.publish('ch', data('a'), { ...H, idempotencyKey: 'short', idempotentResultTtlMs: 10 });
    clock.advance(10);
    assert.equal((await b.publish('ch', data('a'), { ...H, idempotencyKey: 'short', idempotentResultTtlMs: 10 })).suppressed, false);
    await b.close();
  });

  it('sweep frees expired streams with the same outcome as lazy expiry', async () => {
    const clock = new FakeClock();
    const b = await broker(clock, 1000);
    const first = await b.publish('ch', data('a'), { historySize: 10, historyTtlMs: 100 });
    await b.publish('other', data('a'), { historySize: 10, historyTtlMs: 100, historyMetaTtlMs: 60_000 });
    clock.advance(1000);
    b.sweep();
    assert.notEqual((await b.history('ch', { filter: { limit: 0 } })).position.epoch, first.position.epoch);
    const other = await b.history('other', { filter: { limit: -1 } });
    assert.deepEqual([other.position.offset, other.publications.length], [1, 0]);
    await b.close();
  });

  it('delivers synchronously, before publish resolves', async () => {
    const b = new MemoryBroker({ clock: new FakeClock() });
    const seen: number[] = [];
    await b.run({ handlePublication: (_c, p) => void seen.push(p.offset), handleJoin: () => {}, handleLeave: () => {} });
    await b.subscribe('ch');
    const pending = [b.publish('ch', data('1'), H), b.publish('ch', data('2'), H)];
    assert.deepEqual(seen, [1, 2], 'delivered during the publish calls');
    await Promise.all(pending);
    await b.close();
  });

  it('keeps offsets contiguous across many trims (compaction)', async () => {
    const b = await broker(new FakeClock());
    for (let i = 1; i <= 1000; i++) await b.publish('ch', data(String(i)), { historySize: 7, historyTtlMs: 1000 });
    const h = await b.history('ch', { filter: { limit: -1 } });
    assert.deepEqual(h.publications.map((p) => p.offset), [994, 995, 996, 997, 998, 999, 1000]);
    assert.deepEqual(h.publications.map((p) => new TextDecoder().decode(p.data)), ['994', '995', '996', '997', '998', '999', '1000']);
    await b.close();
  });

  it('rejects calls after close with code broker_closed; close is idempotent', async () => {
    const b = await broker(new FakeClock());
    await b.close();
    await b.close();
    await assert.rejects(b.publish('ch', data('x'), {}), (e: unknown) => e instanceof BrokerError && e.code === 'broker_closed');
    await assert.rejects(b.history('ch', { filter: { limit: 0 } }), (e: unknown) => e instanceof BrokerError && e.code === 'broker_closed');
  });
});

describe('MemoryPresenceManager', () => {
  it('moves the user count when a refresh changes the user', async () => {
    const pm = new MemoryPresenceManager();
    await pm.addPresence('ch', 'c1', { user: 'a', client: 'c1' });
    await pm.addPresence('ch', 'c2', { user: 'a', client: 'c2' });
    await pm.addPresence('ch', 'c1', { user: 'b', client: 'c1' });
    assert.deepEqual(await pm.presenceStats('ch'), { numClients: 2, numUsers: 2 });
    await pm.removePresence('ch', 'c2', 'a');
    assert.deepEqual(await pm.presenceStats('ch'), { numClients: 1, numUsers: 1 });
    await pm.close();
  });
});

describe('broker factory', () => {
  it('creates memory implementations', async () => {
    const b = createBroker('memory');
    assert.ok(b instanceof MemoryBroker);
    assert.equal(b.reliable, true);
    await b.close();
    assert.ok(createPresenceManager('memory') instanceof MemoryPresenceManager);
  });

  it('refuses unknown types with code unknown_broker', () => {
    assert.throws(() => createBroker('kafka'), (e: unknown) => e instanceof BrokerError && e.code === 'unknown_broker' && /kafka/.test(e.message));
    assert.throws(() => createPresenceManager('nope'), (e: unknown) => e instanceof BrokerError && e.code === 'unknown_broker');
  });
});
