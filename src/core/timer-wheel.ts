/**
 * One shared scheduler for every per-connection timer (pings, pong checks, expiry,
 * presence refresh). Deadlines are rounded up to the wheel's resolution; a single
 * unref'd interval drives all of them, so idle connections cost no native timers.
 * A recurring timer can be created once with timer() and re-armed with arm(), which
 * allocates nothing: an idle connection then makes no garbage per ping.
 */
export interface TimerHandle {
  /** Set when cancelled or fired; a cancelled handle is skipped cheaply. */
  done: boolean;
}

interface Entry extends TimerHandle {
  fn: (arg: unknown) => void;
  /** Passed to fn, so one module-level function can serve every connection (no closure each). */
  arg: unknown;
  /** The slot the entry is armed for; a copy left in an earlier slot's list is stale. */
  slot: number;
}

export class TimerWheel {
  private readonly slots = new Map<number, Entry[]>();
  private interval: NodeJS.Timeout | undefined;
  /** Slots are counted from the wheel's creation, so slot numbers stay small integers (no boxed doubles). */
  private readonly origin: number;
  private lastSlot = 0;
  private count = 0;

  constructor(
    private readonly resolutionMs = 100,
    private readonly now: () => number = Date.now,
  ) {
    this.origin = Math.floor(this.now() / resolutionMs);
  }

  /** The slot of a point in time. */
  private slotAt(timeMs: number, ceil: boolean): number {
    const t = timeMs / this.resolutionMs;
    return (ceil ? Math.ceil(t) : Math.floor(t)) - this.origin;
  }

  /** Runs fn once, no earlier than delayMs from now (within one resolution step). */
  schedule(delayMs: number, fn: () => void): TimerHandle {
    const entry: Entry = { done: true, fn, arg: undefined, slot: 0 };
    this.arm(entry, delayMs);
    return entry;
  }

  /**
   * A reusable timer running fn(arg), not armed yet (done). Arm it with arm(). Passing the
   * owner as `arg` to a shared function keeps a per-connection timer to one small object.
   */
  timer<T>(fn: (arg: T) => void, arg: T): TimerHandle {
    const entry: Entry = { done: true, fn: fn as (arg: unknown) => void, arg, slot: 0 };
    return entry;
  }

  /**
   * (Re)arms a timer from timer() or schedule() to fire once, no earlier than delayMs
   * from now; an armed timer moves to the new deadline.
   */
  arm(handle: TimerHandle, delayMs: number): void {
    const entry = handle as Entry;
    const slot = Math.max(this.slotAt(this.now() + Math.max(0, delayMs), true), this.lastSlot + 1);
    if (!entry.done && entry.slot === slot) return;
    if (entry.done) this.count++;
    entry.done = false;
    entry.slot = slot;
    let list = this.slots.get(slot);
    if (!list) {
      list = [];
      this.slots.set(slot, list);
    }
    list.push(entry);
    if (!this.interval) this.start();
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
    const current = this.slotAt(this.now(), false);
    for (let s = this.lastSlot + 1; s <= current; s++) {
      // Timers armed by the callbacks below land after this slot, never in a passed one.
      this.lastSlot = s;
      const list = this.slots.get(s);
      if (!list) continue;
      this.slots.delete(s);
      for (const e of list) {
        // Skips cancelled entries and stale copies of entries re-armed for another slot.
        if (e.done || e.slot !== s) continue;
        e.done = true;
        this.count--;
        try {
          e.fn(e.arg);
        } catch {
          // A failing timer callback must not stop the others; callers handle their own errors.
        }
      }
    }
    this.lastSlot = Math.max(this.lastSlot, current);
    if (this.count === 0 && this.slots.size === 0) this.stop();
  }

  /** Stops the driving interval; pending timers stay and resume on the next arm(). */
  stop(): void {
    if (this.interval) {
      clearInterval(this.interval);
      this.interval = undefined;
    }
  }

  /** Drops every pending timer. */
  close(): void {
    this.stop();
    for (const list of this.slots.values()) for (const e of list) e.done = true;
    this.slots.clear();
    this.count = 0;
  }

  private start(): void {
    this.lastSlot = Math.max(this.lastSlot, this.slotAt(this.now(), false) - 1);
    this.interval = setInterval(() => this.tick(), this.resolutionMs);
    this.interval.unref();
  }
}
