/**
 * Per-connection writer. Items enqueued during one event-loop turn leave in one
 * transport write at the end of the turn (setImmediate), which is what makes fan-out
 * cheap; a broker may hold that flush briefly for its own publications (flush-gate.ts). The queue plus the transport's own buffer is bounded: past the bound the
 * owner is told (and disconnects the client with 3008 "slow").
 */
import type { Transport } from './transport.js';
import { flushMayStart, onFlushResume } from './flush-gate.js';

const dirty: ConnectionWriter[] = [];
let flushScheduled = false;

/** The queue of a writer with nothing queued: shared, so an idle connection holds no array. */
const NO_ITEMS: Uint8Array[] = [];

/** Who is told when a writer overflows: a callback, or an object with writerOverflow(). */
export type OverflowHandler = (() => void) | { writerOverflow(): void };

function flushAll(): void {
  flushScheduled = false;
  // Held for publications about to arrive from a broker (flush-gate.ts): resumed later.
  if (!flushMayStart()) return;
  // Writers enqueued during this loop are appended to `dirty` and flushed in the same pass.
  for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
  dirty.length = 0;
}

function scheduleFlush(): void {
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushAll);
  }
}

onFlushResume(scheduleFlush);

export class ConnectionWriter {
  private items: Uint8Array[] = NO_ITEMS;
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
    if (this.closed) return false;
    // A fresh array per flush: the transport may keep the one it was given (frame reuse).
    if (this.items === NO_ITEMS) this.items = [item];
    else this.items.push(item);
    this.bytes += item.length;
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
    if (!drop && !this.closed) this.flush();
    this.closed = true;
    this.items = NO_ITEMS;
    this.bytes = 0;
  }
}
