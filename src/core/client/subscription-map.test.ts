// SubscriptionMap against a Map: random sequences of set/delete/get give the same answers,
// sizes and iteration order, including keys that differ from the subscription's channel.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Subscription } from './subscription.js';
import { SubscriptionMap } from './subscription-map.js';

function sub(channel: string, n: number): Subscription {
  return { kind: 'stream', channel, n } as unknown as Subscription;
}

test('SubscriptionMap answers as a Map under random set/delete sequences', () => {
  let seed = 7;
  const rand = (k: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % k;
  };
  const channels = ['a', 'b', 'c', 'd'];
  for (let round = 0; round < 300; round++) {
    const m = new SubscriptionMap();
    const model = new Map<string, Subscription>();
    for (let step = 0; step < 40; step++) {
      const ch = channels[rand(channels.length)]!;
      const op = rand(10);
      if (op < 5) {
        // Now and then a record keyed under another name than its channel.
        const s = sub(op === 0 ? channels[rand(channels.length)]! : ch, step);
        m.set(ch, s);
        model.set(ch, s);
      } else {
        assert.equal(m.delete(ch), model.delete(ch));
      }
      assert.equal(m.size, model.size);
      for (const c of channels) {
        assert.equal(m.get(c), model.get(c));
        assert.equal(m.has(c), model.has(c));
      }
      assert.deepEqual([...m.values()], [...model.values()]);
    }
  }
});

test('an empty SubscriptionMap iterates nothing, and one entry iterates once', () => {
  const m = new SubscriptionMap();
  assert.deepEqual([...m.values()], []);
  const s = sub('x', 1);
  m.set('x', s);
  assert.deepEqual([...m.values()], [s]);
  assert.equal(m.delete('y'), false);
  assert.equal(m.delete('x'), true);
  assert.equal(m.size, 0);
});
