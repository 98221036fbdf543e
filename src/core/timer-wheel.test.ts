import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TimerWheel } from './timer-wheel.js';

test('timers fire no earlier than their delay, in deadline order, and cancelled ones never fire', () => {
  let now = 1_000_000;
  const wheel = new TimerWheel(100, () => now);
  const fired: string[] = [];
  wheel.schedule(250, () => fired.push('b'));
  wheel.schedule(50, () => fired.push('a'));
  const c = wheel.schedule(400, () => fired.push('c'));
  wheel.cancel(c);
  now += 49;
  wheel.tick();
  assert.deepEqual(fired, [], 'nothing before its delay');
  now += 51; // 100 ms after scheduling
  wheel.tick();
  assert.deepEqual(fired, ['a']);
  now += 100; // 200 ms
  wheel.tick();
  assert.deepEqual(fired, ['a'], 'b (250 ms) not yet');
  now += 100; // 300 ms
  wheel.tick();
  assert.deepEqual(fired, ['a', 'b']);
  now += 1000;
  wheel.tick();
  assert.deepEqual(fired, ['a', 'b'], 'cancelled c never fires');
  wheel.close();
});

test('a throwing callback does not stop the others', () => {
  let now = 0;
  const wheel = new TimerWheel(10, () => now);
  let ran = false;
  wheel.schedule(5, () => {
    throw new Error('boom');
  });
  wheel.schedule(5, () => (ran = true));
  now = 20;
  wheel.tick();
  assert.equal(ran, true);
  wheel.close();
});
