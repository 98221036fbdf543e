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
  /** The slot the entry is armed for (meaningful while armed). */
  slot: number;
  /** Neighbours in the slot's circular list; undefined while not armed, so nothing refers to a cancelled entry. */
  prev: Entry | undefined;
  next: Entry | undefined;
}

function noop(): void {}

/** A slot's list head: a sentinel of a circular doubly-linked list, so unlinking is O(1). */
function sentinel(): Entry {
  const s: Entry = { done: true, fn: noop, arg: undefined, slot: -1, prev: undefined, next: undefined };
  s.prev = s;
  s.next = s;
  return s;
}

export class TimerWheel {
  /** Slot number -> the sentinel of its list; a slot is dropped as soon as its list is empty. */
  private readonly slots = new Map<number, Entry>();
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

  /** Number of armed timers (cancelled and fired ones are not counted, nor held). */
  get size(): number {
    return this.count;
  }

  /** The slot of a point in time. */
  private slotAt(timeMs: number, ceil: boolean): number {
    const t = timeMs / this.resolutionMs;
    return (ceil ? Math.ceil(t) : Math.floor(t)) - this.origin;
  }

  /** Runs fn once, no earlier than delayMs from now (within one resolution step). */
  schedule(delayMs: number, fn: () => void): TimerHandle {
    const entry: Entry = { done: true, fn, arg: undefined, slot: 0, prev: undefined, next: undefined };
    this.arm(entry, delayMs);
    return entry;
  }

  /**
   * A reusable timer running fn(arg), not armed yet (done). Arm it with arm(). Passing the
   * owner as `arg` to a shared function keeps a per-connection timer to one small object.
   */
  timer<T>(fn: (arg: T) => void, arg: T): TimerHandle {
    const entry: Entry = { done: true, fn: fn as (arg: unknown) => void, arg, slot: 0, prev: undefined, next: undefined };
    return entry;
  }

  /**
   * (Re)arms a timer from timer() or schedule() to fire once, no earlier than delayMs
   * from now; an armed timer moves to the new deadline.
   */
  arm(handle: TimerHandle, delayMs: number): void {
    const entry = handle as Entry;
    const slot = Math.max(this.slotAt(this.now() + Math.max(0, delayMs), true), this.lastSlot + 1);
    if (!entry.done) {
      if (entry.slot === slot) return;
      this.unlink(entry);
    } else {
      this.count++;
    }
    entry.done = false;
    entry.slot = slot;
    let head = this.slots.get(slot);
    if (!head) {
      head = sentinel();
      this.slots.set(slot, head);
    }
    // Appended before the sentinel: entries of one slot fire in the order they were armed.
    const last = head.prev!;
    entry.prev = last;
    entry.next = head;
    last.next = entry;
    head.prev = entry;
    if (!this.interval) this.start();
  }

  /**
   * Cancels a pending timer; safe to call twice or after it fired. The entry leaves its
   * slot at once, so the wheel keeps no reference to it (nor to its callback's argument).
   */
  cancel(handle: TimerHandle | undefined): void {
    if (handle && !handle.done) {
      handle.done = true;
      this.count--;
      this.unlink(handle as Entry);
    }
  }

  /** Takes an armed entry out of its slot's list, dropping the slot when it empties. */
  private unlink(e: Entry): void {
    const prev = e.prev!;
    const next = e.next!;
    prev.next = next;
    next.prev = prev;
    e.prev = undefined;
    e.next = undefined;
    if (prev === next && prev.slot === -1) {
      // Only the sentinel is left; it is the one registered for e's slot unless that slot is being fired.
      if (this.slots.get(e.slot) === prev) this.slots.delete(e.slot);
    }
  }

  /** Fires every due entry; exposed so tests with a fake clock can drive the wheel. */
  tick(): void {
    const current = this.slotAt(this.now(), false);
    for (let s = this.lastSlot + 1; s <= current; s++) {
      // Timers armed by the callbacks below land after this slot, never in a passed one.
      this.lastSlot = s;
      const head = this.slots.get(s);
      if (!head) continue;
      this.slots.delete(s);
      // Callbacks may cancel entries still in this list: they unlink themselves, so read head.next afresh.
      for (let e = head.next!; e !== head; e = head.next!) {
        this.unlink(e);
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
    if (this.count === 0) this.stop();
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
    for (const head of this.slots.values()) {
      for (let e = head.next!; e !== head; e = head.next!) {
        this.unlink(e);
        e.done = true;
      }
    }
    this.slots.clear();
    this.count = 0;
  }

  private start(): void {
    this.lastSlot = Math.max(this.lastSlot, this.slotAt(this.now(), false) - 1);
    this.interval = setInterval(() => this.tick(), this.resolutionMs);
    this.interval.unref();
  }
}
