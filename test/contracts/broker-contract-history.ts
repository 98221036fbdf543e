/**
 * Broker contract cases for brokers that keep history: the stream model (subscriptions.md §1.1),
 * history filters (§1.10), version suppression, delta `prev` and the epoch on offset-1 delivery.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Broker, HistoryFilter } from '../../src/core/ports.js';
import { HISTORY } from './broker-contract-context.js';
import type { CaseWrapper } from './broker-contract-context.js';
import { bytes, sleep, text, uniqueChannel } from './contract-helpers.js';

/** Publishes `n` publications `m1..mn` with the given history options; returns the epoch. */
async function fill(broker: Broker, channel: string, n: number, opts: { historySize: number; historyTtlMs: number } = HISTORY): Promise<string> {
  let epoch = '';
  for (let i = 1; i <= n; i++) epoch = (await broker.publish(channel, bytes(`m${i}`), opts)).position.epoch;
  return epoch;
}

async function offsets(broker: Broker, channel: string, filter: HistoryFilter): Promise<number[]> {
  return (await broker.history(channel, { filter })).publications.map((p) => p.offset);
}

const range = (from: number, to: number): number[] => {
  const out: number[] = [];
  if (from <= to) for (let i = from; i <= to; i++) out.push(i);
  else for (let i = from; i >= to; i--) out.push(i);
  return out;
};

/** Registers the history-related cases; called inside the contract's describe. */
export function registerHistoryCases(t: CaseWrapper, timeout: { timeout: number }): void {
  describe('stream', () => {
    it('assigns offsets 1, 2, 3... without gaps in one stable epoch', timeout, t(async ({ broker }) => {
      const ch = uniqueChannel('offsets');
      const results = [];
      for (let i = 0; i < 10; i++) results.push(await broker.publish(ch, bytes(`m${i}`), HISTORY));
      assert.deepEqual(results.map((r) => r.position.offset), range(1, 10));
      const epoch = results[0]!.position.epoch;
      assert.ok(epoch.length > 0, 'epoch is non-empty');
      for (const r of results) {
        assert.equal(r.position.epoch, epoch);
        assert.equal(r.suppressed, false);
      }
      const h = await broker.history(ch, { filter: { limit: 0 } });
      assert.deepEqual(h.position, { offset: 10, epoch });
    }));

    it('a read creates the stream with a real epoch and top 0; publishes continue in that epoch', timeout, t(async ({ broker }) => {
      const ch = uniqueChannel('read_creates');
      const first = await broker.history(ch, { filter: { limit: -1 } });
      assert.equal(first.position.offset, 0);
      assert.ok(first.position.epoch.length > 0);
      assert.deepEqual(first.publications, []);
      const second = await broker.history(ch, { filter: { limit: 0 } });
      assert.equal(second.position.epoch, first.position.epoch, 'reads do not re-create the stream');
      const res = await broker.publish(ch, bytes('x'), HISTORY);
      assert.deepEqual(res.position, { offset: 1, epoch: first.position.epoch });
    }));

    it('keeps at most historySize publications, the newest ones', timeout, t(async ({ broker }) => {
      const ch = uniqueChannel('trim');
      const epoch = await fill(broker, ch, 7, { historySize: 3, historyTtlMs: 60_000 });
      const h = await broker.history(ch, { filter: { limit: -1 } });
      assert.deepEqual(h.publications.map((p) => p.offset), [5, 6, 7]);
      assert.deepEqual(h.publications.map((p) => text(p.data)), ['m5', 'm6', 'm7']);
      assert.deepEqual(h.position, { offset: 7, epoch });
    }));

    it('history entries carry data, info, tags, offset and time, but no epoch', timeout, t(async ({ broker }) => {
      const ch = uniqueChannel('hist_fields');
      await broker.publish(ch, bytes('{"v":1}'), { ...HISTORY, clientInfo: { user: 'u', client: 'c', chan_info: bytes('{"ci":1}') }, tags: { a: 'b' } });
      const [p] = (await broker.history(ch, { filter: { limit: -1 } })).publications;
      assert.ok(p);
      assert.equal(text(p.data), '{"v":1}');
      assert.equal(p.offset, 1);
      assert.equal(p.info?.user, 'u');
      assert.equal(p.info?.client, 'c');
      assert.equal(text(p.info?.chan_info), '{"ci":1}');
      assert.deepEqual(p.tags, { a: 'b' });
      assert.equal(typeof p.time, 'number');
      assert.equal(p.epoch, undefined);
    }));

    it('data expiry removes publications but keeps top and epoch', timeout, t(async ({ broker, opts }) => {
      const ch = uniqueChannel('data_ttl');
      const ttl = { historySize: 10, historyTtlMs: opts.shortTtlMs };
      const epoch = await fill(broker, ch, 2, ttl);
      assert.equal((await broker.history(ch, { filter: { limit: -1 } })).publications.length, 2);
      await sleep(opts.shortTtlMs * 1.5 + 50);
      const h = await broker.history(ch, { filter: { limit: -1 } });
      assert.deepEqual(h.publications, []);
      assert.deepEqual(h.position, { offset: 2, epoch });
      const next = await broker.publish(ch, bytes('m3'), ttl);
      assert.deepEqual(next.position, { offset: 3, epoch });
    }));

    it('meta expiry deletes the stream: the next access gets a new epoch and top 0', timeout, t(async ({ broker, opts }) => {
      const ch = uniqueChannel('meta_ttl');
      const short = { historySize: 10, historyTtlMs: opts.shortTtlMs, historyMetaTtlMs: opts.shortTtlMs };
      const epoch = await fill(broker, ch, 3, short);
      await sleep(opts.shortTtlMs * 1.5 + 50);
      const h = await broker.history(ch, { filter: { limit: -1 }, metaTtlMs: opts.shortTtlMs });
      assert.equal(h.position.offset, 0);
      assert.notEqual(h.position.epoch, epoch);
      assert.deepEqual(h.publications, []);
      const next = await broker.publish(ch, bytes('again'), short);
      assert.deepEqual(next.position, { offset: 1, epoch: h.position.epoch });
    }));

    it('reads push the meta expiry forward', timeout, t(async ({ broker, opts }) => {
      const ch = uniqueChannel('meta_touch');
      const meta = opts.shortTtlMs * 2;
      const { position } = await broker.publish(ch, bytes('x'), { historySize: 10, historyTtlMs: meta * 10, historyMetaTtlMs: meta });
      await sleep(meta * 0.6);
      await broker.history(ch, { filter: { limit: 0 }, metaTtlMs: meta });
      await sleep(meta * 0.6);
      const h = await broker.history(ch, { filter: { limit: -1 }, metaTtlMs: meta });
      assert.deepEqual(h.position, position, 'the stream outlived its publish-time meta expiry');
      assert.equal(h.publications.length, 1);
    }));

    it('removeHistory drops publications but keeps top and epoch', timeout, t(async ({ broker }) => {
      const ch = uniqueChannel('remove');
      const epoch = await fill(broker, ch, 4);
      await broker.removeHistory(ch);
      const h = await broker.history(ch, { filter: { limit: -1 } });
      assert.deepEqual(h.publications, []);
      assert.deepEqual(h.position, { offset: 4, epoch });
      assert.deepEqual((await broker.publish(ch, bytes('m5'), HISTORY)).position, { offset: 5, epoch });
      assert.deepEqual(await offsets(broker, ch, { limit: -1 }), [5]);
      await broker.removeHistory(uniqueChannel('remove_missing'));
    }));
  });

  describe('history filters', () => {
    it('limit 0 returns only the position', timeout, t(async ({ broker }) => {
      const ch = uniqueChannel('f_limit0');
      const epoch = await fill(broker, ch, 5);
      const h = await broker.history(ch, { filter: { limit: 0 } });
      assert.deepEqual(h, { publications: [], position: { offset: 5, epoch } });
    }));

    it('limit -1 returns everything retained, oldest first; limit N at most N', timeout, t(async ({ broker }) => {
      const ch = uniqueChannel('f_limit');
      await fill(broker, ch, 10);
      assert.deepEqual(await offsets(broker, ch, { limit: -1 }), range(1, 10));
      assert.deepEqual(await offsets(broker, ch, { limit: 3 }), [1, 2, 3]);
      assert.deepEqual(await offsets(broker, ch, { limit: 50 }), range(1, 10));
    }));

    it('since, forward: offsets after since.offset, oldest first', timeout, t(async ({ broker }) => {
      const ch = uniqueChannel('f_since');
      const epoch = await fill(broker, ch, 10);
      assert.deepEqual(await offsets(broker, ch, { limit: -1, since: { offset: 4, epoch } }), range(5, 10));
      assert.deepEqual(await offsets(broker, ch, { limit: 2, since: { offset: 4, epoch } }), [5, 6]);
      assert.deepEqual(await offsets(broker, ch, { limit: -1, since: { offset: 0, epoch } }), range(1, 10));
      assert.deepEqual(await offsets(broker, ch, { limit: -1, since: { offset: 10, epoch } }), [], 'since == top');
      assert.deepEqual(await offsets(broker, ch, { limit: -1, since: { offset: 15, epoch } }), [], 'since beyond top');
      assert.deepEqual(await offsets(broker, ch, { limit: 0, since: { offset: 4, epoch } }), []);
    }));

    it('since older than the oldest retained entry starts from the oldest retained', timeout, t(async ({ broker }) => {
      const ch = uniqueChannel('f_since_trim');
      const epoch = await fill(broker, ch, 6, { historySize: 3, historyTtlMs: 60_000 });
      assert.deepEqual(await offsets(broker, ch, { limit: -1, since: { offset: 1, epoch } }), [4, 5, 6]);
      assert.deepEqual(await offsets(broker, ch, { limit: 2, since: { offset: 0, epoch } }), [4, 5]);
    }));

    it('reverse without since: newest first', timeout, t(async ({ broker }) => {
      const ch = uniqueChannel('f_rev');
      await fill(broker, ch, 10);
      assert.deepEqual(await offsets(broker, ch, { limit: 3, reverse: true }), [10, 9, 8]);
      assert.deepEqual(await offsets(broker, ch, { limit: -1, reverse: true }), range(10, 1));
      assert.deepEqual(await offsets(broker, ch, { limit: 0, reverse: true }), []);
    }));

    it('reverse with since: offsets before since.offset, newest first, from since.offset - 1', timeout, t(async ({ broker }) => {
      const ch = uniqueChannel('f_rev_since');
      const epoch = await fill(broker, ch, 10);
      assert.deepEqual(await offsets(broker, ch, { limit: -1, reverse: true, since: { offset: 5, epoch } }), [4, 3, 2, 1]);
      assert.deepEqual(await offsets(broker, ch, { limit: 2, reverse: true, since: { offset: 5, epoch } }), [4, 3]);
      assert.deepEqual(await offsets(broker, ch, { limit: -1, reverse: true, since: { offset: 11, epoch } }), range(10, 1), 'since == top + 1');
      assert.deepEqual(await offsets(broker, ch, { limit: -1, reverse: true, since: { offset: 12, epoch } }), [], 'since - 1 beyond top');
      assert.deepEqual(await offsets(broker, ch, { limit: -1, reverse: true, since: { offset: 1, epoch } }), [], 'nothing before offset 1');
      assert.deepEqual(await offsets(broker, ch, { limit: -1, reverse: true, since: { offset: 0, epoch } }), [], 'since 0');
    }));

    it('reverse with since: empty when since.offset - 1 is no longer retained', timeout, t(async ({ broker }) => {
      const ch = uniqueChannel('f_rev_trim');
      const epoch = await fill(broker, ch, 6, { historySize: 3, historyTtlMs: 60_000 });
      assert.deepEqual(await offsets(broker, ch, { limit: -1, reverse: true, since: { offset: 4, epoch } }), []);
      assert.deepEqual(await offsets(broker, ch, { limit: -1, reverse: true, since: { offset: 6, epoch } }), [5, 4]);
    }));

    it('a foreign epoch in since is not an error: the current position is returned', timeout, t(async ({ broker }) => {
      const ch = uniqueChannel('f_epoch');
      const epoch = await fill(broker, ch, 3);
      const h = await broker.history(ch, { filter: { limit: -1, since: { offset: 1, epoch: 'not-the-epoch' } } });
      assert.deepEqual(h.position, { offset: 3, epoch });
    }));
  });

  describe('version suppression', () => {
    it('drops a version not greater than the last one: suppressed, not delivered, top unchanged', timeout, t(async ({ broker, rec, waitPubs, settle }) => {
      const ch = uniqueChannel('version');
      await broker.subscribe(ch);
      const v1 = await broker.publish(ch, bytes('v1'), { ...HISTORY, version: 1, versionEpoch: 'a' });
      assert.equal(v1.suppressed, false);
      const again = await broker.publish(ch, bytes('v1 again'), { ...HISTORY, version: 1, versionEpoch: 'a' });
      assert.deepEqual(again, { position: v1.position, suppressed: true, suppressReason: 'version' });
      const v3 = await broker.publish(ch, bytes('v3'), { ...HISTORY, version: 3, versionEpoch: 'a' });
      assert.deepEqual(v3.position, { offset: 2, epoch: v1.position.epoch });
      const v2 = await broker.publish(ch, bytes('v2'), { ...HISTORY, version: 2, versionEpoch: 'a' });
      assert.deepEqual(v2, { position: v3.position, suppressed: true, suppressReason: 'version' });
      await waitPubs(ch, 2);
      await settle();
      assert.deepEqual(rec.pubs(ch).map((e) => text(e.pub.data)), ['v1', 'v3']);
      assert.deepEqual(await offsets(broker, ch, { limit: -1 }), [1, 2]);
    }));

    it('a new versionEpoch accepts any version; an empty one compares with the last', timeout, t(async ({ broker }) => {
      const ch = uniqueChannel('version_epoch');
      await broker.publish(ch, bytes('a5'), { ...HISTORY, version: 5, versionEpoch: 'a' });
      const b1 = await broker.publish(ch, bytes('b1'), { ...HISTORY, version: 1, versionEpoch: 'b' });
      assert.equal(b1.suppressed, false);
      assert.equal(b1.position.offset, 2);
      assert.equal((await broker.publish(ch, bytes('x'), { ...HISTORY, version: 1 })).suppressed, true);
      assert.equal((await broker.publish(ch, bytes('y'), { ...HISTORY, version: 2 })).suppressed, false);
    }));

    it('is ignored without history and with version 0', timeout, t(async ({ broker, rec, waitPubs }) => {
      const ch = uniqueChannel('version_nohist');
      await broker.subscribe(ch);
      assert.equal((await broker.publish(ch, bytes('1'), { version: 2 })).suppressed, false);
      assert.equal((await broker.publish(ch, bytes('2'), { version: 1 })).suppressed, false);
      await waitPubs(ch, 2);
      assert.equal(rec.pubs(ch).length, 2);
      const ch2 = uniqueChannel('version_zero');
      assert.equal((await broker.publish(ch2, bytes('1'), { ...HISTORY, version: 0 })).suppressed, false);
      assert.equal((await broker.publish(ch2, bytes('2'), { ...HISTORY, version: 0 })).suppressed, false);
    }));
  });

  describe('delivery with history', () => {
    it('the delivered first publication of a stream carries the epoch; later ones do not', timeout, t(async ({ broker, rec, waitPubs }) => {
      const ch = uniqueChannel('epoch_first');
      await broker.subscribe(ch);
      const r1 = await broker.publish(ch, bytes('1'), HISTORY);
      await broker.publish(ch, bytes('2'), HISTORY);
      await waitPubs(ch, 2);
      const [e1, e2] = rec.pubs(ch);
      assert.equal(e1?.pub.offset, 1);
      assert.equal(e1?.pub.epoch, r1.position.epoch);
      assert.deepEqual(e1?.position, r1.position);
      assert.equal(e2?.pub.offset, 2);
      assert.equal(e2?.pub.epoch, undefined);
      const [stored] = (await broker.history(ch, { filter: { limit: 1 } })).publications;
      assert.equal(stored?.epoch, undefined, 'the stored copy has no epoch');
    }));

    it('with delta, prev is the previous publication of the stream', timeout, t(async ({ broker, rec, waitPubs }) => {
      const ch = uniqueChannel('delta');
      await broker.subscribe(ch);
      await broker.publish(ch, bytes('first'), { ...HISTORY, delta: true });
      await broker.publish(ch, bytes('second'), { ...HISTORY, delta: true });
      await broker.publish(ch, bytes('third'), HISTORY);
      await waitPubs(ch, 3);
      const [a, b, c] = rec.pubs(ch);
      assert.equal(a?.delta, true);
      assert.equal(a?.prev, undefined, 'nothing before the first publication');
      assert.equal(b?.delta, true);
      assert.equal(text(b?.prev?.data), 'first');
      assert.equal(b?.prev?.offset, 1);
      assert.equal(c?.delta, false);
      assert.equal(c?.prev, undefined, 'no prev when delta was not asked');
    }));
  });
}
