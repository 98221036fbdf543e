/**
 * One shared scheduler for every per-connection timer (pings, pong checks, expiry,
 * presence refresh). Deadlines are rounded up to the wheel's resolution; a single
 * unref'd interval drives all of them, so idle connections cost no native timers.
 */
export interface TimerHandle {
  /** Set when cancelled or fired; a cancelled handle is skipped cheaply. */
  done: boolean;
}

interface Entry extends TimerHandle {
  fn: () => void;
}

export class TimerWheel {
  private readonly slots = new Map<number, Entry[]>();
  private interval: NodeJS.Timeout | undefined;
  private lastSlot: number;
  private count = 0;

  constructor(
    private readonly resolutionMs = 100,
    private readonly now: () => number = Date.now,
  ) {
    this.lastSlot = Math.floor(this.now() / resolutionMs);
  }

  /** Runs fn once, no earlier than delayMs from now (within one resolution step). */
  schedule(delayMs: number, fn: () => void): TimerHandle {
    const entry: Entry = { done: false, fn };
    const slot = Math.max(Math.ceil((this.now() + Math.max(0, delayMs)) / this.resolutionMs), this.lastSlot + 1);
    let list = this.slots.get(slot);
    if (!list) {
      list = [];
      this.slots.set(slot, list);
    }
    list.push(entry);
    this.count++;
    if (!this.interval) this.start();
    return entry;
  }

  /** Cancels a pending timer; safe to call twice or after it fired. */
  cancel(handle: TimerHandle | undefined): void {
    if (handle && !handle.done) {
      handle.done = true;
      this.count--;
    }
  }

  /** Fires every due entry; exposed so tests with a fake clock can drive the wheel. */
  tick(): void {
    const current = Math.floor(this.now() / this.resolutionMs);
    for (let s = this.lastSlot + 1; s <= current; s++) {
      const list = this.slots.get(s);
      if (!list) continue;
      this.slots.delete(s);
      for (const e of list) {
        if (e.done) continue;
        e.done = true;
        this.count--;
        try {
          e.fn();
        } catch {
          // A failing timer callback must not stop the others; callers handle their own errors.
        }
      }
    }
    this.lastSlot = Math.max(this.lastSlot, current);
    if (this.count === 0 && this.slots.size === 0) this.stop();
  }

  /** Stops the driving interval; pending timers stay and resume on the next schedule(). */
  stop(): void {
    if (this.interval) {
      clearInterval(this.interval);
      this.interval = undefined;
    }
  }

  /** Drops every pending timer. */
  close(): void {
    this.stop();
    this.slots.clear();
    this.count = 0;
  }

  private start(): void {
    this.lastSlot = Math.max(this.lastSlot, Math.floor(this.now() / this.resolutionMs) - 1);
    this.interval = setInterval(() => this.tick(), this.resolutionMs);
    this.interval.unref();
  }
}
