/**
 * A counting semaphore with a FIFO wait list: the node-wide cap on concurrent shared-poll
 * backend calls. Waiters are bounded by their callers (at most one timer cycle and one
 * immediate poll per channel state wait at a time).
 */
export class Semaphore {
  private active = 0;
  private readonly waiters: Array<(granted: boolean) => void> = [];
  private closed = false;

  /** `limit` below 1 is raised to 1. */
  constructor(private readonly limit: number) {
    this.limit = Math.max(1, Math.floor(limit));
  }

  /** Calls holding a permit now. */
  get inUse(): number {
    return this.active;
  }

  /** Calls waiting for a permit. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Resolves true with a permit (release it once), or false when the semaphore was closed. */
  acquire(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.active < this.limit) {
      this.active++;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => this.waiters.push(resolve));
  }

  /** Returns a permit: the longest waiter gets it, else it is freed. */
  release(): void {
    const next = this.waiters.shift();
    if (next !== undefined) next(true);
    else if (this.active > 0) this.active--;
  }

  /** Refuses every waiter and later acquire(); permits held may still be released. */
  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w(false);
  }
}
