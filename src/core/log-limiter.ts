/**
 * Rate limit for log lines a client can cause (malformed frames, bad tokens, protocol
 * violations): per message, the first line of each window is logged at the asked level
 * with the count of lines held back since the previous one; the rest go to debug only.
 * Keys are the messages themselves, fixed strings in Gyre's code, so the map stays small.
 */
import type { Logger } from './ports.js';

export type LimitedLevel = 'debug' | 'info' | 'warn' | 'error';

interface Window {
  /** End of the current window (ms, the limiter's clock). */
  until: number;
  /** Lines held back in the current window. */
  suppressed: number;
}

export class LogLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly logger: Logger,
    /** One line per message per this many ms at the asked level; 0 logs every line. */
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Logs `msg` at `level`, or at debug when a line with the same key (by default the
   * message) was logged within the window. A key must come from a small fixed set.
   */
  log(level: LimitedLevel, obj: object, msg: string, key = msg): void {
    if (level === 'debug') {
      this.logger.debug(obj, msg);
      return;
    }
    const now = this.now();
    const w = this.windows.get(key);
    if (w !== undefined && now < w.until) {
      w.suppressed++;
      this.logger.debug(obj, msg);
      return;
    }
    const suppressed = w?.suppressed ?? 0;
    if (w === undefined) this.windows.set(key, { until: now + this.intervalMs, suppressed: 0 });
    else {
      w.until = now + this.intervalMs;
      w.suppressed = 0;
    }
    this.logger[level](suppressed > 0 ? { ...obj, suppressed } : obj, msg);
  }
}
