/**
 * The MapBroker port contract (subscriptions.md §5.1, §5.8, §5.11, §5.13; server.md §4.6). Every
 * map broker runs it: `runMapBrokerContract('redis', makeRedisMapBroker)`. Channels are unique per
 * test so external brokers can share one server; expiry is tested with real short TTLs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MapBroker, MapBrokerEventHandler, MapChannelOptions, MapPublication, StreamPosition } from '../../src/core/index.js';
import { bytes, sleep, text, uniqueChannel } from './contract-helpers.js';

/** A broker under test plus a hook that runs its expiry work now (sweep / cleanup pass). */
export interface MapBrokerUnderTest {
  broker: MapBroker;
  expireNow: () => Promise<void>;
}

export type MakeMapBroker = () => Promise<MapBrokerUnderTest>;

export const RECOVERABLE: MapChannelOptions = { mode: 'recoverable', keyTtlMs: 60_000, streamSize: 100, streamTtlMs: 60_000, metaTtlMs: 600_000 };
export const PERSISTENT: MapChannelOptions = { mode: 'persistent', keyTtlMs: 0, streamSize: 100, streamTtlMs: 60_000, metaTtlMs: 0 };
export const EPHEMERAL: MapChannelOptions = { mode: 'ephemeral', keyTtlMs: 60_000, streamSize: 0, streamTtlMs: 0, metaTtlMs: 120_000 };

interface MapEvent {
  channel: string;
  pub: MapPublication;
  position: StreamPosition;
  delta: boolean;
  prev?: MapPublication;
}

/** Records live map changes and lets a test wait for a count. */
export class MapRecorder implements MapBrokerEventHandler {
  readonly events: MapEvent[] = [];

  handleMapPublication(channel: string, pub: MapPublication, position: StreamPosition, delta: boolean, prev?: MapPublication): void {
    const e: MapEvent = { channel, pub, position: { ...position }, delta };
    if (prev) e.prev = prev;
    this.events.push(e);
  }

  on(channel: string): MapEvent[] {
    return this.events.filter((e) => e.channel === channel);
  }

  async waitFor(channel: string, n: number, timeoutMs = 3000): Promise<MapEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.on(channel).length < n) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} events on ${channel}, got ${this.on(channel).length}`);
      await sleep(10);
    }
    return this.on(channel);
  }
}

interface Ctx extends MapBrokerUnderTest {
  rec: MapRecorder;
  /** Waits long enough for stray deliveries of an external broker to arrive. */
  settle: () => Promise<void>;
}

type Case = (ctx: Ctx) => Promise<void>;

/** Applies stream changes to a key → data text map (last write wins, removals delete). */
function apply(state: Map<string, string>, pubs: MapPublication[]): void {
  for (const p of pubs) {
    if (p.removed) state.delete(p.key);
    else state.set(p.key, text(p.data)!);
  }
}

function asMap(entries: MapPublication[]): Map<string, string> {
  return new Map(entries.map((e) => [e.key, text(e.data)!]));
}

/** Registers the map broker contract cases under `describe(name)`. */
export function runMapBrokerContract(name: string, make: MakeMapBroker): void {
  const t = (fn: Case) => async () => {
    const under = await make();
    const rec = new MapRecorder();
    await under.broker.run(rec);
    try {
      await fn({ ...under, rec, settle: () => sleep(50) });
    } finally {
      await under.broker.close();
    }
  };
  const timeout = { timeout: 20_000 };

  describe(`${name}: map broker contract`, () => {
    it('publish updates state, stream and live delivery consistently', timeout, t(async ({ broker, rec }) => {
      const ch = uniqueChannel('map_basic');
      await broker.subscribe(ch);
      const results = [];
      for (const [k, v] of [['b', '1'], ['a', '2'], ['c', '3'], ['a', '4']] as const) {
        results.push(await broker.publish(ch, k, { channel: RECOVERABLE, data: bytes(v), tags: { k } }));
      }
      const epoch = results[0]!.position.epoch;
      assert.ok(epoch.length > 0);
      assert.deepEqual(results.map((r) => [r.position.offset, r.position.epoch, r.suppressed, r.suppressReason]), [1, 2, 3, 4].map((o) => [o, epoch, false, '']));

      const state = await broker.readState(ch, { channel: RECOVERABLE, limit: -1 });
      assert.deepEqual(state.position, { offset: 4, epoch });
      assert.equal(state.cursor, '');
      assert.equal(state.unrecoverable, false);
      assert.deepEqual(state.entries.map((e) => [e.key, text(e.data), e.offset, e.tags]), [['a', '4', 4, { k: 'a' }], ['b', '1', 1, { k: 'b' }], ['c', '3', 3, { k: 'c' }]]);

      const stream = await broker.readStream(ch, { channel: RECOVERABLE, limit: -1, since: { offset: 0, epoch } });
      assert.equal(stream.unrecoverable, false);
      assert.deepEqual(stream.position, { offset: 4, epoch });
      assert.deepEqual(stream.publications.map((p) => [p.offset, p.key, text(p.data)]), [[1, 'b', '1'], [2, 'a', '2'], [3, 'c', '3'], [4, 'a', '4']]);

      const live = await rec.waitFor(ch, 4);
      assert.deepEqual(live.map((e) => [e.pub.offset, e.pub.key, text(e.pub.data), e.position.offset, e.position.epoch]), [[1, 'b', '1', 1, epoch], [2, 'a', '2', 2, epoch], [3, 'c', '3', 3, epoch], [4, 'a', '4', 4, epoch]]);
      assert.equal(live[0]!.pub.epoch, epoch, 'the first change carries the epoch');
      assert.equal(live[1]!.pub.epoch, undefined);
    }));

    it('a read of an unknown channel fixes its epoch; the first write keeps it', timeout, t(async ({ broker }) => {
      const ch = uniqueChannel('map_epoch');
      const first = await broker.readState(ch, { channel: RECOVERABLE, limit: -1 });
      assert.deepEqual([first.entries.length, first.position.offset], [0, 0]);
      const again = await broker.readStream(ch, { channel: RECOVERABLE, limit: -1 });
      assert.equal(again.position.epoch, first.position.epoch);
      const w = await broker.publish(ch, 'k', { channel: RECOVERABLE, data: bytes('x') });
      assert.deepEqual(w.position, { offset: 1, epoch: first.position.epoch });
    }));

    it('pages state in byte-wise key order with a cursor; a single key and limit 0 work', timeout, t(async ({ broker }) => {
      const ch = uniqueChannel('map_pages');
      const keys = ['b', 'a', 'é', '\uffff', '😀', 'a0', 'Z'];
      for (const k of keys) await broker.publish(ch, k, { channel: PERSISTENT, data: bytes(k) });
      const utf8Order = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      const seen: string[] = [];
      let cursor = '';
      let pages = 0;
      do {
        const page = await broker.readState(ch, { channel: PERSISTENT, limit: 3, cursor });
        assert.ok(page.entries.length <= 3);
        seen.push(...page.entries.map((e) => e.key));
        cursor = page.cursor;
        pages++;
      } while (cursor !== '' && pages < 10);
      assert.deepEqual(seen, utf8Order);
      assert.equal(pages, 3);
      const one = await broker.readState(ch, { channel: PERSISTENT, limit: 1, key: '😀' });
      assert.deepEqual(one.entries.map((e) => [e.key, text(e.data)]), [['😀', '😀']]);
      const missing = await broker.readState(ch, { channel: PERSISTENT, limit: 1, key: 'nope' });
      assert.equal(missing.entries.length, 0);
      const none = await broker.readState(ch, { channel: PERSISTENT, limit: 0 });
      assert.deepEqual([none.entries.length, none.position.offset], [0, keys.length]);
    }));

    it('paging across concurrent writes: pages filtered by the first position plus the stream give the exact state, no key twice', timeout, t(async ({ broker }) => {
      const ch = uniqueChannel('map_concurrent');
      const key = (i: number) => `k${String(i).padStart(3, '0')}`;
      for (let i = 0; i < 40; i++) await broker.publish(ch, key(i), { channel: PERSISTENT, data: bytes(`v${i}`) });
      const first = await broker.readState(ch, { channel: PERSISTENT, limit: 7 });
      const frozen = first.position;
      const collected = [...first.entries];
      let cursor = first.cursor;
      let round = 0;
      while (cursor !== '') {
        // Writes between pages: update keys before and after the cursor, add new keys, remove some.
        await Promise.all([
          broker.publish(ch, key(round * 5 + 3), { channel: PERSISTENT, data: bytes(`u${round}`) }),
          broker.publish(ch, key(39 - round), { channel: PERSISTENT, data: bytes(`w${round}`) }),
          broker.publish(ch, `${key(round * 4)}x`, { channel: PERSISTENT, data: bytes(`n${round}`) }),
          broker.remove(ch, key(round * 6 + 1), { channel: PERSISTENT }),
        ]);
        const page = await broker.readState(ch, { channel: PERSISTENT, limit: 7, cursor, revision: frozen });
        assert.equal(page.unrecoverable, false);
        collected.push(...page.entries);
        cursor = page.cursor;
        round++;
      }
      const keys = collected.map((e) => e.key);
      assert.equal(new Set(keys).size, keys.length, 'no key appears twice');
      assert.deepEqual(keys, [...keys].sort(), 'pages follow key order');
      const state = asMap(collected.filter((e) => e.offset <= frozen.offset));
      const stream = await broker.readStream(ch, { channel: PERSISTENT, limit: -1, since: frozen });
      assert.equal(stream.unrecoverable, false);
      assert.equal(stream.publications[0]?.offset, frozen.offset + 1);
      apply(state, stream.publications);
      const truth = await broker.readState(ch, { channel: PERSISTENT, limit: -1 });
      assert.equal(truth.position.offset, stream.position.offset);
      assert.deepEqual([...state.entries()].sort(), [...asMap(truth.entries).entries()].sort());
    }));

    it('remove streams and delivers a removal with the entry tags; an absent key is suppressed', timeout, t(async ({ broker, rec, settle }) => {
      const ch = uniqueChannel('map_remove');
      await broker.subscribe(ch);
      await broker.publish(ch, 'a', { channel: RECOVERABLE, data: bytes('1'), tags: { color: 'red' } });
      await broker.publish(ch, 'b', { channel: RECOVERABLE, data: bytes('2'), tags: { color: 'blue' } });
      const r = await broker.remove(ch, 'a', { channel: RECOVERABLE });
      assert.deepEqual([r.position.offset, r.suppressed, r.suppressReason], [3, false, '']);
      const r2 = await broker.remove(ch, 'b', { channel: RECOVERABLE, tags: { given: '1' } });
      assert.equal(r2.position.offset, 4);
      const absent = await broker.remove(ch, 'a', { channel: RECOVERABLE });
      assert.deepEqual([absent.position.offset, absent.suppressed, absent.suppressReason], [4, true, 'key_not_found']);
      const stream = await broker.readStream(ch, { channel: RECOVERABLE, limit: -1 });
      assert.deepEqual(stream.publications.slice(2).map((p) => [p.offset, p.key, p.removed, p.tags, p.data.length]), [[3, 'a', true, { color: 'red' }, 0], [4, 'b', true, { given: '1' }, 0]]);
      const live = await rec.waitFor(ch, 4);
      await settle();
      assert.equal(rec.on(ch).length, 4, 'the suppressed removal is not delivered');
      assert.deepEqual(live.slice(2).map((e) => [e.pub.key, e.pub.removed, e.pub.offset]), [['a', true, 3], ['b', true, 4]]);
      assert.equal((await broker.stats(ch)).numKeys, 0);
      await broker.publish(ch, 'c', { channel: RECOVERABLE, data: bytes('3'), tags: {} });
      const c = await broker.readState(ch, { channel: RECOVERABLE, limit: 1, key: 'c' });
      assert.equal(c.entries[0]?.tags, undefined, 'empty tags are no tags');
      const unknown = await broker.remove(uniqueChannel('map_remove_unknown'), 'x', { channel: RECOVERABLE });
      assert.deepEqual([unknown.suppressed, unknown.suppressReason], [true, 'key_not_found']);
    }));

    it('an expired key is removed, streamed and delivered (recoverable); state and stream stay consistent', timeout, t(async ({ broker, rec, expireNow }) => {
      const ch = uniqueChannel('map_ttl');
      const opts: MapChannelOptions = { ...RECOVERABLE, keyTtlMs: 300 };
      await broker.subscribe(ch);
      await broker.publish(ch, 'short', { channel: opts, data: bytes('x'), tags: { t: '1' } });
      await broker.publish(ch, 'long', { channel: { ...opts, keyTtlMs: 60_000 }, data: bytes('y') });
      await sleep(450);
      await expireNow();
      const live = await rec.waitFor(ch, 3);
      assert.deepEqual([live[2]!.pub.key, live[2]!.pub.removed, live[2]!.pub.offset, live[2]!.pub.tags], ['short', true, 3, { t: '1' }]);
      const state = await broker.readState(ch, { channel: opts, limit: -1 });
      assert.deepEqual(state.entries.map((e) => e.key), ['long']);
      assert.equal(state.position.offset, 3);
      const stream = await broker.readStream(ch, { channel: opts, limit: -1 });
      assert.deepEqual(stream.publications.map((p) => [p.offset, p.key, p.removed ?? false]), [[1, 'short', false], [2, 'long', false], [3, 'short', true]]);
    }));

    it('expiry runs by itself within about a second', timeout, t(async ({ broker, rec }) => {
      const ch = uniqueChannel('map_ttl_auto');
      await broker.subscribe(ch);
      await broker.publish(ch, 'k', { channel: { ...EPHEMERAL, keyTtlMs: 200 }, data: bytes('x') });
      const live = await rec.waitFor(ch, 2, 4000);
      assert.deepEqual([live[1]!.pub.key, live[1]!.pub.removed, live[1]!.pub.offset], ['k', true, 0]);
      assert.equal((await broker.stats(ch)).numKeys, 0);
    }));

    it('ephemeral: offsets stay 0, an epoch exists, no stream is kept, version is ignored', timeout, t(async ({ broker, rec, expireNow }) => {
      const ch = uniqueChannel('map_eph');
      await broker.subscribe(ch);
      const w1 = await broker.publish(ch, 'a', { channel: EPHEMERAL, data: bytes('1'), version: 5 });
      const w2 = await broker.publish(ch, 'a', { channel: EPHEMERAL, data: bytes('2'), version: 1 });
      assert.equal(w2.suppressed, false);
      assert.deepEqual([w1.position.offset, w2.position.offset, w2.position.epoch], [0, 0, w1.position.epoch]);
      assert.ok(w1.position.epoch.length > 0);
      const state = await broker.readState(ch, { channel: EPHEMERAL, limit: -1 });
      assert.deepEqual(state.entries.map((e) => [e.key, text(e.data), e.offset]), [['a', '2', 0]]);
      assert.deepEqual(state.position, { offset: 0, epoch: w1.position.epoch });
      const stream = await broker.readStream(ch, { channel: EPHEMERAL, limit: -1, since: { offset: 0, epoch: w1.position.epoch } });
      assert.deepEqual([stream.publications.length, stream.unrecoverable], [0, false]);
      await broker.remove(ch, 'a', { channel: EPHEMERAL });
      await expireNow();
      const live = await rec.waitFor(ch, 3);
      assert.deepEqual(live.map((e) => [e.pub.key, e.pub.offset, e.pub.removed ?? false, e.position.offset]), [['a', 0, false, 0], ['a', 0, false, 0], ['a', 0, true, 0]]);
    }));

    it('stream trimming and expiry make older positions unrecoverable; epoch and lost-write checks too', timeout, t(async ({ broker }) => {
      const ch = uniqueChannel('map_trim');
      const opts: MapChannelOptions = { ...RECOVERABLE, streamSize: 3 };
      for (let i = 1; i <= 6; i++) await broker.publish(ch, `k${i % 2}`, { channel: opts, data: bytes(`${i}`) });
      const { epoch } = (await broker.readStream(ch, { channel: opts, limit: 0 })).position;
      const read = (offset: number, e = epoch) => broker.readStream(ch, { channel: opts, limit: -1, since: { offset, epoch: e } });
      assert.equal((await read(2)).unrecoverable, true, 'offset 3 was trimmed');
      const ok = await read(3);
      assert.deepEqual([ok.unrecoverable, ok.publications.map((p) => p.offset)], [false, [4, 5, 6]]);
      assert.deepEqual((await read(6)).publications.length, 0);
      assert.equal((await read(6)).unrecoverable, false);
      assert.equal((await read(9)).unrecoverable, true, 'a position beyond the top means the store lost writes');
      assert.equal((await read(4, 'otherEp')).unrecoverable, true);
      const limited = await broker.readStream(ch, { channel: opts, limit: 2, since: { offset: 3, epoch } });
      assert.deepEqual(limited.publications.map((p) => p.offset), [4, 5]);
      const rev = await broker.readStream(ch, { channel: opts, limit: 2, reverse: true });
      assert.deepEqual(rev.publications.map((p) => p.offset), [6, 5]);
      const st = await broker.readState(ch, { channel: opts, limit: -1, revision: { offset: 1, epoch: 'otherEp' } });
      assert.deepEqual([st.unrecoverable, st.entries.length], [true, 0]);

      const ch2 = uniqueChannel('map_stream_ttl');
      const short: MapChannelOptions = { ...RECOVERABLE, streamTtlMs: 300 };
      await broker.publish(ch2, 'a', { channel: short, data: bytes('1') });
      await broker.publish(ch2, 'b', { channel: short, data: bytes('2') });
      await sleep(450);
      const after = await broker.readStream(ch2, { channel: short, limit: -1, since: { offset: 1, epoch: '' } });
      assert.deepEqual([after.unrecoverable, after.position.offset], [true, 2], 'expired stream data cannot be continued from');
      const top = await broker.readStream(ch2, { channel: short, limit: -1, since: { offset: 2, epoch: '' } });
      assert.equal(top.unrecoverable, false);
      assert.equal((await broker.readState(ch2, { channel: short, limit: -1 })).entries.length, 2, 'state outlives the stream');
    }));

    it('idempotency: a repeated key returns the first result and changes nothing', timeout, t(async ({ broker, rec, settle }) => {
      const ch = uniqueChannel('map_idem');
      await broker.subscribe(ch);
      const first = await broker.publish(ch, 'k', { channel: RECOVERABLE, data: bytes('a'), idempotencyKey: 'i1' });
      await broker.publish(ch, 'other', { channel: RECOVERABLE, data: bytes('o') });
      const again = await broker.publish(ch, 'k', { channel: RECOVERABLE, data: bytes('b'), idempotencyKey: 'i1' });
      assert.deepEqual([again.suppressed, again.suppressReason, again.position], [true, 'idempotency', first.position]);
      const rm = await broker.remove(ch, 'k', { channel: RECOVERABLE, idempotencyKey: 'i2' });
      const rmAgain = await broker.remove(ch, 'other', { channel: RECOVERABLE, idempotencyKey: 'i2' });
      assert.deepEqual([rmAgain.suppressed, rmAgain.suppressReason, rmAgain.position], [true, 'idempotency', rm.position]);
      await rec.waitFor(ch, 3);
      await settle();
      assert.deepEqual(rec.on(ch).map((e) => e.pub.offset), [1, 2, 3]);
      const state = await broker.readState(ch, { channel: RECOVERABLE, limit: -1 });
      assert.deepEqual(state.entries.map((e) => [e.key, text(e.data)]), [['other', 'o']]);
    }));

    it('version: per key, suppressed unless greater within the same version epoch', timeout, t(async ({ broker }) => {
      const ch = uniqueChannel('map_version');
      const pub = (key: string, data: string, version: number, versionEpoch = '') => broker.publish(ch, key, { channel: RECOVERABLE, data: bytes(data), version, versionEpoch });
      assert.equal((await pub('a', 'v2', 2, 'e1')).suppressed, false);
      const old = await pub('a', 'v1', 1, 'e1');
      assert.deepEqual([old.suppressed, old.suppressReason, old.position.offset], [true, 'version', 1]);
      assert.equal((await pub('a', 'v2b', 2)).suppressed, true, 'an empty version epoch compares too');
      assert.equal((await pub('b', 'b1', 1, 'e1')).suppressed, false, 'versions are per key');
      assert.equal((await pub('a', 'v1new', 1, 'e2')).suppressed, false, 'another version epoch starts over');
      assert.equal((await broker.publish(ch, 'a', { channel: RECOVERABLE, data: bytes('plain') })).suppressed, false);
      assert.equal((await pub('a', 'again', 1, 'e2')).suppressed, true, 'an unversioned write keeps the stored version');
      const state = await broker.readState(ch, { channel: RECOVERABLE, limit: -1 });
      assert.deepEqual(state.entries.map((e) => [e.key, text(e.data)]), [['a', 'plain'], ['b', 'b1']]);
    }));

    it('key modes: if_new writes only absent keys, if_exists only present ones', timeout, t(async ({ broker, rec, settle }) => {
      const ch = uniqueChannel('map_keymode');
      await broker.subscribe(ch);
      const pub = (key: string, data: string, keyMode: 'if_new' | 'if_exists') => broker.publish(ch, key, { channel: RECOVERABLE, data: bytes(data), keyMode });
      const notFound = await pub('a', '0', 'if_exists');
      assert.deepEqual([notFound.suppressed, notFound.suppressReason], [true, 'key_not_found']);
      assert.equal((await pub('a', '1', 'if_new')).suppressed, false);
      const exists = await pub('a', '2', 'if_new');
      assert.deepEqual([exists.suppressed, exists.suppressReason, exists.position.offset], [true, 'key_exists', 1]);
      assert.equal((await pub('a', '3', 'if_exists')).suppressed, false);
      await rec.waitFor(ch, 2);
      await settle();
      assert.deepEqual(rec.on(ch).map((e) => text(e.pub.data)), ['1', '3']);
    }));

    it('if_new with refreshTtlOnSuppress keeps a present key alive without a change', timeout, t(async ({ broker, rec, expireNow }) => {
      const ch = uniqueChannel('map_refresh');
      const opts: MapChannelOptions = { ...EPHEMERAL, keyTtlMs: 400 };
      await broker.subscribe(ch);
      await broker.publish(ch, 'c', { channel: opts, data: bytes('x'), keyMode: 'if_new', refreshTtlOnSuppress: true });
      await broker.publish(ch, 'd', { channel: opts, data: bytes('y') });
      await sleep(250);
      const r = await broker.publish(ch, 'c', { channel: opts, data: bytes('z'), keyMode: 'if_new', refreshTtlOnSuppress: true });
      assert.deepEqual([r.suppressed, r.suppressReason], [true, 'key_exists']);
      await sleep(250);
      await expireNow();
      await rec.waitFor(ch, 3);
      const state = await broker.readState(ch, { channel: opts, limit: -1 });
      assert.deepEqual(state.entries.map((e) => [e.key, text(e.data)]), [['c', 'x']]);
      assert.deepEqual(rec.on(ch).map((e) => [e.pub.key, e.pub.removed ?? false]), [['c', false], ['d', false], ['d', true]]);
    }));

    it('clear drops state and stream silently; the next access has a new epoch', timeout, t(async ({ broker, rec, settle }) => {
      const ch = uniqueChannel('map_clear');
      await broker.subscribe(ch);
      const w = await broker.publish(ch, 'a', { channel: RECOVERABLE, data: bytes('1'), idempotencyKey: 'once' });
      await broker.publish(ch, 'b', { channel: RECOVERABLE, data: bytes('2') });
      assert.equal((await broker.stats(ch)).numKeys, 2);
      await broker.clear(ch);
      assert.equal((await broker.stats(ch)).numKeys, 0);
      const state = await broker.readState(ch, { channel: RECOVERABLE, limit: -1 });
      assert.equal(state.entries.length, 0);
      assert.notEqual(state.position.epoch, w.position.epoch);
      assert.equal(state.position.offset, 0);
      const old = await broker.readStream(ch, { channel: RECOVERABLE, limit: -1, since: w.position });
      assert.equal(old.unrecoverable, true);
      const again = await broker.publish(ch, 'a', { channel: RECOVERABLE, data: bytes('3'), idempotencyKey: 'once' });
      assert.deepEqual([again.suppressed, again.position], [false, { offset: 1, epoch: state.position.epoch }]);
      await rec.waitFor(ch, 3);
      await settle();
      assert.deepEqual(rec.on(ch).map((e) => [e.pub.key, e.pub.removed ?? false]), [['a', false], ['b', false], ['a', false]], 'clear publishes no removals');
    }));

    it('meta_ttl: an idle channel is dropped and comes back empty with a new epoch', timeout, t(async ({ broker }) => {
      const ch = uniqueChannel('map_meta');
      const opts: MapChannelOptions = { mode: 'recoverable', keyTtlMs: 200, streamSize: 10, streamTtlMs: 200, metaTtlMs: 300 };
      const w = await broker.publish(ch, 'a', { channel: opts, data: bytes('1') });
      await sleep(150);
      const kept = await broker.readState(ch, { channel: opts, limit: -1 });
      assert.equal(kept.position.epoch, w.position.epoch, 'a read inside meta_ttl keeps the channel');
      await sleep(450);
      const after = await broker.readState(ch, { channel: opts, limit: -1 });
      assert.notEqual(after.position.epoch, w.position.epoch);
      assert.deepEqual([after.entries.length, after.position.offset], [0, 0]);
    }));

    it('live changes of many concurrent writes arrive in stream offset order', timeout, t(async ({ broker, rec }) => {
      const ch = uniqueChannel('map_order');
      await broker.subscribe(ch);
      await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 7 === 6 ? broker.remove(ch, `k${i % 5}`, { channel: RECOVERABLE }) : broker.publish(ch, `k${i % 5}`, { channel: RECOVERABLE, data: bytes(`${i}`) }))));
      const stream = await broker.readStream(ch, { channel: RECOVERABLE, limit: -1 });
      const live = await rec.waitFor(ch, stream.publications.length);
      assert.deepEqual(live.map((e) => e.pub.offset), stream.publications.map((p) => p.offset));
      assert.deepEqual(live.map((e) => [e.pub.key, e.pub.removed ?? false]), stream.publications.map((p) => [p.key, p.removed ?? false]));
      assert.deepEqual(stream.publications.map((p) => p.offset), Array.from({ length: stream.publications.length }, (_, i) => i + 1));
    }));

    it('delta: live delivery carries the key previous publication', timeout, t(async ({ broker, rec }) => {
      const ch = uniqueChannel('map_delta');
      await broker.subscribe(ch);
      await broker.publish(ch, 'a', { channel: RECOVERABLE, data: bytes('one'), delta: true });
      await broker.publish(ch, 'b', { channel: RECOVERABLE, data: bytes('bee'), delta: true });
      await broker.publish(ch, 'a', { channel: RECOVERABLE, data: bytes('two'), delta: true, clientInfo: { user: 'u', client: 'c' } });
      const live = await rec.waitFor(ch, 3);
      assert.deepEqual(live.map((e) => [e.delta, e.prev === undefined ? null : text(e.prev.data)]), [[true, null], [true, null], [true, 'one']]);
      assert.deepEqual(live[2]!.pub.info, { user: 'u', client: 'c' });
    }));

    it('unsubscribe stops live delivery; an empty key is refused', timeout, t(async ({ broker, rec, settle }) => {
      const ch = uniqueChannel('map_unsub');
      await broker.subscribe(ch);
      await broker.publish(ch, 'a', { channel: RECOVERABLE, data: bytes('1') });
      await rec.waitFor(ch, 1);
      await broker.unsubscribe(ch);
      await broker.publish(ch, 'a', { channel: RECOVERABLE, data: bytes('2') });
      await settle();
      assert.equal(rec.on(ch).length, 1);
      await assert.rejects(broker.publish(ch, '', { channel: RECOVERABLE, data: bytes('x') }), (e: unknown) => (e as { code?: string }).code === 'bad_key');
    }));
  });
}
