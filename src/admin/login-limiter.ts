/**
 * Per-address limit on failed admin logins: after `maxFailures` wrong passwords within one
 * window an address is refused (429) until that window ends. IPv6 addresses count per /64,
 * since one host usually holds a whole /64. The table is bounded: past `maxAddresses` the
 * oldest windows are dropped first.
 */

export interface LoginLimiterOptions {
  /** Failures allowed per window; the next attempt is refused. */
  maxFailures?: number;
  windowMs?: number;
  /** Addresses tracked at once. */
  maxAddresses?: number;
  /** Time source, Unix ms. */
  now?: () => number;
}

interface Window {
  startMs: number;
  failures: number;
}

/** Failed-login accounting per client address; all methods are O(1) amortized. */
export class LoginLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly maxAddresses: number;
  private readonly now: () => number;

  constructor(opts: LoginLimiterOptions = {}) {
    this.maxFailures = Math.max(1, opts.maxFailures ?? 5);
    this.windowMs = Math.max(1, opts.windowMs ?? 60_000);
    this.maxAddresses = Math.max(1, opts.maxAddresses ?? 10_000);
    this.now = opts.now ?? Date.now;
  }

  /** Addresses currently tracked (bounded by maxAddresses). */
  get size(): number {
    return this.windows.size;
  }

  /** Seconds the address must wait before its next attempt, or 0 when it may try now. */
  retryAfterSeconds(address: string): number {
    const w = this.current(addressKey(address));
    if (w === undefined || w.failures < this.maxFailures) return 0;
    return Math.max(1, Math.ceil((w.startMs + this.windowMs - this.now()) / 1000));
  }

  /** Counts a wrong password; returns true when this failure used up the address's allowance. */
  failed(address: string): boolean {
    const key = addressKey(address);
    let w = this.current(key);
    if (w === undefined) {
      w = { startMs: this.now(), failures: 0 };
      this.insert(key, w);
    }
    w.failures++;
    return w.failures === this.maxFailures;
  }

  /** A correct password clears the address's failures. */
  succeeded(address: string): void {
    this.windows.delete(addressKey(address));
  }

  /** The address's window if it has not ended (an ended one is dropped). */
  private current(key: string): Window | undefined {
    const w = this.windows.get(key);
    if (w === undefined) return undefined;
    if (this.now() - w.startMs < this.windowMs) return w;
    this.windows.delete(key);
    return undefined;
  }

  /** Map order is window start order, so ended windows and then the oldest sit at the front. */
  private insert(key: string, w: Window): void {
    const now = this.now();
    for (const [k, old] of this.windows) {
      if (this.windows.size < this.maxAddresses && now - old.startMs < this.windowMs) break;
      this.windows.delete(k);
    }
    this.windows.set(key, w);
  }
}

/** The accounting key: IPv4 (also IPv4-mapped IPv6) as is, other IPv6 by its /64 prefix. */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return mapped[1] as string;
  if (!address.includes(':')) return address;
  const zoneless = address.split('%')[0] as string;
  const [head = '', tail = ''] = zoneless.split('::');
  const headParts = head === '' ? [] : head.split(':');
  const tailParts = tail === '' ? [] : tail.split(':');
  const groups = zoneless.includes('::')
    ? [...headParts, ...Array<string>(Math.max(0, 8 - headParts.length - tailParts.length)).fill('0'), ...tailParts]
    : headParts;
  return `${groups.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16)).join(':')}::/64`;
}
