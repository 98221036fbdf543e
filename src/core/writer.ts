/**
 * Per-connection writer. Items enqueued during one event-loop turn leave in one
 * transport write at the end of the turn (setImmediate), which is what makes fan-out
 * cheap; a broker may hold that flush briefly for its own publications (flush-gate.ts).
 * The queue plus the transport's own buffer is bounded: past the bound the owner is told
 * (and disconnects the client with 3008 "slow").
 *
 * Deliveries may be deferred (the hub's publication runs, hub.ts): a deferred delivery
 * reaches its writers before any writer queues, flushes or closes anything, and at the latest
 * when the end-of-turn flush starts, so every queue holds what it would have held had it been
 * delivered at once, in the same order.
 */
import type { Transport } from './transport.js';
import { flushMayStart, onFlushResume } from './flush-gate.js';

const dirty: ConnectionWriter[] = [];
let flushScheduled = false;

/** The queue of a writer with nothing queued: shared, so an idle connection holds no array. */
const NO_ITEMS: readonly Uint8Array[] = Object.freeze([]);

/** Who is told when a writer overflows: a callback, or an object with writerOverflow(). */
export type OverflowHandler = (() => void) | { writerOverflow(): void };

/** Work that queues items on writers later in the turn (the hub's publication runs). */
export interface DeferredDelivery {
  /** Queues what was deferred; nothing when it was delivered already. */
  deliverDeferred(): void;
}

const deferred: DeferredDelivery[] = [];

/**
 * Registers a deferred delivery: it runs before the next writer operation, and at the latest
 * at the end of the event-loop turn.
 */
export function deferDelivery(d: DeferredDelivery): void {
  deferred.push(d);
  scheduleFlush();
}

/**
 * Runs the deferred deliveries, each taken off the list before it runs: a delivery that
 * touches writers settles the rest first, and one deferred meanwhile runs too.
 */
function settleDeferred(): void {
  while (deferred.length !== 0) deferred.shift()!.deliverDeferred();
}

function scheduleFlush(): void {
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushAll);
  }
}

function flushAll(): void {
  flushScheduled = false;
  // Held for publications about to arrive from a broker (flush-gate.ts): resumed later.
  if (!flushMayStart()) return;
  if (deferred.length !== 0) settleDeferred();
  // Writers enqueued during this loop are appended to `dirty` and flushed in the same pass.
  for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
  dirty.length = 0;
}

onFlushResume(scheduleFlush);

export class ConnectionWriter {
  /**
   * What is queued, in order. A frozen array is shared (NO_ITEMS, or a run the hub handed to
   * every subscriber of a channel): it is copied before anything is added to it.
   */
  private items: readonly Uint8Array[] = NO_ITEMS;
  private bytes = 0;
  private pending = false;
  private closed = false;

  constructor(
    private readonly transport: Transport,
    private readonly maxQueueBytes: number,
    private readonly onOverflow: OverflowHandler,
  ) {}

  /** Queues one encoded item. Returns false when the writer is closed or overflowed. */
  enqueue(item: Uint8Array): boolean {
    if (deferred.length !== 0) settleDeferred();
    if (this.closed) return false;
    // A fresh array per flush: the transport may keep the one it was given (frame reuse).
    const items = this.items;
    if (items === NO_ITEMS) this.items = [item];
    else if (Object.isFrozen(items)) this.items = [...items, item];
    else (items as Uint8Array[]).push(item);
    return this.queued(item.length);
  }

  /**
   * Queues items shared with other writers (the same publications for every subscriber of a
   * channel): the array is kept as it is while nothing else is queued, so it must never change
   * (it is frozen here). `bytes` is the sum of their lengths.
   */
  enqueueShared(run: readonly Uint8Array[], bytes: number): boolean {
    if (this.closed) return false;
    const items = this.items;
    if (items === NO_ITEMS) this.items = Object.isFrozen(run) ? run : Object.freeze(run);
    else if (Object.isFrozen(items)) this.items = items.concat(run);
    else for (let i = 0; i < run.length; i++) (items as Uint8Array[]).push(run[i]!);
    return this.queued(bytes);
  }

  /** Counts queued bytes: overflows past the bound, else makes sure a flush comes. */
  private queued(bytes: number): boolean {
    this.bytes += bytes;
    // The transport's own backlog is checked once per flush; the queue itself on every item.
    if (this.maxQueueBytes > 0 && this.bytes > this.maxQueueBytes) {
      this.overflow();
      return false;
    }
    if (!this.pending) {
      this.pending = true;
      dirty.push(this);
      scheduleFlush();
    }
    return true;
  }

  private overflow(): void {
    this.closed = true;
    this.items = NO_ITEMS;
    this.bytes = 0;
    const h = this.onOverflow;
    if (typeof h === 'function') h();
    else h.writerOverflow();
  }

  /** Writes everything queued now, in one transport write. */
  flush(): void {
    if (deferred.length !== 0) settleDeferred();
    this.pending = false;
    if (this.items.length === 0 || this.closed) return;
    if (this.maxQueueBytes > 0 && this.bytes + this.transport.bufferedBytes() > this.maxQueueBytes) {
      this.overflow();
      return;
    }
    const items = this.items;
    this.items = NO_ITEMS;
    this.bytes = 0;
    this.transport.writeItems(items);
  }

  /** Stops accepting items; `drop` discards what is queued instead of writing it. */
  close(drop: boolean): void {
    if (deferred.length !== 0) settleDeferred();
    if (!drop && !this.closed) this.flush();
    this.closed = true;
    this.items = NO_ITEMS;
    this.bytes = 0;
  }
}
