/**
 * The per-node queue that delivers lifecycle notifications (disconnect, unsubscribe, channel
 * state) to the backend in batches: one sink per (kind, proxy).
 *
 * Contract: push() never blocks and never throws. Events go out in push order, up to
 * `maxBatch` per request, after at most `lingerMs` of gathering; one request is in flight at a
 * time. A failed request (the sender throws: transport error, timeout, non-200, an `error` in
 * the answer) is retried with the same batch, waiting 100 ms, 200 ms, ... up to 20 s between
 * tries, for as long as the sink is open; a batch is never split or merged across retries, so
 * the backend never sees an event twice within one batch. The queue holds at most `maxQueue`
 * events: pushes past that are dropped and reported through `onDrop`. close() stops taking
 * events and drains for at most `drainMs`; whatever is left is dropped (and reported).
 */
import type { LogLimiter } from '../core/index.js';

/** Delivers one batch; resolves on success, throws on any failure (the sink retries). */
export type BatchSender<E> = (events: readonly E[]) => Promise<void>;

export interface EventSinkOptions<E> {
  /** disconnect, unsubscribe or state: for logs and the drop metric. */
  type: string;
  /** The proxy's name (`default` or a `proxies[]` name). */
  name: string;
  send: BatchSender<E>;
  /** Events per request; default 500. */
  maxBatch?: number;
  /** Gathering time before a request, ms; default 20. */
  lingerMs?: number;
  /** Queue bound in events; default 100000. */
  maxQueue?: number;
  /** First retry delay, ms; default 100 (doubles per failure). */
  minBackoffMs?: number;
  /** Longest retry delay, ms; default 20000. */
  maxBackoffMs?: number;
  /** Rate-limited log for failures. */
  log: LogLimiter;
  /** Events dropped (full queue or shutdown). */
  onDrop?(count: number): void;
}

/** See the file comment. */
export class EventSink<E> {
  private queue: E[] = [];
  private head = 0;
  private readonly maxBatch: number;
  private readonly lingerMs: number;
  private readonly maxQueue: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private closing = false;
  private stopped = false;
  /** Requests that failed since the last success (for the backoff). */
  private failures = 0;
  /** Events dropped since the sink was built. */
  dropped = 0;
  /** Events the backend accepted. */
  delivered = 0;

  constructor(private readonly opts: EventSinkOptions<E>) {
    this.maxBatch = opts.maxBatch ?? 500;
    this.lingerMs = opts.lingerMs ?? 20;
    this.maxQueue = opts.maxQueue ?? 100_000;
    this.minBackoffMs = opts.minBackoffMs ?? 100;
    this.maxBackoffMs = opts.maxBackoffMs ?? 20_000;
  }

  /** Events waiting (not counting a batch in flight). */
  get size(): number {
    return this.queue.length - this.head;
  }

  /** Queues one event; false when it was dropped (queue full or sink closing). */
  push(ev: E): boolean {
    if (this.closing || this.size >= this.maxQueue) {
      this.drop(1);
      return false;
    }
    this.queue.push(ev);
    this.running ??= this.loop();
    return true;
  }

  /**
   * Stops taking events and tries to deliver what is queued for at most `drainMs`; then stops
   * (a retry wait in progress is cut short) and drops the rest.
   */
  async close(drainMs = 2000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const deadline = setTimeout(() => {
      this.stopped = true;
      this.interrupt();
    }, drainMs);
    try {
      this.interrupt();
      await this.running;
    } finally {
      clearTimeout(deadline);
      this.stopped = true;
      const left = this.size;
      this.queue = [];
      this.head = 0;
      if (left > 0) this.drop(left);
    }
  }

  private drop(n: number): void {
    this.dropped += n;
    this.opts.onDrop?.(n);
    this.opts.log.log('warn', { type: this.opts.type, proxy: this.opts.name, dropped: this.dropped }, 'proxy events dropped', `events-dropped:${this.opts.type}:${this.opts.name}`);
  }

  /** Sleeps `ms` unless interrupted (close). */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
    }).then(() => {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.wake = undefined;
    });
  }

  private interrupt(): void {
    this.wake?.();
  }

  private take(): E[] {
    const end = Math.min(this.queue.length, this.head + this.maxBatch);
    const batch = this.queue.slice(this.head, end);
    this.head = end;
    // Compact now and then so the array does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return batch;
  }

  private async loop(): Promise<void> {
    try {
      while (!this.stopped && this.size > 0) {
        if (!this.closing && this.size < this.maxBatch && this.lingerMs > 0) await this.sleep(this.lingerMs);
        const batch = this.take();
        if (batch.length === 0) break;
        await this.deliver(batch);
        if (this.stopped) {
          // Not delivered within the drain window.
          if (this.failures > 0) this.drop(batch.length);
          break;
        }
      }
    } finally {
      this.running = undefined;
      if (!this.stopped && this.size > 0) this.running = this.loop();
    }
  }

  /** Sends one batch until it succeeds or the sink stops. */
  private async deliver(batch: E[]): Promise<void> {
    for (;;) {
      try {
        await this.opts.send(batch);
        this.failures = 0;
        this.delivered += batch.length;
        return;
      } catch (err) {
        this.failures++;
        const delay = Math.min(this.maxBackoffMs, this.minBackoffMs * 2 ** Math.min(this.failures - 1, 30));
        this.opts.log.log(
          'warn',
          { type: this.opts.type, proxy: this.opts.name, events: batch.length, attempt: this.failures, retryInMs: delay, err: err instanceof Error ? err.message : String(err) },
          'proxy events not delivered, retrying',
          `events-failed:${this.opts.type}:${this.opts.name}`,
        );
        if (this.stopped) return;
        await this.sleep(delay);
        if (this.stopped) return;
      }
    }
  }
}
