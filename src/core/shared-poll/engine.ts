/**
 * The shared-poll engine (subscriptions.md §6): per node and channel, the union of keys its
 * subscribers track, polled from the application backend once per batch of keys (not per
 * subscriber), and the changes fanned out to the subscribers tracking each key. No I/O of
 * its own: the backend is a SharedPollRefreshProxy port, time an injected clock and
 * scheduler. Everything a channel holds is released `channel_shutdown_delay` after its last
 * key goes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Errors, type ProtocolError } from '../../protocol/codes.js';
import type { Clock, Logger } from '../ports.js';
import { nullLogger } from '../ports.js';
import type { SharedPollRefreshProxy, SharedPollRefreshResult, SharedPollRefreshResultItem } from '../proxy-ports.js';
import type { TimerHandle } from '../timer-wheel.js';
import { SHARED_POLL_DEFAULTS, type SharedPollChannelConfig } from './options.js';
import { Semaphore } from './semaphore.js';
import type { TrackSignatureVerifier } from './signature.js';

/** Runs callbacks later; the core TimerWheel satisfies it. */
export interface SharedPollScheduler {
  schedule(delayMs: number, fn: () => void): TimerHandle;
  cancel(handle: TimerHandle | undefined): void;
}

/**
 * A publication for the subscribers of one key. The same object goes to every subscriber
 * it is delivered to, so a subscriber may cache its encoding by identity.
 */
export interface SharedPollPublication {
  readonly key: string;
  /** The key's version: the backend's (versioned) or the channel's synthetic one (versionless); 0 for a removal. */
  readonly version: number;
  /** The payload (raw JSON or bytes as the backend sent it); absent for a removal. */
  readonly data?: Uint8Array;
  /** The backend's `prev_data`, a delta base when the subscriber has none. */
  readonly prevData?: Uint8Array;
  /** The key is gone; the engine has already stopped tracking it for the subscriber. */
  readonly removed?: boolean;
  /** shared_poll_publish only: the publisher's epoch. */
  readonly epoch?: string;
}

/**
 * What the engine needs of one shared-poll subscription (one client on one channel). The
 * engine keys its state by the object's identity; the subscription kind implements it.
 */
export interface SharedPollSubscriber {
  /** The connection's user, "" for anonymous: track signatures are checked against it. */
  readonly user: string;
  /** Pushes `pub` to the client. Called only with a version above what the subscriber had for the key. */
  deliver(channel: string, pub: SharedPollPublication): void;
  /**
   * The channel's publisher epoch changed (versioned mode): the engine has dropped the
   * subscriber's keys; unsubscribe the client with 2500 "insufficient state" so it
   * resubscribes and re-tracks from version 0.
   */
  resetState(channel: string): void;
}

/** One signed batch of a track request, items in the order the client sent them. */
export interface TrackBatch {
  readonly signature: string;
  readonly items: readonly { readonly key: string; readonly version?: number }[];
}

export interface TrackRequest {
  readonly track: readonly TrackBatch[];
  /** Keys to stop tracking once the batches are in (inline untrack); unknown keys are ignored. */
  readonly untrack?: readonly string[];
}

/** The track reply's fields (SubRefreshResult). */
export interface TrackReply {
  /** Some batch's signature expires. */
  expires: boolean;
  /** Seconds until the earliest expiry; absent when there is none or it has passed. */
  ttl?: number;
}

export interface SharedPollEngineOptions {
  clock: Clock;
  scheduler: SharedPollScheduler;
  verifier: TrackSignatureVerifier;
  /** The backend of a channel; undefined fails its polls (logged). */
  proxy(channel: string): SharedPollRefreshProxy | undefined;
  /** Node-wide cap on concurrent backend calls (resolve with sharedPollConcurrencyLimit). Default 64. */
  concurrencyLimit?: number;
  /** Bound on one backend call; a slower one fails that poll and frees its slot. Default 30 s. */
  callTimeoutMs?: number;
  logger?: Logger;
  /** Epoch generator (8 characters); tests may fix it. */
  newEpoch?: () => string;
  /** A channel state was created: with publish enabled, start receiving its publications from other nodes. */
  onChannelOpen?(channel: string, config: SharedPollChannelConfig): void;
  /** A channel state was dropped. */
  onChannelClose?(channel: string): void;
}

interface KeyState {
  /** Backend version (versioned) or synthetic version (versionless); 0 = no data yet. */
  version: number;
  /** Versionless: hash of the last data. */
  hash: string | undefined;
  /** A subscriber lacks the current data: the next answer re-broadcasts it even if unchanged. */
  needsBroadcast: boolean;
  /** Set by shared_poll_publish: the next timer poll skips the key once. */
  freshFromPublish: boolean;
  readonly subs: Set<SubEntry>;
}

interface TrackedKey {
  /** What the subscriber has. */
  version: number;
  /** When the batch's signature expires, ms; 0 = never. */
  expireAtMs: number;
}

interface SubEntry {
  readonly sub: SharedPollSubscriber;
  readonly keys: Map<string, TrackedKey>;
}

interface ChannelState {
  readonly channel: string;
  readonly config: SharedPollChannelConfig;
  epoch: string;
  /** Last synthetic version handed out (versionless). */
  counter: number;
  readonly items: Map<string, KeyState>;
  readonly subs: Map<SharedPollSubscriber, SubEntry>;
  /** Timer of the next timer poll, or of the next chunk of a spread cycle. */
  pollTimer: TimerHandle | undefined;
  shutdownTimer: TimerHandle | undefined;
  /** Keys waiting for an immediate poll. */
  readonly immediate: Set<string>;
  immediateQueued: boolean;
  immediateInFlight: boolean;
  /** Polls failed since the last success (logged once per burst). */
  failures: number;
  closed: boolean;
}

const EPOCH_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** An 8-character random epoch. */
export function randomEpoch(): string {
  const b = randomBytes(8);
  let s = '';
  for (const x of b) s += EPOCH_ALPHABET[x % EPOCH_ALPHABET.length];
  return s;
}

function dataHash(data: Uint8Array | undefined): string {
  return createHash('sha1')
    .update(data ?? new Uint8Array(0))
    .digest('base64');
}

class CallTimeout extends Error {}

export class SharedPollEngine {
  private readonly states = new Map<string, ChannelState>();
  private readonly sem: Semaphore;
  private readonly logger: Logger;
  private readonly callTimeoutMs: number;
  private readonly newEpoch: () => string;
  /** Epoch of versionless channels that have no state on this node. */
  private readonly nodeEpoch: string;
  private closed = false;

  constructor(private readonly opts: SharedPollEngineOptions) {
    this.sem = new Semaphore(opts.concurrencyLimit !== undefined && opts.concurrencyLimit > 0 ? opts.concurrencyLimit : SHARED_POLL_DEFAULTS.concurrencyLimit);
    this.logger = opts.logger ?? nullLogger;
    this.callTimeoutMs = opts.callTimeoutMs !== undefined && opts.callTimeoutMs > 0 ? opts.callTimeoutMs : SHARED_POLL_DEFAULTS.callTimeoutMs;
    this.newEpoch = opts.newEpoch ?? randomEpoch;
    this.nodeEpoch = this.newEpoch();
  }

  /**
   * The epoch for a subscribe reply: the channel state's; without one, the node's epoch in
   * versionless mode and "" in versioned mode.
   */
  epoch(channel: string, config: SharedPollChannelConfig): string {
    const s = this.states.get(channel);
    if (s !== undefined) return s.epoch;
    return config.mode === 'versionless' ? this.nodeEpoch : '';
  }

  /**
   * Tracks the request's keys for `sub` (subscriptions.md §6.4 steps 2–9). Throws the
   * client error: 107 without batches or items, 106 past max_keys_per_connection, 103 for
   * a bad signature, 109 for an expired one; nothing changes then. On success the keys are
   * tracked and the reply is returned; cold and warm keys are polled from a microtask, so
   * a reply written in the same synchronous turn precedes every push it causes.
   */
  track(sub: SharedPollSubscriber, channel: string, config: SharedPollChannelConfig, req: TrackRequest): TrackReply {
    if (this.closed) throw Errors.internal;
    if (req.track.length === 0) throw Errors.badRequest;
    // Flatten: a key in several batches takes version and expiry from the last one.
    const flat = new Map<string, { version: number; batch: number }>();
    req.track.forEach((b, i) => {
      for (const it of b.items) {
        flat.delete(it.key);
        flat.set(it.key, { version: it.version ?? 0, batch: i });
      }
    });
    if (flat.size === 0) throw Errors.badRequest;

    const untrack = new Set(req.untrack ?? []);
    const existing = this.states.get(channel)?.subs.get(sub);
    let count = existing?.keys.size ?? 0;
    if (existing !== undefined) for (const k of untrack) if (existing.keys.has(k)) count--;
    for (const k of flat.keys()) if (!existing?.keys.has(k) && !untrack.has(k)) count++;
    if (count > config.maxKeysPerConnection) throw Errors.limitExceeded;

    const nowMs = this.opts.clock.now();
    const nowSec = Math.floor(nowMs / 1000);
    const expiries: number[] = [];
    for (const b of req.track) {
      const v = this.opts.verifier.verify(channel, sub.user, b.items.map((it) => it.key), b.signature, nowSec);
      if (isError(v)) throw v;
      expiries.push(v.exp);
    }

    const state = this.stateFor(channel, config);
    let entry = state.subs.get(sub);
    if (entry === undefined) {
      entry = { sub, keys: new Map() };
      state.subs.set(sub, entry);
    }
    const poll: string[] = [];
    for (const [key, it] of flat) {
      let ks = state.items.get(key);
      if (ks === undefined) {
        ks = { version: 0, hash: undefined, needsBroadcast: false, freshFromPublish: false, subs: new Set() };
        state.items.set(key, ks);
        // Cold: nobody on this node had it, and the client has nothing.
        if (it.version === 0) poll.push(key);
      } else if (it.version === 0 || ks.version > it.version) {
        // Warm: the server knows the key; re-broadcast its current data to whoever lacks it.
        ks.needsBroadcast = true;
        poll.push(key);
      }
      const exp = expiries[it.batch] ?? 0;
      entry.keys.set(key, { version: it.version, expireAtMs: exp > 0 ? exp * 1000 : 0 });
      ks.subs.add(entry);
    }
    for (const key of untrack) if (entry.keys.has(key)) this.dropKey(state, entry, key);
    for (const key of poll) if (state.items.has(key)) state.immediate.add(key);
    this.queueImmediate(state);
    this.settle(state);

    let earliest = 0;
    for (const e of expiries) if (e > 0 && (earliest === 0 || e < earliest)) earliest = e;
    if (earliest === 0) return { expires: false };
    const ttl = earliest - nowSec;
    return ttl > 0 ? { expires: true, ttl } : { expires: true };
  }

  /** Stops tracking `keys` for `sub` (§6.6); unknown keys are ignored. Throws 107 for an empty list. */
  untrack(sub: SharedPollSubscriber, channel: string, keys: readonly string[]): void {
    if (keys.length === 0) throw Errors.badRequest;
    const state = this.states.get(channel);
    const entry = state?.subs.get(sub);
    if (state === undefined || entry === undefined) return;
    for (const key of keys) if (entry.keys.has(key)) this.dropKey(state, entry, key);
  }

  /** Drops everything `sub` tracks on `channel` (unsubscribe, disconnect). Idempotent. */
  remove(sub: SharedPollSubscriber, channel: string): void {
    const state = this.states.get(channel);
    const entry = state?.subs.get(sub);
    if (state === undefined || entry === undefined) return;
    for (const key of [...entry.keys.keys()]) this.dropKey(state, entry, key);
  }

  /** Keys `sub` tracks on `channel` with the version it has of each (a copy). */
  trackedKeys(sub: SharedPollSubscriber, channel: string): Map<string, number> {
    const out = new Map<string, number>();
    const entry = this.states.get(channel)?.subs.get(sub);
    if (entry !== undefined) for (const [k, t] of entry.keys) out.set(k, t.version);
    return out;
  }

  /**
   * Applies a shared_poll_publish (server.md §4.6) to this node's subscribers: throws 108
   * unless the channel is versioned with publish enabled. A different `epoch` resets the
   * channel as a poll answer's would; then a version above the stored one is stored and
   * broadcast, and the next timer poll skips the key. Returns whether it was broadcast
   * (false when no subscriber here tracks the key or the version is not newer).
   */
  publish(channel: string, config: SharedPollChannelConfig, pub: { key: string; version: number; data: Uint8Array; epoch?: string }): boolean {
    if (config.mode !== 'versioned' || !config.publishEnabled) throw Errors.notAvailable;
    const state = this.states.get(channel);
    if (state === undefined || state.closed) return false;
    this.checkEpoch(state, pub.epoch ?? '');
    const ks = state.items.get(pub.key);
    if (ks === undefined || pub.version <= ks.version) return false;
    ks.version = pub.version;
    ks.freshFromPublish = true;
    ks.needsBroadcast = false;
    const out: SharedPollPublication = pub.epoch
      ? { key: pub.key, version: pub.version, data: pub.data, epoch: pub.epoch }
      : { key: pub.key, version: pub.version, data: pub.data };
    this.broadcast(state, ks, out);
    return true;
  }

  /**
   * Drops keys whose signature expired more than `track_expired_extra_delay` ago, silently
   * (no push). Runs before each timer poll; callers may run it more often.
   */
  sweepExpired(): void {
    for (const state of [...this.states.values()]) this.sweepChannel(state);
  }

  /** Channel states and keys held on this node. */
  stats(): { channels: number; keys: number; subscribers: number } {
    let keys = 0;
    let subscribers = 0;
    for (const s of this.states.values()) {
      keys += s.items.size;
      subscribers += s.subs.size;
    }
    return { channels: this.states.size, keys, subscribers };
  }

  /** Stops every worker and timer and forgets all state; polls in flight are ignored. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sem.close();
    for (const s of [...this.states.values()]) this.shutdown(s);
  }

  private stateFor(channel: string, config: SharedPollChannelConfig): ChannelState {
    let s = this.states.get(channel);
    if (s !== undefined) {
      this.opts.scheduler.cancel(s.shutdownTimer);
      s.shutdownTimer = undefined;
      return s;
    }
    s = {
      channel,
      config,
      epoch: config.mode === 'versionless' ? this.newEpoch() : '',
      counter: 0,
      items: new Map(),
      subs: new Map(),
      pollTimer: undefined,
      shutdownTimer: undefined,
      immediate: new Set(),
      immediateQueued: false,
      immediateInFlight: false,
      failures: 0,
      closed: false,
    };
    this.states.set(channel, s);
    this.armCycle(s, config.refreshIntervalMs);
    this.opts.onChannelOpen?.(channel, config);
    return s;
  }

  /** Removes one key of one subscriber; the key, the subscriber entry and the channel go when empty. */
  private dropKey(state: ChannelState, entry: SubEntry, key: string): void {
    entry.keys.delete(key);
    const ks = state.items.get(key);
    if (ks !== undefined) {
      ks.subs.delete(entry);
      if (ks.subs.size === 0) {
        state.items.delete(key);
        state.immediate.delete(key);
      }
    }
    if (entry.keys.size === 0) state.subs.delete(entry.sub);
    this.settle(state);
  }

  /** Schedules the shutdown of a channel state left without keys. */
  private settle(state: ChannelState): void {
    if (state.closed || state.items.size > 0 || state.shutdownTimer !== undefined) return;
    const delay = state.config.channelShutdownDelayMs;
    if (delay < 0) {
      this.shutdown(state);
      return;
    }
    state.shutdownTimer = this.opts.scheduler.schedule(delay, () => {
      state.shutdownTimer = undefined;
      if (state.items.size === 0) this.shutdown(state);
    });
  }

  private shutdown(state: ChannelState): void {
    if (state.closed) return;
    state.closed = true;
    this.opts.scheduler.cancel(state.pollTimer);
    this.opts.scheduler.cancel(state.shutdownTimer);
    state.pollTimer = undefined;
    state.shutdownTimer = undefined;
    state.immediate.clear();
    state.items.clear();
    state.subs.clear();
    if (this.states.get(state.channel) === state) {
      this.states.delete(state.channel);
      this.opts.onChannelClose?.(state.channel);
    }
  }

  private sweepChannel(state: ChannelState): void {
    const now = this.opts.clock.now();
    const extra = state.config.trackExpiredExtraDelayMs;
    for (const entry of [...state.subs.values()]) {
      for (const [key, t] of [...entry.keys]) {
        if (t.expireAtMs > 0 && t.expireAtMs + extra < now) this.dropKey(state, entry, key);
      }
    }
  }

  // --- polling ---------------------------------------------------------------------------

  private armCycle(state: ChannelState, delayMs: number): void {
    state.pollTimer = this.opts.scheduler.schedule(Math.max(0, delayMs), () => {
      state.pollTimer = undefined;
      void this.runCycle(state);
    });
  }

  /**
   * One timer poll: every key (sorted) in chunks of refresh_batch_size, the chunks spread
   * evenly over the interval; the next cycle starts one interval after this one started,
   * or at once when it overran.
   */
  private async runCycle(state: ChannelState): Promise<void> {
    if (state.closed) return;
    const started = this.opts.clock.now();
    this.sweepChannel(state);
    if (state.closed) return;
    const keys: string[] = [];
    for (const [k, ks] of state.items) {
      if (ks.freshFromPublish) ks.freshFromPublish = false;
      else keys.push(k);
    }
    keys.sort();
    const size = state.config.refreshBatchSize;
    const chunks: string[][] = [];
    for (let i = 0; i < keys.length; i += size) chunks.push(keys.slice(i, i + size));
    const spreadMs = chunks.length > 1 ? state.config.refreshIntervalMs / chunks.length : 0;
    const polls: Promise<void>[] = [];
    for (let i = 0; i < chunks.length; i++) {
      // Each chunk is due at its own point of the cycle, measured from the cycle's start, so the
      // scheduler's rounding (100 ms steps) does not add up over the chunks.
      const dueIn = started + i * spreadMs - this.opts.clock.now();
      if (i > 0 && dueIn > 0) {
        await new Promise<void>((resolve) => {
          state.pollTimer = this.opts.scheduler.schedule(dueIn, () => {
            state.pollTimer = undefined;
            resolve();
          });
        });
        // A shutdown cancels the timer above, so this point is reached only while open.
        if (state.closed) return;
      }
      polls.push(this.poll(state, chunks[i]!));
    }
    await Promise.all(polls);
    if (state.closed) return;
    const elapsed = this.opts.clock.now() - started;
    this.armCycle(state, state.config.refreshIntervalMs - elapsed);
  }

  private queueImmediate(state: ChannelState): void {
    if (state.immediateQueued || state.immediate.size === 0) return;
    state.immediateQueued = true;
    queueMicrotask(() => {
      state.immediateQueued = false;
      void this.flushImmediate(state);
    });
  }

  /** One immediate request at a time per channel; keys queued meanwhile go in the next. */
  private async flushImmediate(state: ChannelState): Promise<void> {
    if (state.closed || state.immediateInFlight || state.immediate.size === 0) return;
    const keys: string[] = [];
    for (const k of state.immediate) {
      keys.push(k);
      if (keys.length >= state.config.refreshBatchSize) break;
    }
    for (const k of keys) state.immediate.delete(k);
    state.immediateInFlight = true;
    try {
      await this.poll(state, keys);
    } finally {
      state.immediateInFlight = false;
    }
    this.queueImmediate(state);
  }

  /** One backend call for `keys` under the node-wide limit; failures are logged and dropped. */
  private async poll(state: ChannelState, keys: readonly string[]): Promise<void> {
    if (!(await this.sem.acquire())) return;
    try {
      if (state.closed) return;
      const versioned = state.config.mode === 'versioned';
      const items: { key: string; version: number }[] = [];
      for (const key of keys) {
        const ks = state.items.get(key);
        if (ks === undefined) continue;
        items.push({ key, version: versioned && !ks.needsBroadcast ? ks.version : 0 });
      }
      if (items.length === 0) return;
      const proxy = this.opts.proxy(state.channel);
      let result: SharedPollRefreshResult;
      try {
        if (proxy === undefined) throw new Error('no shared poll refresh proxy for the channel');
        result = await this.bounded(proxy.sharedPollRefresh({ channel: state.channel, items }));
      } catch (err) {
        this.pollFailed(state, err);
        return;
      }
      if (state.closed) return;
      if (state.failures > 0) {
        this.logger.info({ channel: state.channel, failedPolls: state.failures }, 'shared poll refresh recovered');
        state.failures = 0;
      }
      this.apply(state, result);
    } finally {
      this.sem.release();
    }
  }

  /** Races a backend call against the engine's call timeout. */
  private bounded<T>(call: Promise<T>): Promise<T> {
    let timer: TimerHandle | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = this.opts.scheduler.schedule(this.callTimeoutMs, () => reject(new CallTimeout(`no answer within ${this.callTimeoutMs} ms`)));
    });
    // A call that settles after the timeout must not become an unhandled rejection.
    call.catch(() => undefined);
    return Promise.race([call, timeout]).finally(() => this.opts.scheduler.cancel(timer));
  }

  /** Logs the first failure of a burst as a warning, the rest at debug. */
  private pollFailed(state: ChannelState, err: unknown): void {
    state.failures++;
    const fields = { channel: state.channel, error: err instanceof Error ? err.message : String(err) };
    if (state.failures === 1) this.logger.warn(fields, 'shared poll refresh failed; retrying next cycle');
    else this.logger.debug({ ...fields, failedPolls: state.failures }, 'shared poll refresh failed again');
  }

  // --- applying answers ------------------------------------------------------------------

  /**
   * Versioned mode: a publisher epoch other than the stored one is stored, every key is
   * reset, and every subscriber is dropped and told to resubscribe.
   */
  private checkEpoch(state: ChannelState, epoch: string): void {
    if (state.config.mode !== 'versioned' || state.epoch === epoch) return;
    state.epoch = epoch;
    for (const ks of state.items.values()) {
      ks.version = 0;
      ks.hash = undefined;
      ks.needsBroadcast = false;
      ks.freshFromPublish = false;
    }
    const entries = [...state.subs.values()];
    for (const entry of entries) for (const key of [...entry.keys.keys()]) this.dropKey(state, entry, key);
    for (const entry of entries) {
      try {
        entry.sub.resetState(state.channel);
      } catch (err) {
        this.logger.error({ channel: state.channel, error: String(err) }, 'shared poll subscriber failed to reset');
      }
    }
  }

  private apply(state: ChannelState, result: SharedPollRefreshResult): void {
    this.checkEpoch(state, result.epoch);
    const versionless = state.config.mode === 'versionless';
    for (const item of result.items) {
      if (state.closed) return;
      const ks = state.items.get(item.key);
      if (ks === undefined) continue;
      if (item.removed) {
        this.removeKey(state, item.key, ks);
        continue;
      }
      const pub = versionless && item.version === 0 ? this.versionless(state, ks, item) : this.versioned(ks, item);
      if (pub !== undefined) this.broadcast(state, ks, pub);
    }
  }

  private versionless(state: ChannelState, ks: KeyState, item: SharedPollRefreshResultItem): SharedPollPublication | undefined {
    const hash = dataHash(item.data);
    if (ks.version > 0 && hash === ks.hash) return ks.needsBroadcast ? publication(item, ks.version) : undefined;
    ks.hash = hash;
    ks.version = ++state.counter;
    return publication(item, ks.version);
  }

  private versioned(ks: KeyState, item: SharedPollRefreshResultItem): SharedPollPublication | undefined {
    if (item.version < ks.version) return undefined;
    if (item.version === ks.version) return ks.needsBroadcast && ks.version > 0 ? publication(item, ks.version) : undefined;
    ks.version = item.version;
    return publication(item, item.version);
  }

  /** Delivers to each subscriber of the key whose version is below the publication's. */
  private broadcast(state: ChannelState, ks: KeyState, pub: SharedPollPublication): void {
    ks.needsBroadcast = false;
    for (const entry of [...ks.subs]) {
      const t = entry.keys.get(pub.key);
      if (t === undefined || pub.version <= t.version) continue;
      t.version = pub.version;
      this.deliver(state, entry, pub);
    }
  }

  private removeKey(state: ChannelState, key: string, ks: KeyState): void {
    const pub: SharedPollPublication = { key, version: 0, removed: true };
    for (const entry of [...ks.subs]) {
      if (!entry.keys.has(key)) continue;
      this.dropKey(state, entry, key);
      this.deliver(state, entry, pub);
    }
  }

  private deliver(state: ChannelState, entry: SubEntry, pub: SharedPollPublication): void {
    try {
      entry.sub.deliver(state.channel, pub);
    } catch (err) {
      // One failing subscriber must not stop the fan-out to the others.
      this.logger.error({ channel: state.channel, key: pub.key, error: String(err) }, 'shared poll delivery failed');
    }
  }
}

function publication(item: SharedPollRefreshResultItem, version: number): SharedPollPublication {
  const pub: { key: string; version: number; data?: Uint8Array; prevData?: Uint8Array } = { key: item.key, version };
  pub.data = item.data ?? new Uint8Array(0);
  if (item.prevData !== undefined && item.prevData.length > 0) pub.prevData = item.prevData;
  return pub;
}

function isError(v: unknown): v is ProtocolError {
  return v instanceof Error;
}
