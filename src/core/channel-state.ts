/**
 * Channel state events (occupied / vacated), a Gyre extension: the port a store implements
 * (memory for one node, Redis for a cluster) and the per-node tracker that feeds it.
 *
 * The split: the tracker counts this node's subscribers per channel and tells the store only
 * when this node starts or stops holding a channel (0 → 1, 1 → 0). The store decides,
 * cluster-wide, when a channel's episode begins (the first node anywhere: occupied) and when it
 * ends (no node holds it for the whole vacated delay: vacated), and reports each exactly once
 * to exactly one node's handler. Core does no I/O here: the store is a port.
 */
import type { Clock, Logger } from './ports.js';

/** One channel state event, as sent to the backend. */
export interface ChannelStateEvent {
  channel: string;
  type: 'occupied' | 'vacated';
  /** Unix milliseconds when the store decided the event. */
  time_ms: number;
}

/** What a store reports to; the node's tracker. */
export interface ChannelStateHandler {
  /** A state event due on this node; called once per event cluster-wide. */
  event(ev: ChannelStateEvent): void;
  /** Channels this node holds now (for stores that refresh their membership). */
  held(): Iterable<string>;
}

/**
 * Cluster-wide channel occupancy. Calls for one channel arrive in order, one at a time (the
 * tracker serializes them). Implementations must report, per channel episode, exactly one
 * occupied (when the first node joins and no vacated is pending) and exactly one vacated
 * (when the delay passed with no node holding the channel); a join while a vacated is
 * pending cancels it and reports nothing.
 */
export interface ChannelStateStore {
  /** Starts background work (timers, sweeps); reports go to `handler`. */
  start(handler: ChannelStateHandler): void;
  /** This node holds `channel` now (its first local subscriber). */
  nodeJoined(channel: string): Promise<void>;
  /** This node no longer holds `channel` (its last local subscriber left). */
  nodeLeft(channel: string): Promise<void>;
  /** Stops background work. Stores that can hand pending vacated events to the handler do so first. */
  close(): Promise<void>;
}

export interface ChannelStateTrackerOptions {
  /** Whether a channel's namespace wants state events; untracked channels cost nothing. */
  tracked(channel: string): boolean;
  /** Receives each due event (the composition root queues it for the backend). */
  onEvent(ev: ChannelStateEvent): void;
  logger: Logger;
}

/**
 * Counts this node's subscriptions per tracked channel and drives the store on the first and
 * last one. Per channel, store calls run one after another in the order the transitions
 * happened; the count map holds only channels with subscribers and the call chains only
 * channels with a call in flight.
 */
export class ChannelStateTracker implements ChannelStateHandler {
  private readonly counts = new Map<string, number>();
  private readonly chains = new Map<string, Promise<void>>();
  private closed = false;

  constructor(
    private readonly store: ChannelStateStore,
    private readonly opts: ChannelStateTrackerOptions,
  ) {}

  /** Starts the store; call once. */
  start(): void {
    this.store.start(this);
  }

  /** A subscription to `channel` became live on this node. */
  subscribed(channel: string): void {
    if (this.closed || !this.opts.tracked(channel)) return;
    const n = (this.counts.get(channel) ?? 0) + 1;
    this.counts.set(channel, n);
    if (n === 1) this.run(channel, () => this.store.nodeJoined(channel));
  }

  /** A live subscription to `channel` on this node ended. */
  unsubscribed(channel: string): void {
    const n = this.counts.get(channel);
    if (n === undefined) return;
    if (n > 1) {
      this.counts.set(channel, n - 1);
      return;
    }
    this.counts.delete(channel);
    this.run(channel, () => this.store.nodeLeft(channel));
  }

  event(ev: ChannelStateEvent): void {
    this.opts.onEvent(ev);
  }

  held(): Iterable<string> {
    return this.counts.keys();
  }

  /** Waits for store calls in flight, then closes the store (which may report pending vacated events). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.chains.values()]);
    await this.store.close();
  }

  private run(channel: string, fn: () => Promise<void>): void {
    const prev = this.chains.get(channel) ?? Promise.resolve();
    const next = prev.then(fn).catch((err: unknown) => {
      this.opts.logger.warn({ channel, err: err instanceof Error ? err.message : String(err) }, 'channel state store call failed');
    });
    this.chains.set(channel, next);
    void next.then(() => {
      if (this.chains.get(channel) === next) this.chains.delete(channel);
    });
  }
}

/** Helper for stores: the event for `channel` at `clock`'s time. */
export function channelStateEvent(channel: string, type: ChannelStateEvent['type'], clock: Clock): ChannelStateEvent {
  return { channel, type, time_ms: clock.now() };
}
