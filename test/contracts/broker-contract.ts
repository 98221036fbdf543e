/**
 * The Broker port contract (subscriptions.md §1.1, §1.10; server.md §6.1). Every broker
 * implementation runs it: `runBrokerContract('redis', makeRedisBroker)`. Channels are unique per
 * test so external brokers can share one server; expiry is tested with real short TTLs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HISTORY, withBroker } from './broker-contract-context.js';
import type { BrokerCaseContext, BrokerContractOptions, MakeBroker } from './broker-contract-context.js';
import { registerHistoryCases } from './broker-contract-history.js';
import { Recorder, bytes, sleep, text, uniqueChannel } from './contract-helpers.js';

export type { BrokerCaseContext, BrokerContractOptions, MakeBroker } from './broker-contract-context.js';

/** Registers the broker contract cases under `describe(name)`. */
export function runBrokerContract(name: string, makeBroker: MakeBroker, options: BrokerContractOptions = {}): void {
  const opts: Required<BrokerContractOptions> = {
    reliableOrdering: options.reliableOrdering ?? true,
    history: options.history ?? true,
    sharedBackend: options.sharedBackend ?? false,
    shortTtlMs: options.shortTtlMs ?? 300,
    deliveryTimeoutMs: options.deliveryTimeoutMs ?? 2000,
    settleMs: options.settleMs ?? 50,
  };
  const t = (fn: (ctx: BrokerCaseContext) => Promise<void>) => withBroker(makeBroker, opts, fn);
  const timeout = { timeout: 20_000 };

  describe(`${name}: broker contract`, () => {
    it('declares reliable as a boolean', t(async ({ broker }) => {
      assert.equal(typeof broker.reliable, 'boolean');
    }));

    describe('publish without history', () => {
      it('returns offset 0 and an empty epoch when historySize or historyTtlMs is 0', timeout, t(async ({ broker }) => {
        const ch = uniqueChannel('nohist');
        for (const o of [{}, { historySize: 10 }, { historyTtlMs: 60_000 }, { historySize: 0, historyTtlMs: 60_000 }, { historySize: 10, historyTtlMs: 0 }]) {
          const res = await broker.publish(ch, bytes('x'), o);
          assert.deepEqual(res, { position: { offset: 0, epoch: '' }, suppressed: false }, JSON.stringify(o));
        }
        if (opts.history) {
          const h = await broker.history(ch, { filter: { limit: -1 } });
          assert.equal(h.publications.length, 0, 'no stream was written');
          assert.equal(h.position.offset, 0);
        }
      }));

      it('delivers with offset 0 and without epoch, in order', timeout, t(async ({ broker, rec, waitPubs }) => {
        const ch = uniqueChannel('nohist_deliver');
        await broker.subscribe(ch);
        for (let i = 0; i < 5; i++) await broker.publish(ch, bytes(`m${i}`), { tags: { i: String(i) } });
        await waitPubs(ch, 5);
        const got = rec.pubs(ch);
        assert.deepEqual(got.map((e) => text(e.pub.data)), ['m0', 'm1', 'm2', 'm3', 'm4']);
        for (const e of got) {
          assert.equal(e.pub.offset, 0);
          assert.equal(e.pub.epoch, undefined);
          assert.deepEqual(e.position, { offset: 0, epoch: '' });
        }
        assert.deepEqual(got[2]?.pub.tags, { i: '2' });
      }));
    });

    if (opts.history) registerHistoryCases(t, timeout);

    describe('idempotency', () => {
      it('a repeated key returns the first result, suppressed, and is not delivered again', timeout, t(async ({ broker, rec, waitPubs, settle }) => {
        const ch = uniqueChannel('idem');
        await broker.subscribe(ch);
        const pubOpts = opts.history ? { ...HISTORY, idempotencyKey: 'k1' } : { idempotencyKey: 'k1' };
        const first = await broker.publish(ch, bytes('a'), pubOpts);
        assert.equal(first.suppressed, false);
        const again = await broker.publish(ch, bytes('b'), pubOpts);
        assert.equal(again.suppressed, true);
        assert.equal(again.suppressReason, 'idempotency');
        assert.deepEqual(again.position, first.position);
        await waitPubs(ch, 1);
        await settle();
        assert.deepEqual(rec.pubs(ch).map((e) => text(e.pub.data)), ['a']);
        if (opts.history) {
          assert.equal(first.position.offset, 1);
          const h = await broker.history(ch, { filter: { limit: -1 } });
          assert.deepEqual(h.publications.map((p) => text(p.data)), ['a']);
          assert.equal(h.position.offset, 1);
        }
      }));

      it('suppresses repeats of publications without history too', timeout, t(async ({ broker, rec, settle }) => {
        const ch = uniqueChannel('idem_nohist');
        await broker.subscribe(ch);
        const first = await broker.publish(ch, bytes('a'), { idempotencyKey: 'k' });
        const again = await broker.publish(ch, bytes('a'), { idempotencyKey: 'k' });
        assert.deepEqual(first, { position: { offset: 0, epoch: '' }, suppressed: false });
        assert.deepEqual(again, { position: { offset: 0, epoch: '' }, suppressed: true, suppressReason: 'idempotency' });
        await settle();
        assert.equal(rec.pubs(ch).length, 1);
      }));

      it('keys are per channel and distinct keys publish', timeout, t(async ({ broker }) => {
        const a = uniqueChannel('idem_a');
        const b = uniqueChannel('idem_b');
        const o = opts.history ? HISTORY : {};
        assert.equal((await broker.publish(a, bytes('1'), { ...o, idempotencyKey: 'same' })).suppressed, false);
        assert.equal((await broker.publish(b, bytes('1'), { ...o, idempotencyKey: 'same' })).suppressed, false);
        const other = await broker.publish(a, bytes('2'), { ...o, idempotencyKey: 'other' });
        assert.equal(other.suppressed, false);
        if (opts.history) assert.equal(other.position.offset, 2);
      }));

      it('forgets a key after idempotentResultTtlMs', timeout, t(async ({ broker, opts: o }) => {
        const ch = uniqueChannel('idem_ttl');
        const pubOpts = { ...(o.history ? HISTORY : {}), idempotencyKey: 'k', idempotentResultTtlMs: o.shortTtlMs };
        await broker.publish(ch, bytes('a'), pubOpts);
        assert.equal((await broker.publish(ch, bytes('a'), pubOpts)).suppressed, true);
        await sleep(o.shortTtlMs * 1.5 + 50);
        const later = await broker.publish(ch, bytes('a'), pubOpts);
        assert.equal(later.suppressed, false);
        if (o.history) assert.equal(later.position.offset, 2);
      }));
    });

    describe('delivery', () => {
      it('delivers only channels this node subscribed to, and stops after unsubscribe', timeout, t(async ({ broker, rec, waitPubs, settle }) => {
        const on = uniqueChannel('sub_on');
        const off = uniqueChannel('sub_off');
        await broker.subscribe(on);
        await broker.publish(off, bytes('never'), {});
        await broker.publish(on, bytes('one'), {});
        await waitPubs(on, 1);
        await broker.unsubscribe(on);
        await broker.publish(on, bytes('two'), {});
        await settle();
        assert.deepEqual(rec.pubs(on).map((e) => text(e.pub.data)), ['one']);
        assert.equal(rec.on(off).length, 0);
      }));

      it('subscribe and unsubscribe are idempotent', timeout, t(async ({ broker, rec, waitPubs, settle }) => {
        const ch = uniqueChannel('sub_twice');
        await broker.subscribe(ch);
        await broker.subscribe(ch);
        await broker.publish(ch, bytes('x'), {});
        await waitPubs(ch, 1);
        await settle();
        assert.equal(rec.pubs(ch).length, 1, 'one delivery per publication');
        await broker.unsubscribe(ch);
        await broker.unsubscribe(ch);
        await broker.unsubscribe(uniqueChannel('never_subscribed'));
      }));

      it('delivers concurrent publishes in offset order with matching positions', timeout, t(async ({ broker, rec, waitPubs, opts: o }) => {
        const ch = uniqueChannel('order');
        const n = 50;
        await broker.subscribe(ch);
        const pubOpts = o.history ? HISTORY : {};
        const results = await Promise.all(Array.from({ length: n }, (_, i) => broker.publish(ch, bytes(`m${i}`), pubOpts)));
        if (o.reliableOrdering) await waitPubs(ch, n);
        else await waitPubs(ch, n).catch(() => undefined);
        const got = rec.pubs(ch);
        if (o.reliableOrdering) assert.equal(got.length, n);
        if (o.history) {
          const offsets = got.map((e) => e.pub.offset);
          for (let i = 1; i < offsets.length; i++) assert.ok(offsets[i]! > offsets[i - 1]!, `offsets increase: ${offsets.join(',')}`);
          if (o.reliableOrdering) assert.deepEqual(offsets, Array.from({ length: n }, (_, i) => i + 1));
          const byOffset = new Map(results.map((r, i) => [r.position.offset, `m${i}`]));
          for (const e of got) {
            assert.equal(text(e.pub.data), byOffset.get(e.pub.offset), 'payload matches the offset its publish returned');
            assert.equal(e.position.offset, e.pub.offset);
            assert.equal(e.position.epoch, results[0]?.position.epoch);
          }
        } else if (o.reliableOrdering) {
          assert.deepEqual(got.map((e) => text(e.pub.data)), Array.from({ length: n }, (_, i) => `m${i}`));
        }
      }));

      it('delivers data, client info, tags and publish time', timeout, t(async ({ broker, rec, waitPubs }) => {
        const ch = uniqueChannel('fields');
        await broker.subscribe(ch);
        const before = Date.now();
        await broker.publish(ch, bytes('{"a":1}'), { clientInfo: { user: 'u1', client: 'c1', conn_info: bytes('{"n":1}'), chan_info: bytes('{"c":2}') }, tags: { k: 'v' } });
        await waitPubs(ch, 1);
        const e = rec.pubs(ch)[0]!;
        assert.equal(text(e.pub.data), '{"a":1}');
        assert.equal(e.pub.info?.user, 'u1');
        assert.equal(e.pub.info?.client, 'c1');
        assert.equal(text(e.pub.info?.conn_info), '{"n":1}');
        assert.equal(text(e.pub.info?.chan_info), '{"c":2}');
        assert.deepEqual(e.pub.tags, { k: 'v' });
        assert.equal(typeof e.pub.time, 'number');
        assert.ok(e.pub.time >= before - 5_000 && e.pub.time <= Date.now() + 5_000, 'time is a Unix ms timestamp');
        assert.equal(e.delta, false);
        assert.equal(e.prev, undefined);
      }));

      it('delivers joins and leaves only for subscribed channels', timeout, t(async ({ broker, rec, settle }) => {
        const on = uniqueChannel('jl_on');
        const off = uniqueChannel('jl_off');
        await broker.subscribe(on);
        const info = { user: 'u', client: 'c', conn_info: bytes('{"x":1}') };
        await broker.publishJoin(on, info);
        await broker.publishLeave(on, info);
        await broker.publishJoin(off, info);
        await broker.publishLeave(off, info);
        await rec.waitFor(() => rec.on(on).length >= 2, opts.deliveryTimeoutMs, 'join and leave');
        await settle();
        const events = rec.on(on);
        assert.deepEqual(events.map((e) => e.kind), ['join', 'leave']);
        for (const e of events) {
          assert.ok(e.kind !== 'pub');
          assert.equal(e.info.user, 'u');
          assert.equal(e.info.client, 'c');
          assert.equal(text(e.info.conn_info), '{"x":1}');
        }
        assert.equal(rec.on(off).length, 0);
      }));

      if (opts.sharedBackend) {
        it('a publish on one node reaches another node subscribed to the channel', timeout, async () => {
          const a = await makeBroker();
          const b = await makeBroker();
          const recA = new Recorder();
          const recB = new Recorder();
          try {
            await a.broker.run(recA);
            await b.broker.run(recB);
            const ch = uniqueChannel('cross');
            await b.broker.subscribe(ch);
            await a.broker.publish(ch, bytes('hello'), HISTORY);
            await a.broker.publishJoin(ch, { user: 'u', client: 'c' });
            await recB.waitFor(() => recB.on(ch).length >= 2, opts.deliveryTimeoutMs, 'cross-node delivery');
            assert.equal(text(recB.pubs(ch)[0]?.pub.data), 'hello');
            assert.equal(recA.on(ch).length, 0, 'the publishing node did not subscribe');
          } finally {
            await a.broker.close();
            await b.broker.close();
            await a.cleanup?.();
            await b.cleanup?.();
          }
        });
      }
    });
  });
}
