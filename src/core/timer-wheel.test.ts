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

test('a reusable timer re-armed before it fires moves to the new deadline and fires once', () => {
  let now = 0;
  const wheel = new TimerWheel(100, () => now);
  let runs = 0;
  const t = wheel.timer(() => runs++, undefined);
  assert.equal(t.done, true, 'a new timer is not armed');
  wheel.arm(t, 500);
  wheel.arm(t, 200); // earlier
  wheel.arm(t, 500); // back to the first slot: the stale copy there must not fire twice
  now = 300;
  wheel.tick();
  assert.equal(runs, 0, 'moved away from 200 ms');
  now = 600;
  wheel.tick();
  assert.equal(runs, 1);
  assert.equal(t.done, true);
  now = 2000;
  wheel.tick();
  assert.equal(runs, 1, 'fires once per arm');
  wheel.close();
});

test('a timer re-armed from its own callback fires again, and a cancelled one never', () => {
  let now = 0;
  const wheel = new TimerWheel(100, () => now);
  let runs = 0;
  const t = wheel.timer((step: number) => {
    runs += step;
    if (runs < 3) wheel.arm(t, 100);
  }, 1);
  wheel.arm(t, 100);
  for (let i = 1; i <= 10; i++) {
    now = i * 100;
    wheel.tick();
  }
  assert.equal(runs, 3);
  const c = wheel.timer(() => assert.fail('cancelled'), undefined);
  wheel.arm(c, 100);
  wheel.cancel(c);
  now += 1000;
  wheel.tick();
  wheel.close();
});

test('a timer armed with no delay from a callback during a late tick still fires', () => {
  let now = 0;
  const wheel = new TimerWheel(100, () => now);
  const fired: string[] = [];
  wheel.schedule(100, () => {
    fired.push('a');
    wheel.schedule(0, () => fired.push('b'));
  });
  now = 1000; // the tick runs late: several slots at once
  wheel.tick();
  now = 1100;
  wheel.tick();
  assert.deepEqual(fired, ['a', 'b']);
  wheel.close();
});

test('a cancelled or re-armed timer leaves its old slot at once, so the wheel holds nothing for it', async () => {
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  let now = 0;
  const wheel = new TimerWheel(100, () => now);
  const refs: WeakRef<object>[] = [];
  (() => {
    for (let i = 0; i < 100; i++) {
      const owner = { i };
      refs.push(new WeakRef(owner));
      const t = wheel.timer(() => assert.fail('cancelled'), owner);
      wheel.arm(t, 3_600_000); // an hour ahead, like a token's expiry
      wheel.arm(t, 7_200_000); // moved: the first slot must not keep a copy
      wheel.cancel(t);
    }
  })();
  assert.equal(wheel.size, 0);
  assert.equal((wheel as unknown as { slots: Map<number, unknown> }).slots.size, 0, 'no slot lists left');
  await new Promise((r) => setImmediate(r));
  gc();
  assert.equal(refs.filter((r) => r.deref() !== undefined).length, 0, 'every owner was collected');
  wheel.close();
});

test('cancelling entries of the slot being fired, from a callback, skips them', () => {
  let now = 0;
  const wheel = new TimerWheel(100, () => now);
  const fired: string[] = [];
  let b: ReturnType<TimerWheel['schedule']> | undefined;
  wheel.schedule(100, () => {
    fired.push('a');
    wheel.cancel(b);
  });
  b = wheel.schedule(100, () => fired.push('b'));
  wheel.schedule(100, () => fired.push('c'));
  now = 100;
  wheel.tick();
  assert.deepEqual(fired, ['a', 'c']);
  assert.equal(wheel.size, 0);
  wheel.close();
});
