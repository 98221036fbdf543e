/**
 * One map channel held in memory: its entries in ascending byte-wise key order, a min-heap of key
 * expiry times, its change stream and its remembered idempotent results. Pure data structure: the
 * broker decides when things expire and what is delivered.
 */
import type { MapChannelOptions, MapPublication, StreamPosition } from '../../core/index.js';
import { MemoryStream } from './memory-stream.js';

/** A state entry: the key's latest publication, its expiry and its last accepted version. */
export interface MapEntry {
  pub: MapPublication;
  /** Unix ms; Infinity when the key never expires. */
  expiresAt: number;
  version: number;
  versionEpoch: string;
}

interface Due {
  at: number;
  key: string;
}

interface IdempotentResult {
  position: StreamPosition;
  expiresAt: number;
}

/**
 * Orders keys as Go compares strings: by UTF-8 bytes, which is code point order. UTF-16 code units
 * agree with it except that surrogates (U+D800..DFFF) must sort after U+E000..FFFF.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return fixup(x) - fixup(y);
  }
  return a.length - b.length;
}

function fixup(c: number): number {
  if (c >= 0xe000) return c - 0x800;
  if (c >= 0xd800) return c + 0x2000;
  return c;
}

// Rebuild the heap from live entries once stale items (refreshed or removed keys) dominate it.
const HEAP_SLACK = 64;

export class MemoryMapChannel {
  readonly stream: MemoryStream<MapPublication>;
  readonly entries = new Map<string, MapEntry>();
  /** The options of the last call that touched the channel; key expiry uses them. */
  opts: MapChannelOptions;
  private readonly keys: string[] = [];
  private heap: Due[] = [];
  private readonly idempotent = new Map<string, IdempotentResult>();
  private idempotentNextExpiry = Number.POSITIVE_INFINITY;

  constructor(epoch: string, opts: MapChannelOptions) {
    this.stream = new MemoryStream<MapPublication>(epoch, Number.POSITIVE_INFINITY);
    this.opts = opts;
  }

  get epoch(): string {
    return this.stream.epoch;
  }

  /** The stream top and epoch. */
  position(): StreamPosition {
    return { offset: this.stream.top, epoch: this.stream.epoch };
  }

  /** Stores an entry; a new key is inserted into the sorted key list, a TTL is put on the heap. */
  set(key: string, entry: MapEntry): void {
    if (!this.entries.has(key)) this.keys.splice(this.lowerBound(key), 0, key);
    this.entries.set(key, entry);
    if (entry.expiresAt !== Number.POSITIVE_INFINITY) this.pushDue(entry.expiresAt, key);
  }

  /** Moves a present key's expiry (its heap item is re-added; the old one turns stale). */
  refresh(key: string, expiresAt: number): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.expiresAt = expiresAt;
    this.pushDue(expiresAt, key);
  }

  /** Deletes a key; returns its entry, or undefined when absent. */
  delete(key: string): MapEntry | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    const i = this.lowerBound(key);
    if (this.keys[i] === key) this.keys.splice(i, 1);
    return entry;
  }

  /** Keys strictly after `cursor` ('' = from the first), at most `limit` (< 0 = all), plus whether more follow. */
  page(cursor: string, limit: number): { keys: string[]; more: boolean } {
    const start = cursor === '' ? 0 : this.upperBound(cursor);
    const end = limit < 0 ? this.keys.length : Math.min(this.keys.length, start + limit);
    return { keys: this.keys.slice(start, end), more: end < this.keys.length };
  }

  /** Pops the next key whose expiry is ≤ now and still current, or undefined. */
  popDue(now: number): string | undefined {
    for (;;) {
      const top = this.heap[0];
      if (!top || top.at > now) return undefined;
      this.popHeap();
      const entry = this.entries.get(top.key);
      if (entry && entry.expiresAt === top.at) return top.key;
    }
  }

  /** Items on the expiry heap, stale ones included (diagnostics and tests). */
  get pendingExpiries(): number {
    return this.heap.length;
  }

  /** True when some key carries a TTL (the sweep must look at this channel). */
  hasDue(): boolean {
    return this.heap.length > 0;
  }

  /** The remembered result of an idempotency key, if still valid. */
  idempotentResult(key: string, now: number): StreamPosition | undefined {
    const r = this.idempotent.get(key);
    return r && r.expiresAt > now ? { ...r.position } : undefined;
  }

  remember(key: string, position: StreamPosition, expiresAt: number): void {
    this.idempotent.set(key, { position: { ...position }, expiresAt });
    if (expiresAt < this.idempotentNextExpiry) this.idempotentNextExpiry = expiresAt;
  }

  /** Forgets expired idempotent results; cheap when none is due. */
  sweepIdempotent(now: number): void {
    if (now < this.idempotentNextExpiry) return;
    let next = Number.POSITIVE_INFINITY;
    for (const [k, r] of this.idempotent) {
      if (r.expiresAt <= now) this.idempotent.delete(k);
      else if (r.expiresAt < next) next = r.expiresAt;
    }
    this.idempotentNextExpiry = next;
  }

  private lowerBound(key: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.keys[mid]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private upperBound(key: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.keys[mid]!, key) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private pushDue(at: number, key: string): void {
    if (this.heap.length > 2 * this.entries.size + HEAP_SLACK) this.rebuildHeap();
    const h = this.heap;
    h.push({ at, key });
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.at <= h[i]!.at) break;
      [h[parent], h[i]] = [h[i]!, h[parent]!];
      i = parent;
    }
  }

  private popHeap(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l]!.at < h[m]!.at) m = l;
      if (r < h.length && h[r]!.at < h[m]!.at) m = r;
      if (m === i) return;
      [h[m], h[i]] = [h[i]!, h[m]!];
      i = m;
    }
  }

  private rebuildHeap(): void {
    const live: Due[] = [];
    for (const [key, e] of this.entries) if (e.expiresAt !== Number.POSITIVE_INFINITY) live.push({ at: e.expiresAt, key });
    live.sort((a, b) => a.at - b.at);
    this.heap = live;
  }
}
