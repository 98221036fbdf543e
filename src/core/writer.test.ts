import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryTransport } from './memory-transport.test-helper.js';
import { ConnectionWriter, deferDelivery, type DeferredDelivery } from './writer.js';
import { holdFlush } from './flush-gate.js';

const turn = () => new Promise((r) => setImmediate(r));

test('items queued in one event-loop turn leave in one write, in order', async () => {
  const sink = new MemoryTransport();
  const w = new ConnectionWriter(sink, 1024, () => assert.fail('no overflow expected'));
  w.enqueue(Buffer.from('a'));
  w.enqueue(Buffer.from('b'));
  w.enqueue(Buffer.from('c'));
  assert.equal(sink.writes.length, 0);
  await turn();
  assert.deepEqual(sink.writes, [['a', 'b', 'c']]);
  w.enqueue(Buffer.from('d'));
  await turn();
  assert.deepEqual(sink.writes, [['a', 'b', 'c'], ['d']]);
});

test('a queue past its bound overflows once and accepts nothing more', async () => {
  const sink = new MemoryTransport();
  let overflows = 0;
  const w = new ConnectionWriter(sink, 5, () => overflows++);
  assert.equal(w.enqueue(Buffer.from('1234')), true);
  assert.equal(w.enqueue(Buffer.from('56')), false);
  assert.equal(w.enqueue(Buffer.from('7')), false);
  await turn();
  assert.equal(overflows, 1);
  assert.equal(sink.writes.length, 0);
});

test("the transport's own backlog counts toward the bound at flush time", async () => {
  const sink = new MemoryTransport();
  let overflows = 0;
  const w = new ConnectionWriter(sink, 100, () => overflows++);
  sink.backlog = 99;
  w.enqueue(Buffer.from('xy'));
  await turn();
  assert.equal(overflows, 1);
  assert.equal(sink.writes.length, 0);
});

test('close without drop flushes what is queued; close with drop discards it', async () => {
  const a = new MemoryTransport();
  const wa = new ConnectionWriter(a, 0, () => undefined);
  wa.enqueue(Buffer.from('bye'));
  wa.close(false);
  assert.deepEqual(a.writes, [['bye']]);
  const b = new MemoryTransport();
  const wb = new ConnectionWriter(b, 0, () => undefined);
  wb.enqueue(Buffer.from('lost'));
  wb.close(true);
  await turn();
  assert.deepEqual(b.writes, []);
});

test('a shared array is kept as the queue while nothing else is queued, and copied before anything is added', async () => {
  const a = new MemoryTransport();
  const b = new MemoryTransport();
  const kept: (readonly Uint8Array[])[] = [];
  a.writeItems = (items) => void kept.push(items);
  const wa = new ConnectionWriter(a, 1024, () => assert.fail('no overflow expected'));
  const wb = new ConnectionWriter(b, 1024, () => assert.fail('no overflow expected'));
  const run = [Buffer.from('p1'), Buffer.from('p2')];
  wa.enqueueShared(run, 4);
  wb.enqueueShared(run, 4);
  wb.enqueueShared([Buffer.from('p3')], 2);
  wb.enqueue(Buffer.from('x'));
  wb.enqueueShared([Buffer.from('p4')], 2);
  await turn();
  assert.equal(kept[0], run, 'the very array');
  assert.ok(Object.isFrozen(run));
  assert.deepEqual(b.writes, [['p1', 'p2', 'p3', 'x', 'p4']]);
  assert.equal(run.length, 2, 'the shared array did not change');
});

test('a shared run past the bound overflows', async () => {
  const sink = new MemoryTransport();
  let overflows = 0;
  const w = new ConnectionWriter(sink, 5, () => overflows++);
  assert.equal(w.enqueueShared([Buffer.from('1234'), Buffer.from('56')], 6), false);
  await turn();
  assert.equal(overflows, 1);
  assert.equal(sink.writes.length, 0);
});

test('a deferred delivery reaches the writers before anything is queued on them, else at the end of the turn', async () => {
  const sink = new MemoryTransport();
  const w = new ConnectionWriter(sink, 1024, () => assert.fail('no overflow expected'));
  const later = (s: string): DeferredDelivery => {
    let done = false;
    return {
      deliverDeferred() {
        if (!done) w.enqueue(Buffer.from(s));
        done = true;
      },
    };
  };
  deferDelivery(later('deferred'));
  w.enqueue(Buffer.from('after'));
  await turn();
  assert.deepEqual(sink.writes, [['deferred', 'after']]);
  deferDelivery(later('alone'));
  await turn();
  assert.deepEqual(sink.writes.at(-1), ['alone']);
});

test('a delivery deferred while writers flush reaches the writers flushed after it in the same pass', async () => {
  const first = new MemoryTransport();
  const second = new MemoryTransport();
  const w1 = new ConnectionWriter(first, 1024, () => undefined);
  const w2 = new ConnectionWriter(second, 1024, () => undefined);
  first.writeItems = (items) => {
    MemoryTransport.prototype.writeItems.call(first, items);
    deferDelivery({ deliverDeferred: () => void w2.enqueue(Buffer.from('late')) });
  };
  w1.enqueue(Buffer.from('one'));
  w2.enqueue(Buffer.from('early'));
  await turn();
  assert.deepEqual(second.writes, [['early', 'late']]);
});

test('a flush due while a hold is open waits for its release, then carries what came meanwhile', async () => {
  const sink = new MemoryTransport();
  const w = new ConnectionWriter(sink, 1024, () => assert.fail('no overflow expected'));
  const release = holdFlush();
  w.enqueue(Buffer.from('a'));
  await turn(); // the flush fell due in this turn and waits
  assert.deepEqual(sink.writes, []);
  w.enqueue(Buffer.from('b'));
  release();
  await turn();
  assert.deepEqual(sink.writes, [['a', 'b']]);
});

test('a held flush waits only once: a writer queuing afresh while it waits flushes everything', async () => {
  const a = new MemoryTransport();
  const b = new MemoryTransport();
  const wa = new ConnectionWriter(a, 1024, () => assert.fail('no overflow expected'));
  const wb = new ConnectionWriter(b, 1024, () => assert.fail('no overflow expected'));
  const release = holdFlush();
  try {
    wa.enqueue(Buffer.from('1'));
    await turn();
    assert.deepEqual(a.writes, []);
    wb.enqueue(Buffer.from('2'));
    await turn();
    assert.deepEqual([a.writes, b.writes], [[['1']], [['2']]]);
  } finally {
    release();
  }
});

test('a hold never released delays a flush only briefly', async () => {
  const sink = new MemoryTransport();
  const w = new ConnectionWriter(sink, 1024, () => assert.fail('no overflow expected'));
  const release = holdFlush();
  try {
    w.enqueue(Buffer.from('x'));
    for (let i = 0; i < 500 && sink.writes.length === 0; i++) await new Promise((r) => setTimeout(r, 2));
    assert.deepEqual(sink.writes, [['x']]);
  } finally {
    release();
  }
});

test('releasing a hold twice closes it once', async () => {
  const sink = new MemoryTransport();
  const w = new ConnectionWriter(sink, 1024, () => assert.fail('no overflow expected'));
  const first = holdFlush();
  first();
  first();
  const second = holdFlush();
  w.enqueue(Buffer.from('y'));
  await turn();
  assert.deepEqual(sink.writes, [], 'the second hold is still open');
  second();
  await turn();
  assert.deepEqual(sink.writes, [['y']]);
});
