import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryTransport } from './memory-transport.test-helper.js';
import { ConnectionWriter } from './writer.js';

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
