/**
 * A JSON reader for proxy responses that keeps chosen values as their exact bytes. Backends
 * return `info`, `data` and `meta` as embedded JSON which Gyre hands on untouched (big
 * integers, key order and number spelling included), so those values are cut out of the body
 * instead of being parsed and re-serialised.
 */
import { JSON_INVALID, scanJson } from '../protocol/json-scan.js';

/** A JSON value kept as the bytes the backend sent. */
export class RawJson {
  constructor(readonly bytes: Uint8Array) {}
}

/** Marks a value nested deeper than the reader builds; no proxy field lives that deep. */
export const TOO_DEEP: unique symbol = Symbol('too deep');

/**
 * Decides whether the value under `key`, inside the object found at `path` (keys from the
 * root; [] for the root object), is kept raw.
 */
export type RawPredicate = (path: readonly string[], key: string) => boolean;

/** Objects deeper than this are skipped (validated, not built): bounds stack use. */
const MAX_DEPTH = 16;

/**
 * Parses one JSON text. Objects come back with a null prototype (keys such as `__proto__`
 * stay plain data); values chosen by `isRaw` come back as RawJson copies of their bytes.
 * Returns undefined when `b` is not valid JSON.
 */
export function parseJsonKeepingRaw(b: Uint8Array, isRaw: RawPredicate): unknown {
  if (scanJson(b) === JSON_INVALID) return undefined;
  return new Reader(Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength), isRaw).value(0);
}

// The reader below runs only on text scanJson accepted, so it never meets malformed input.
class Reader {
  private i = 0;
  private readonly path: string[] = [];

  constructor(
    private readonly b: Buffer,
    private readonly isRaw: RawPredicate,
  ) {}

  value(depth: number): unknown {
    this.space();
    const c = this.b[this.i];
    if (c === 0x7b || c === 0x5b) {
      if (depth >= MAX_DEPTH) {
        this.skip();
        return TOO_DEEP;
      }
      return c === 0x7b ? this.object(depth + 1) : this.array(depth + 1);
    }
    if (c === 0x22) return this.string();
    if (c === 0x74) {
      this.i += 4;
      return true;
    }
    if (c === 0x66) {
      this.i += 5;
      return false;
    }
    if (c === 0x6e) {
      this.i += 4;
      return null;
    }
    const start = this.i;
    this.skipScalar();
    return Number(this.b.toString('latin1', start, this.i));
  }

  private object(depth: number): Record<string, unknown> {
    const out = Object.create(null) as Record<string, unknown>;
    this.i++;
    this.space();
    if (this.b[this.i] === 0x7d) {
      this.i++;
      return out;
    }
    for (;;) {
      this.space();
      const key = this.string();
      this.space();
      this.i++; // ':'
      if (this.isRaw(this.path, key)) {
        this.space();
        const start = this.i;
        this.skip();
        out[key] = new RawJson(Uint8Array.prototype.slice.call(this.b, start, this.i));
      } else {
        this.path.push(key);
        out[key] = this.value(depth);
        this.path.pop();
      }
      this.space();
      if (this.b[this.i++] !== 0x2c) return out; // ',' continues, '}' ends
    }
  }

  private array(depth: number): unknown[] {
    const out: unknown[] = [];
    this.i++;
    this.space();
    if (this.b[this.i] === 0x5d) {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth));
      this.space();
      if (this.b[this.i++] !== 0x2c) return out;
    }
  }

  private string(): string {
    const start = this.i;
    this.i = this.stringEnd(start);
    return JSON.parse(this.b.toString('utf8', start, this.i)) as string;
  }

  /** Index after the string opening at `i`. */
  private stringEnd(i: number): number {
    const b = this.b;
    i++;
    for (;;) {
      const c = b[i];
      if (c === 0x22) return i + 1;
      i += c === 0x5c ? 2 : 1;
    }
  }

  /** Moves past one value of any kind without building it (iterative: any depth). */
  private skip(): void {
    const b = this.b;
    const c = b[this.i];
    if (c === 0x22) {
      this.i = this.stringEnd(this.i);
      return;
    }
    if (c !== 0x7b && c !== 0x5b) {
      this.skipScalar();
      return;
    }
    let depth = 0;
    let i = this.i;
    for (;;) {
      const d = b[i];
      if (d === 0x22) {
        i = this.stringEnd(i);
        continue;
      }
      if (d === 0x7b || d === 0x5b) depth++;
      else if (d === 0x7d || d === 0x5d) {
        depth--;
        if (depth === 0) {
          this.i = i + 1;
          return;
        }
      }
      i++;
    }
  }

  private skipScalar(): void {
    const b = this.b;
    let i = this.i;
    for (;;) {
      const c = b[i];
      if (c === undefined || c === 0x2c || c === 0x7d || c === 0x5d || c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) break;
      i++;
    }
    this.i = i;
  }

  private space(): void {
    const b = this.b;
    let c = b[this.i];
    while (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) c = b[++this.i];
  }
}
