/**
 * Test-only helpers for the fuzz, oracle and differential tests: a seeded PRNG (so every failure
 * replays from its seed), byte-level mutations of valid frames, including hostile length prefixes,
 * and JSON texts for the bytes fields of generated messages.
 */

/** A small seeded PRNG (mulberry32). Same seed, same sequence, on every machine. */
export class Rng {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [lo, hi], both ends included. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/** Varint encodings of lengths that claim far more bytes than any frame holds. */
export const HOSTILE_VARINTS: readonly Buffer[] = [
  Buffer.from([0xff, 0xff, 0xff, 0xff, 0x07]), // 2^31 - 1
  Buffer.from([0x80, 0x80, 0x80, 0x80, 0x08]), // 2^31
  Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), // 2^32 - 1
  Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // ten bytes, 2^64 - 1
  Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // eleven bytes
  Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80]), // unterminated
];

/**
 * One random mutation of `input`: bit flip, byte overwrite, insertion, deletion, truncation,
 * duplication of a slice, or a splice of `extras` (hostile varints, alphabet fragments).
 */
export function mutate(rng: Rng, input: Uint8Array, extras: readonly Uint8Array[] = HOSTILE_VARINTS): Buffer {
  const buf = Buffer.from(input);
  const at = rng.int(buf.length + 1);
  switch (rng.int(8)) {
    case 0: {
      if (buf.length === 0) return rng.bytes(1);
      const i = Math.min(at, buf.length - 1);
      buf[i] = (buf[i] as number) ^ (1 << rng.int(8));
      return buf;
    }
    case 1: {
      if (buf.length === 0) return rng.bytes(1);
      buf[Math.min(at, buf.length - 1)] = rng.pick([0x00, 0x7f, 0x80, 0xff, rng.int(256)]);
      return buf;
    }
    case 2:
      return Buffer.concat([buf.subarray(0, at), rng.bytes(1 + rng.int(4)), buf.subarray(at)]);
    case 3:
      return Buffer.concat([buf.subarray(0, at), buf.subarray(at + 1 + rng.int(4))]);
    case 4:
      return buf.subarray(0, at);
    case 5: {
      const end = at + rng.int(buf.length - at + 1);
      return Buffer.concat([buf.subarray(0, end), buf.subarray(at, end), buf.subarray(end)]);
    }
    case 6: {
      const extra = rng.pick(extras);
      return Buffer.concat([buf.subarray(0, at), extra, buf.subarray(at)]);
    }
    default: {
      // Overwrite in place with an extra, keeping the rest aligned.
      const extra = rng.pick(extras);
      return Buffer.concat([buf.subarray(0, at), extra, buf.subarray(at + extra.length)]);
    }
  }
}

/** Applies 1..maxRounds mutations in a row. */
export function mutateMany(rng: Rng, input: Uint8Array, maxRounds: number, extras?: readonly Uint8Array[]): Buffer {
  let out: Buffer = Buffer.from(input);
  const rounds = 1 + rng.int(maxRounds);
  for (let i = 0; i < rounds; i++) out = mutate(rng, out, extras);
  return out;
}

/**
 * A copy of a generated message in which every non-empty bytes field holds one of the JSON
 * texts in `payloads`, as JSON connections need; empty bytes fields stay empty.
 */
export function jsonPayloads(rng: Rng, v: unknown, payloads: readonly string[]): unknown {
  if (v instanceof Uint8Array) return v.length === 0 ? v : Buffer.from(rng.pick(payloads));
  if (Array.isArray(v)) return v.map((x) => jsonPayloads(rng, x, payloads));
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) out[k] = jsonPayloads(rng, (v as Record<string, unknown>)[k], payloads);
  return out;
}
