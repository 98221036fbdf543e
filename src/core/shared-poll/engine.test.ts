import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { ProtocolError } from '../../protocol/codes.js';
import type { Logger } from '../ports.js';
import type { SharedPollRefreshProxy, SharedPollRefreshRequest, SharedPollRefreshResult, SharedPollRefreshResultItem } from '../proxy-ports.js';
import { TimerWheel } from '../timer-wheel.js';
import { type SharedPollPublication, SharedPollEngine, type SharedPollEngineOptions, type SharedPollSubscriber, type TrackBatch } from './engine.js';
import { type SharedPollChannelConfig, sharedPollChannelConfig } from './options.js';
import { signTrack, TrackSignatureVerifier } from './signature.js';

const SECRET = 'test-poll-secret';
const START = 1_767_225_600_000;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString('utf8'));

/** The port's in-memory test double: a keyed store answering like the SDK suite's backend. */
class FakeBackend implements SharedPollRefreshProxy {
  readonly name = 'fake';
  readonly calls: SharedPollRefreshRequest[] = [];
  readonly store = new Map<string, { data: string; version: number; removed?: boolean }>();
  epoch = '';
  /** ok: answer at once; hang: never answer; fail: reject; manual: wait for release(). */
  mode: 'ok' | 'hang' | 'fail' | 'manual' = 'ok';
  inFlight = 0;
  maxInFlight = 0;
  private readonly waiting: Array<() => void> = [];

  set(key: string, data: string, version = 0): void {
    this.store.set(key, { data, version });
  }

  async sharedPollRefresh(req: SharedPollRefreshRequest): Promise<SharedPollRefreshResult> {
    this.calls.push({ channel: req.channel, items: req.items.map((i) => ({ ...i })) });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.mode === 'hang') await new Promise(() => undefined);
      if (this.mode === 'manual') await new Promise<void>((r) => this.waiting.push(r));
      if (this.mode === 'fail') throw new Error('backend answered 500');
      const items: SharedPollRefreshResultItem[] = [];
      for (const { key } of req.items) {
        const v = this.store.get(key);
        if (v === undefined) continue;
        items.push(v.removed ? { key, version: 0, removed: true } : { key, data: enc(v.data), version: v.version, removed: false });
      }
      return { items, epoch: this.epoch };
    } finally {
      this.inFlight--;
    }
  }

  /** Lets every waiting manual call answer. */
  release(): void {
    for (const r of this.waiting.splice(0)) r();
  }

  get waitingCalls(): number {
    return this.waiting.length;
  }
}

class Sub implements SharedPollSubscriber {
  readonly pubs: SharedPollPublication[] = [];
  resets = 0;
  constructor(readonly user = '') {}
  deliver(_channel: string, pub: SharedPollPublication): void {
    this.pubs.push(pub);
  }
  resetState(): void {
    this.resets++;
  }
  /** Delivered publications as `key=version:data` (removed: `key removed`). */
  seen(): string[] {
    return this.pubs.map((p) => (p.removed ? `${p.key} removed` : `${p.key}=${p.version}:${text(p.data)}`));
  }
}

class Kit {
  now = START;
  readonly wheel = new TimerWheel(100, () => this.now);
  readonly backends = new Map<string, FakeBackend>();
  readonly backend = new FakeBackend();
  readonly logs: { level: string; msg: string | undefined }[] = [];
  readonly engine: SharedPollEngine;

  constructor(opts: Partial<SharedPollEngineOptions> = {}) {
    const log = (level: string) => (_o: object, msg?: string) => void this.logs.push({ level, msg });
    const logger: Logger = { trace: log('trace'), debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
    let n = 0;
    this.engine = new SharedPollEngine({
      clock: { now: () => this.now },
      scheduler: this.wheel,
      verifier: new TrackSignatureVerifier({ secret: SECRET }),
      proxy: (ch) => this.backends.get(ch) ?? this.backend,
      logger,
      newEpoch: () => `epoch${String(++n).padStart(3, '0')}`,
      ...opts,
    });
  }

  /** Moves the clock in 100 ms steps, firing due timers and letting every answer settle. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    await settle();
    while (this.now < end) {
      this.now = Math.min(end, this.now + 100);
      this.wheel.tick();
      await settle();
    }
  }

  sign(channel: string, keys: string[], opts: { user?: string; exp?: number; secret?: string } = {}): string {
    const iat = Math.floor(this.now / 1000);
    return signTrack(opts.secret ?? SECRET, { iat, exp: opts.exp ?? iat + 3600, user: opts.user ?? '', channel, keys });
  }

  batch(channel: string, items: Array<string | [string, number]>, opts: { user?: string; exp?: number } = {}): TrackBatch {
    const list = items.map((i) => (typeof i === 'string' ? { key: i } : { key: i[0], version: i[1] }));
    return { signature: this.sign(channel, list.map((i) => i.key), opts), items: list };
  }

  close(): void {
    this.engine.close();
    this.wheel.close();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

const VERSIONLESS = sharedPollChannelConfig({ refresh_interval: 1000, refresh_batch_size: 100, max_keys_per_connection: 100 });
const VERSIONED = sharedPollChannelConfig({ mode: 'versioned', refresh_interval: 1000, refresh_batch_size: 100, max_keys_per_connection: 100, publish_enabled: true });

function errCode(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProtocolError) return err.code;
    throw err;
  }
  return undefined;
}

let kit: Kit;
afterEach(() => kit?.close());

describe('versionless mode', () => {
  it('polls a cold key at once, gives synthetic versions to changes only, and keeps one epoch per channel state', async () => {
    kit = new Kit();
    const { engine, backend } = kit;
    backend.set('k1', '{"v":"a"}');
    assert.equal(engine.epoch('p:1', VERSIONLESS), 'epoch001', 'node epoch before any state');
    const s = new Sub();
    assert.deepEqual(engine.track(s, 'p:1', VERSIONLESS, { track: [kit.batch('p:1', ['k1'])] }), { expires: true, ttl: 3600 });
    assert.equal(engine.epoch('p:1', VERSIONLESS), 'epoch002', 'a fresh epoch for the channel state');
    await kit.advance(0);
    assert.deepEqual(s.seen(), ['k1=1:{"v":"a"}'], 'immediate poll of a cold key');
    assert.equal(backend.calls.length, 1);
    assert.deepEqual(backend.calls[0]!.items, [{ key: 'k1', version: 0 }], 'no versions in versionless mode');

    await kit.advance(1000);
    assert.equal(backend.calls.length, 2, 'timer poll');
    assert.deepEqual(s.seen(), ['k1=1:{"v":"a"}'], 'unchanged data is not sent again');
    backend.set('k1', '{"v":"b"}');
    await kit.advance(1000);
    assert.deepEqual(s.seen(), ['k1=1:{"v":"a"}', 'k1=2:{"v":"b"}'], 'a change gets the next synthetic version');

    engine.remove(s, 'p:1');
    await kit.advance(1000);
    assert.equal(engine.stats().channels, 0);
    assert.equal(engine.epoch('p:1', VERSIONLESS), 'epoch001', 'node epoch again once the state is gone');
    const s2 = new Sub();
    engine.track(s2, 'p:1', VERSIONLESS, { track: [kit.batch('p:1', ['k1'])] });
    await kit.advance(0);
    assert.equal(engine.epoch('p:1', VERSIONLESS), 'epoch003', 'a re-created state has a new epoch');
    assert.deepEqual(s2.seen(), ['k1=1:{"v":"b"}'], 'synthetic versions restart with the state');
  });

  it('re-delivers a known key to a newcomer tracking it with version 0, not to those who have it', async () => {
    kit = new Kit();
    const { engine, backend } = kit;
    backend.set('k1', '"x"');
    const a = new Sub();
    const b = new Sub();
    engine.track(a, 'p:1', VERSIONLESS, { track: [kit.batch('p:1', ['k1'])] });
    await kit.advance(0);
    engine.track(b, 'p:1', VERSIONLESS, { track: [kit.batch('p:1', ['k1'])] });
    await kit.advance(0);
    assert.deepEqual(a.seen(), ['k1=1:"x"']);
    assert.deepEqual(b.seen(), ['k1=1:"x"'], 'warm key re-broadcast');
    assert.equal(backend.calls.length, 2, 'one immediate poll per track');
    const c = new Sub();
    engine.track(c, 'p:1', VERSIONLESS, { track: [kit.batch('p:1', [['k1', 1]])] });
    await kit.advance(0);
    assert.equal(backend.calls.length, 2, 'a client that has the current version causes no poll');
    assert.deepEqual(c.seen(), []);
  });
});

describe('versioned mode', () => {
  it('sends stored versions, delivers only newer ones per subscriber, and a replayed track waits for the timer poll', async () => {
    kit = new Kit();
    const { engine, backend } = kit;
    backend.set('k1', '"v5"', 5);
    assert.equal(engine.epoch('p:1', VERSIONED), '', 'no epoch before the backend sends one');
    const s = new Sub();
    engine.track(s, 'p:1', VERSIONED, { track: [kit.batch('p:1', [['k1', 5]])] });
    await kit.advance(0);
    assert.equal(backend.calls.length, 0, 'a key the client has is not cold');
    backend.set('k1', '"v6"', 6);
    await kit.advance(1000);
    assert.deepEqual(s.seen(), ['k1=6:"v6"'], 'first delivered update is version 6');
    assert.deepEqual(backend.calls[0]!.items, [{ key: 'k1', version: 0 }], 'server version 0 at first');
    await kit.advance(1000);
    assert.deepEqual(backend.calls[1]!.items, [{ key: 'k1', version: 6 }], 'then the stored version');
    assert.deepEqual(s.seen(), ['k1=6:"v6"'], 'equal version not re-sent');
    backend.set('k1', '"v4"', 4);
    await kit.advance(1000);
    assert.deepEqual(s.seen(), ['k1=6:"v6"'], 'older version ignored');
  });

  it('a new publisher epoch resets the channel and tells every subscriber to resubscribe', async () => {
    kit = new Kit();
    const { engine, backend } = kit;
    backend.set('k1', '"a"', 1);
    backend.set('k2', '"b"', 1);
    const a = new Sub();
    const b = new Sub();
    engine.track(a, 'p:1', VERSIONED, { track: [kit.batch('p:1', ['k1'])] });
    engine.track(b, 'p:1', VERSIONED, { track: [kit.batch('p:1', ['k2'])] });
    await kit.advance(0);
    assert.deepEqual([a.seen(), b.seen()], [['k1=1:"a"'], ['k2=1:"b"']]);
    backend.epoch = 'e1';
    await kit.advance(1000);
    assert.deepEqual([a.resets, b.resets], [1, 1]);
    assert.equal(engine.stats().keys, 0, 'their keys are dropped');
    assert.equal(engine.epoch('p:1', VERSIONED), 'e1', 'the subscribe reply carries the new epoch');
    assert.deepEqual(engine.trackedKeys(a, 'p:1'), new Map());
    // Resubscribed clients re-track from 0 and get the data again under the new epoch.
    engine.track(a, 'p:1', VERSIONED, { track: [kit.batch('p:1', ['k1'])] });
    await kit.advance(0);
    assert.deepEqual(a.seen(), ['k1=1:"a"', 'k1=1:"a"']);
    assert.equal(a.resets, 1, 'same epoch: no second reset');
  });

  it('shared_poll_publish delivers newer versions, skips the key in the next timer poll, and needs versioned + publish_enabled', async () => {
    kit = new Kit();
    const { engine, backend } = kit;
    backend.set('k1', '"a"', 1);
    const s = new Sub();
    engine.track(s, 'p:1', VERSIONED, { track: [kit.batch('p:1', ['k1'])] });
    await kit.advance(0);
    assert.equal(engine.publish('p:1', VERSIONED, { key: 'k1', version: 3, data: enc('"pub"') }), true);
    assert.equal(engine.publish('p:1', VERSIONED, { key: 'k1', version: 2, data: enc('"old"') }), false);
    assert.equal(engine.publish('p:1', VERSIONED, { key: 'other', version: 9, data: enc('"x"') }), false, 'untracked key');
    assert.deepEqual(s.seen(), ['k1=1:"a"', 'k1=3:"pub"']);
    const calls = backend.calls.length;
    await kit.advance(1000);
    assert.equal(backend.calls.length, calls, 'the key fresh from publish is not polled in the next cycle');
    await kit.advance(1000);
    assert.equal(backend.calls.length, calls + 1, 'but in the one after');
    assert.equal(errCode(() => engine.publish('p:1', VERSIONLESS, { key: 'k1', version: 4, data: enc('1') })), 108);
    const noPublish = sharedPollChannelConfig({ mode: 'versioned' });
    assert.equal(errCode(() => engine.publish('p:1', noPublish, { key: 'k1', version: 4, data: enc('1') })), 108);
  });
});

describe('tracking', () => {
  it('refuses bad and expired signatures with 103 / 109 and changes nothing', async () => {
    kit = new Kit();
    const { engine, backend } = kit;
    const s = new Sub('alice');
    const nowSec = Math.floor(kit.now / 1000);
    assert.equal(errCode(() => engine.track(s, 'p:1', VERSIONLESS, { track: [{ signature: 'invalid-signature', items: [{ key: 'k1' }] }] })), 103);
    assert.equal(errCode(() => engine.track(s, 'p:1', VERSIONLESS, { track: [kit.batch('p:1', ['k1'], { user: 'bob' })] })), 103, 'signed for another user');
    const good = kit.batch('p:1', ['k1'], { user: 'alice' });
    const expired = kit.batch('p:1', ['k2'], { user: 'alice', exp: nowSec - 60 });
    assert.equal(errCode(() => engine.track(s, 'p:1', VERSIONLESS, { track: [good, expired] })), 109, 'any expired batch fails the request');
    assert.equal(errCode(() => engine.track(s, 'p:1', VERSIONLESS, { track: [] })), 107);
    assert.equal(errCode(() => engine.track(s, 'p:1', VERSIONLESS, { track: [{ signature: good.signature, items: [] }] })), 107);
    await kit.advance(0);
    assert.deepEqual(engine.stats(), { channels: 0, keys: 0, subscribers: 0 });
    assert.equal(backend.calls.length, 0);
    assert.deepEqual(engine.track(s, 'p:1', VERSIONLESS, { track: [good] }), { expires: true, ttl: 3600 });
  });

  it('replies with the earliest expiry over the batches, and none for exp 0', () => {
    kit = new Kit();
    const nowSec = Math.floor(kit.now / 1000);
    const s = new Sub();
    const reply = kit.engine.track(s, 'p:1', VERSIONLESS, {
      track: [kit.batch('p:1', ['a'], { exp: nowSec + 3600 }), kit.batch('p:1', ['b'], { exp: nowSec + 30 })],
    });
    assert.deepEqual(reply, { expires: true, ttl: 30 });
    assert.deepEqual(kit.engine.track(s, 'p:1', VERSIONLESS, { track: [kit.batch('p:1', ['c'], { exp: 0 })] }), { expires: false });
    assert.deepEqual(kit.engine.track(s, 'p:1', VERSIONLESS, { track: [kit.batch('p:1', ['d'], { exp: nowSec - 2 })] }), { expires: true }, 'in the grace period: no ttl');
  });

  it('a key in several batches takes its version and expiry from the last one', async () => {
    kit = new Kit();
    const { engine, backend } = kit;
    const nowSec = Math.floor(kit.now / 1000);
    backend.set('k1', '"v5"', 5);
    const s = new Sub();
    const reply = engine.track(s, 'p:1', VERSIONED, {
      track: [kit.batch('p:1', ['k1', 'k2'], { exp: nowSec + 30 }), kit.batch('p:1', [['k1', 5]], { exp: nowSec + 3600 })],
    });
    assert.deepEqual(reply, { expires: true, ttl: 30 }, 'the reply still covers every batch');
    assert.deepEqual(engine.trackedKeys(s, 'p:1'), new Map([['k1', 5], ['k2', 0]]));
    await kit.advance(0);
    assert.deepEqual(backend.calls.map((c) => c.items.map((i) => i.key)), [['k2']], 'k1 came with a version: not cold');
  });

  it('enforces max_keys_per_connection counting inline untracks and already tracked keys', () => {
    kit = new Kit();
    const config = sharedPollChannelConfig({ max_keys_per_connection: 3 });
    const { engine } = kit;
    const s = new Sub();
    assert.equal(errCode(() => engine.track(s, 'p:1', config, { track: [kit.batch('p:1', ['a', 'b', 'c', 'd'])] })), 106);
    assert.equal(engine.stats().keys, 0);
    engine.track(s, 'p:1', config, { track: [kit.batch('p:1', ['a', 'b', 'c'])] });
    engine.track(s, 'p:1', config, { track: [kit.batch('p:1', ['a', 'b'])] });
    assert.equal(errCode(() => engine.track(s, 'p:1', config, { track: [kit.batch('p:1', ['d'])] })), 106);
    engine.track(s, 'p:1', config, { track: [kit.batch('p:1', ['d'])], untrack: ['a'] });
    assert.deepEqual([...engine.trackedKeys(s, 'p:1').keys()].sort(), ['b', 'c', 'd']);
    const other = new Sub();
    engine.track(other, 'p:1', config, { track: [kit.batch('p:1', ['x', 'y', 'z'])] });
    assert.equal(engine.stats().keys, 6, 'the limit is per subscriber');
  });

  it('untrack stops deliveries of that key only; an empty list is 107; unknown keys are ignored', async () => {
    kit = new Kit();
    const { engine, backend } = kit;
    backend.set('k1', '1', 1);
    backend.set('k2', '1', 1);
    const s = new Sub();
    engine.track(s, 'p:1', VERSIONED, { track: [kit.batch('p:1', ['k1', 'k2'])] });
    await kit.advance(0);
    engine.untrack(s, 'p:1', ['k1', 'never-tracked']);
    assert.equal(errCode(() => engine.untrack(s, 'p:1', [])), 107);
    backend.set('k1', '2', 2);
    backend.set('k2', '2', 2);
    await kit.advance(1000);
    assert.deepEqual(s.seen().sort(), ['k1=1:1', 'k2=1:1', 'k2=2:2']);
    assert.deepEqual(backend.calls.at(-1)!.items, [{ key: 'k2', version: 1 }], 'the untracked key is no longer polled');
  });

  it('a removed key is pushed as a removal and forgotten', async () => {
    kit = new Kit();
    const { engine, backend } = kit;
    backend.set('k1', '1', 1);
    const s = new Sub();
    engine.track(s, 'p:1', VERSIONED, { track: [kit.batch('p:1', ['k1'])] });
    await kit.advance(0);
    backend.store.set('k1', { data: '', version: 0, removed: true });
    await kit.advance(1000);
    assert.deepEqual(s.seen(), ['k1=1:1', 'k1 removed']);
    assert.equal(engine.trackedKeys(s, 'p:1').size, 0);
    await kit.advance(1000);
    assert.equal(engine.stats().channels, 0, 'the channel without keys shut down');
  });

  it('drops keys whose signature expired more than track_expired_extra_delay ago, silently', async () => {
    kit = new Kit();
    const config = sharedPollChannelConfig({ refresh_interval: 1000, track_expired_extra_delay: 5000 });
    const { engine } = kit;
    const nowSec = Math.floor(kit.now / 1000);
    const s = new Sub();
    engine.track(s, 'p:1', config, { track: [kit.batch('p:1', ['short'], { exp: nowSec + 10 }), kit.batch('p:1', ['long'], { exp: nowSec + 3600 })] });
    await kit.advance(14_000);
    assert.deepEqual([...engine.trackedKeys(s, 'p:1').keys()].sort(), ['long', 'short'], 'still inside exp + extra delay');
    await kit.advance(2000);
    assert.deepEqual([...engine.trackedKeys(s, 'p:1').keys()], ['long']);
    assert.deepEqual(s.pubs, [], 'no push');
  });
});

describe('polling', () => {
  it('asks ceil(keys / batch size) requests per cycle whatever the number of subscribers', async () => {
    kit = new Kit();
    const { engine, backend } = kit;
    const keys = Array.from({ length: 250 }, (_, i) => `key${String(i).padStart(3, '0')}`);
    const subs = [new Sub(), new Sub(), new Sub()];
    const config = sharedPollChannelConfig({ mode: 'versioned', refresh_interval: 1000, refresh_batch_size: 100 });
    // Clients that have a version cause no immediate poll: only the timer cycle asks.
    for (const s of subs) engine.track(s, 'p:1', config, { track: [kit.batch('p:1', keys.map((k): [string, number] => [k, 1]))] });
    await kit.advance(900);
    assert.equal(backend.calls.length, 0);
    // The chunks are spread over the interval: at 1000, 1400 and 1800 ms (the wheel rounds 333 ms up).
    await kit.advance(1000);
    assert.equal(backend.calls.length, 3, 'ceil(250 / 100)');
    assert.deepEqual(backend.calls.map((c) => c.items.length), [100, 100, 50]);
    assert.deepEqual(backend.calls.flatMap((c) => c.items.map((i) => i.key)), keys, 'all keys once, sorted');
    await kit.advance(1000);
    assert.equal(backend.calls.length, 6, 'the next cycle one interval later');
  });

  it('keeps the interval with many chunks: the scheduler\'s rounding does not add up over a cycle', async () => {
    kit = new Kit();
    // Real clocks are never on the wheel's 100 ms boundaries: timers armed 30 ms past one round up.
    kit.now += 30;
    const { engine, backend } = kit;
    const keys = Array.from({ length: 1000 }, (_, i) => `key${String(i).padStart(4, '0')}`);
    const config = sharedPollChannelConfig({ mode: 'versioned', refresh_interval: 1000, refresh_batch_size: 100 });
    engine.track(new Sub(), 'p:1', config, { track: [kit.batch('p:1', keys.map((k): [string, number] => [k, 1]))] });
    await kit.advance(1000);
    const first = backend.calls.length;
    // Ten chunks of 100 every second: five seconds later about fifty more calls, not the
    // thirty or so that chunks 100 ms apart rounded up to 200 ms would give.
    await kit.advance(5000);
    const calls = backend.calls.length - first;
    assert.ok(calls >= 45 && calls <= 55, `${calls} calls in 5 s`);
  });

  it('caps concurrent backend calls node-wide', async () => {
    kit = new Kit({ concurrencyLimit: 2 });
    const { engine, backend } = kit;
    backend.mode = 'manual';
    for (let i = 0; i < 5; i++) {
      backend.set(`k`, '1');
      engine.track(new Sub(), `p:${i}`, VERSIONLESS, { track: [kit.batch(`p:${i}`, ['k'])] });
    }
    await kit.advance(0);
    assert.equal(backend.inFlight, 2);
    assert.equal(backend.waitingCalls, 2);
    backend.release();
    await kit.advance(0);
    backend.release();
    await kit.advance(0);
    backend.release();
    await kit.advance(0);
    assert.equal(backend.calls.length, 5, 'every channel polled in the end');
    assert.equal(backend.maxInFlight, 2);
  });

  it('a hanging backend holds only its own calls, until the call timeout frees them', async () => {
    kit = new Kit({ concurrencyLimit: 1, callTimeoutMs: 3000 });
    const { engine } = kit;
    const stuck = new FakeBackend();
    stuck.mode = 'hang';
    kit.backends.set('p:stuck', stuck);
    kit.backend.set('k', '"ok"');
    const a = new Sub();
    const b = new Sub();
    engine.track(a, 'p:stuck', VERSIONLESS, { track: [kit.batch('p:stuck', ['k'])] });
    engine.track(b, 'p:fine', VERSIONLESS, { track: [kit.batch('p:fine', ['k'])] });
    await kit.advance(0);
    assert.deepEqual(b.seen(), [], 'with a limit of 1 the other channel waits for the slot');
    await kit.advance(3100);
    assert.deepEqual(b.seen(), ['k=1:"ok"'], 'the timed-out call freed it');
    assert.equal(kit.logs.filter((l) => l.level === 'warn').length, 1);
  });

  it('logs a failing backend once per burst and retries each cycle; other channels go on', async () => {
    kit = new Kit();
    const { engine } = kit;
    const bad = new FakeBackend();
    bad.mode = 'fail';
    bad.set('k', '"bad"');
    kit.backends.set('p:bad', bad);
    kit.backend.set('k', '"v1"');
    const a = new Sub();
    const b = new Sub();
    engine.track(a, 'p:bad', VERSIONLESS, { track: [kit.batch('p:bad', ['k'])] });
    engine.track(b, 'p:good', VERSIONLESS, { track: [kit.batch('p:good', ['k'])] });
    await kit.advance(3000);
    assert.equal(bad.calls.length, 4, 'immediate poll, then one per cycle');
    assert.deepEqual(a.seen(), []);
    assert.deepEqual(b.seen(), ['k=1:"v1"']);
    assert.equal(kit.logs.filter((l) => l.level === 'warn').length, 1, 'one warning for the burst');
    bad.mode = 'ok';
    await kit.advance(1000);
    assert.deepEqual(a.seen(), ['k=1:"bad"']);
    assert.equal(kit.logs.filter((l) => l.level === 'info').length, 1, 'recovery noted');
    bad.mode = 'fail';
    await kit.advance(1000);
    assert.equal(kit.logs.filter((l) => l.level === 'warn').length, 2, 'a new burst warns again');
  });
});

describe('lifecycle', () => {
  it('releases a channel state channel_shutdown_delay after its last key, unless a key comes back first', async () => {
    kit = new Kit();
    const config = sharedPollChannelConfig({ refresh_interval: 1000, channel_shutdown_delay: 2000 });
    const { engine, backend } = kit;
    const s = new Sub();
    engine.track(s, 'p:1', config, { track: [kit.batch('p:1', ['k'])] });
    engine.remove(s, 'p:1');
    await kit.advance(1000);
    assert.equal(engine.stats().channels, 1, 'kept during the delay');
    engine.track(s, 'p:1', config, { track: [kit.batch('p:1', ['k'])] });
    await kit.advance(3000);
    assert.equal(engine.stats().channels, 1, 'the re-track cancelled the shutdown');
    const epoch = engine.epoch('p:1', config);
    engine.untrack(s, 'p:1', ['k']);
    await kit.advance(2100);
    assert.deepEqual(engine.stats(), { channels: 0, keys: 0, subscribers: 0 });
    assert.equal(kit.wheel.size, 0, 'no timer left behind');
    const calls = backend.calls.length;
    await kit.advance(5000);
    assert.equal(backend.calls.length, calls, 'no more polls');
    engine.track(s, 'p:1', config, { track: [kit.batch('p:1', ['k'])] });
    assert.notEqual(engine.epoch('p:1', config), epoch);
  });

  it('a negative channel_shutdown_delay releases at once; close() stops everything', async () => {
    const config = sharedPollChannelConfig({ channel_shutdown_delay: -1 });
    const closedChannels: string[] = [];
    kit = new Kit({ onChannelClose: (ch) => closedChannels.push(ch) });
    const s = new Sub();
    kit.engine.track(s, 'p:1', config, { track: [kit.batch('p:1', ['k'])] });
    kit.engine.track(s, 'p:2', config, { track: [kit.batch('p:2', ['k'])] });
    kit.engine.remove(s, 'p:1');
    assert.deepEqual(closedChannels, ['p:1']);
    kit.engine.close();
    assert.deepEqual(closedChannels, ['p:1', 'p:2']);
    assert.equal(kit.wheel.size, 0);
    assert.equal(errCode(() => kit.engine.track(s, 'p:1', config, { track: [kit.batch('p:1', ['k'])] })), 100);
  });
});
