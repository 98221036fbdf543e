/**
 * Rate limit for log lines a client can trigger: one line per key and window, carrying the
 * count of the lines suppressed since the last one.
 */

/** At most one log line per key per window. */
export class LogLimiter {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly windowMs = 10_000,
    /** Keys remembered at most; past it the memory starts over (a burst of distinct keys logs again). */
    private readonly maxKeys = 1000,
  ) {}

  /**
   * Whether a line for `key` may be logged now: undefined when not (it is counted), else the
   * number of lines suppressed since the last one logged.
   */
  allow(key: string, now = Date.now()): number | undefined {
    const seen = this.last.get(key);
    if (seen !== undefined && now - seen.at < this.windowMs) {
      seen.suppressed++;
      return undefined;
    }
    if (this.last.size >= this.maxKeys) this.last.clear();
    this.last.set(key, { at: now, suppressed: 0 });
    return seen?.suppressed ?? 0;
  }
}
