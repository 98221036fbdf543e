import { randomInt } from 'node:crypto';
import type { BrokerPublication } from '../../core/index.js';

const EPOCH_LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** A fresh stream epoch: 8 crypto-random letters from [a-zA-Z], as the Go server makes them. */
export function newEpoch(): string {
  let epoch = '';
  for (let i = 0; i < 8; i++) epoch += EPOCH_LETTERS[randomInt(EPOCH_LETTERS.length)];
  return epoch;
}

// Compact the backing array only when the dropped prefix is both long and at least half of it,
// so trimming stays amortized O(1) without copying on every publish.
const COMPACT_MIN_HEAD = 64;

/**
 * One channel's history: retained publications with contiguous offsets ending at `top`, plus the
 * epoch, expiry times and the last accepted version. Retained entries are the offsets
 * `top - size + 1 .. top`, so any offset is found by arithmetic.
 */
export class MemoryStream<P extends BrokerPublication = BrokerPublication> {
  top = 0;
  /** Entries vanish at this time (Unix ms); top and epoch stay. Infinity when nothing is retained. */
  dataExpiresAt = Number.POSITIVE_INFINITY;
  /** The whole stream vanishes at this time (Unix ms). */
  metaExpiresAt: number;
  /** Last accepted version (0 = none yet) and its version epoch. */
  version = 0;
  versionEpoch = '';
  private items: (P | undefined)[] = [];
  private head = 0;

  constructor(
    readonly epoch: string,
    metaExpiresAt: number,
  ) {
    this.metaExpiresAt = metaExpiresAt;
  }

  /** Number of retained publications. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** Offset of the oldest retained publication (top + 1 when nothing is retained). */
  get oldest(): number {
    return this.top - this.size + 1;
  }

  /** The retained publication at `offset`, or undefined. */
  at(offset: number): P | undefined {
    const oldest = this.oldest;
    if (offset < oldest || offset > this.top) return undefined;
    return this.items[this.head + (offset - oldest)];
  }

  /** The newest retained publication, or undefined. */
  last(): P | undefined {
    return this.size > 0 ? this.items[this.items.length - 1] : undefined;
  }

  /** Appends a publication whose offset is `top + 1` and drops the oldest beyond `maxSize`. */
  append(pub: P, maxSize: number): void {
    this.top = pub.offset;
    this.items.push(pub);
    while (this.size > maxSize) {
      this.items[this.head] = undefined;
      this.head++;
    }
    if (this.head >= COMPACT_MIN_HEAD && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /** Drops every retained publication, keeping top, epoch and version. */
  clear(): void {
    this.items = [];
    this.head = 0;
    this.dataExpiresAt = Number.POSITIVE_INFINITY;
  }
}
