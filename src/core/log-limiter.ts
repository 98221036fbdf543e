/**
 * Rate limit for log lines a client can cause (malformed frames, bad tokens, protocol
 * violations, aborted API requests): per key, the first line of each window is logged at
 * the asked level with the count of lines held back since the previous one; the rest go
 * to debug only. Keys are bounded: past maxKeys the limiter forgets them all and starts over.
 */
import type { Logger } from './ports.js';

export type LimitedLevel = 'debug' | 'info' | 'warn' | 'error';

interface Window {
  /** End of the current window (ms, the limiter's clock). */
  until: number;
  /** Lines held back in the current window. */
  suppressed: number;
}

export interface LogLimiterOptions {
  /** One line per key per this many ms; default 10 s. */
  intervalMs?: number;
  /** Keys remembered at most; default 1000. */
  maxKeys?: number;
  now?: () => number;
}

export class LogLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly intervalMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(
    /** Where log() writes; allow() alone needs none. */
    private readonly logger?: Logger,
    opts: LogLimiterOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 10_000;
    this.maxKeys = opts.maxKeys ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Whether a line for `key` may be logged now: undefined when not (it is counted as held
   * back), else the number of lines held back since the last one allowed.
   */
  allow(key: string): number | undefined {
    const now = this.now();
    const w = this.windows.get(key);
    if (w !== undefined && now < w.until) {
      w.suppressed++;
      return undefined;
    }
    const suppressed = w?.suppressed ?? 0;
    if (w === undefined) {
      if (this.windows.size >= this.maxKeys) this.windows.clear();
      this.windows.set(key, { until: now + this.intervalMs, suppressed: 0 });
    } else {
      w.until = now + this.intervalMs;
      w.suppressed = 0;
    }
    return suppressed;
  }

  /**
   * Logs `msg` at `level`, or at debug when a line with the same key (by default the
   * message) was logged within the window.
   */
  log(level: LimitedLevel, obj: object, msg: string, key = msg): void {
    const logger = this.logger;
    if (logger === undefined) return;
    if (level === 'debug') {
      logger.debug(obj, msg);
      return;
    }
    const held = this.allow(key);
    if (held === undefined) logger.debug(obj, msg);
    else logger[level](held > 0 ? { ...obj, suppressed: held } : obj, msg);
  }
}
