import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryTransport } from './memory-transport.test-helper.js';
import { ConnectionWriter } from './writer.js';
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
