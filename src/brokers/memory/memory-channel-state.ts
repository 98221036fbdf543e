import { channelStateEvent, systemClock, type ChannelStateHandler, type ChannelStateStore, type Clock } from '../../core/index.js';

export interface MemoryChannelStateOptions {
  /** Wait before a vacated event, ms; a join within it cancels the event. */
  vacatedDelayMs: number;
  clock?: Clock;
}

/**
 * Channel occupancy for a single node (memory engine): the node's tracker already counts its
 * subscribers, so a join is the start of an episode unless a vacated is pending (then it
 * cancels it), and a leave arms one timer per channel. Exactly once follows from there being
 * one process: each episode has one join with nothing pending and one timer that fires.
 * close() reports every pending vacated at once (the node is the whole cluster and is going away).
 */
export class MemoryChannelState implements ChannelStateStore {
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private handler: ChannelStateHandler | undefined;
  private readonly clock: Clock;

  constructor(private readonly opts: MemoryChannelStateOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  start(handler: ChannelStateHandler): void {
    this.handler = handler;
  }

  async nodeJoined(channel: string): Promise<void> {
    const t = this.pending.get(channel);
    if (t !== undefined) {
      clearTimeout(t);
      this.pending.delete(channel);
      return;
    }
    this.handler?.event(channelStateEvent(channel, 'occupied', this.clock));
  }

  async nodeLeft(channel: string): Promise<void> {
    if (this.pending.has(channel)) return;
    const t = setTimeout(() => this.fire(channel), this.opts.vacatedDelayMs);
    t.unref();
    this.pending.set(channel, t);
  }

  async close(): Promise<void> {
    for (const channel of [...this.pending.keys()]) this.fire(channel);
  }

  private fire(channel: string): void {
    const t = this.pending.get(channel);
    if (t === undefined) return;
    clearTimeout(t);
    this.pending.delete(channel);
    this.handler?.event(channelStateEvent(channel, 'vacated', this.clock));
  }
}
