/**
 * Fossil deltas: the patch format of Centrifugo's delta compression (`delta: "fossil"`), which the
 * official SDKs decode. `createDelta` encodes a target against a source; `applyDelta` decodes
 * strictly (bounded output, checksum verified). Pure and synchronous.
 *
 * Format: `<target length>\n`, then commands `<n>:<n bytes>` (insert) and `<n>@<offset>,` (copy
 * from the source), then `<checksum>;`. Integers are base 64, most significant digit first, with
 * the digits `0-9A-Z_a-z~`. The encoder indexes the source by 16-byte blocks under a rolling hash,
 * scans the target for windows whose hash names a source block, extends each candidate match
 * forward and backward, and emits the longest copy that pays for its own command bytes.
 */

/** Window and block size of the rolling hash. */
const BLOCK = 16;

/** The encoder examines at most this many source blocks per hash bucket and target position. */
const MAX_CANDIDATES = 249;

/** Default cap on the output size `applyDelta` accepts from a delta's header: 16 MiB. */
export const DEFAULT_MAX_DELTA_OUTPUT_BYTES = 16 * 1024 * 1024;

/** Largest integer the format carries (the SDK reads integers as unsigned 32-bit). */
const MAX_INT = 0xffffffff;

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~';

/** Digit value → ASCII code. */
const DIGIT_CHAR = new Uint8Array(64);
/** ASCII code → digit value, or -1 for a byte that is not a digit. */
const DIGIT_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++) {
  const c = ALPHABET.charCodeAt(i);
  DIGIT_CHAR[i] = c;
  DIGIT_VALUE[c] = i;
}

const NEWLINE = 0x0a;
const COLON = 0x3a;
const AT = 0x40;
const COMMA = 0x2c;
const SEMICOLON = 0x3b;

/** Why `applyDelta` refused a delta. Callers branch on `code`, never on the message. */
export type FossilDeltaErrorCode =
  | 'bad_integer' // a number is missing, or larger than 32 bits
  | 'bad_header' // the target length is not followed by a newline
  | 'too_large' // the declared target length exceeds the caller's cap
  | 'bad_operator' // a command is neither insert, copy nor end
  | 'bad_copy' // a copy reaches past the source or is not terminated by ','
  | 'bad_insert' // an insert reaches past the end of the delta
  | 'overflow' // the commands produce more bytes than the header declared
  | 'size_mismatch' // the commands produce fewer bytes than the header declared
  | 'bad_checksum' // the produced bytes do not match the checksum
  | 'unterminated' // the delta ends before its ';'
  | 'trailing_bytes'; // bytes follow the final ';'

/** A delta `applyDelta` cannot apply: malformed, hostile, over the cap, or for another source. */
export class FossilDeltaError extends Error {
  constructor(
    readonly code: FossilDeltaErrorCode,
    message: string,
  ) {
    super(`fossil delta: ${message}`);
    this.name = 'FossilDeltaError';
  }
}

/** Number of base-64 digits of `v` (at least one). */
function digitCount(v: number): number {
  if (v < 64) return 1;
  if (v < 4096) return 2;
  if (v < 262144) return 3;
  if (v < 16777216) return 4;
  if (v < 1073741824) return 5;
  return 6; // up to 2^36, beyond any 32-bit value
}

/** Writes `v` in base 64 at `pos`; returns the position after it. */
function putInt(out: Uint8Array, pos: number, v: number): number {
  const end = pos + digitCount(v);
  let p = end;
  do {
    out[--p] = DIGIT_CHAR[v & 63]!;
    v = Math.floor(v / 64);
  } while (v > 0);
  return end;
}

/** Copies `src[start, end)` into `out` at `pos`; returns the position after it. */
function putBytes(out: Uint8Array, pos: number, src: Uint8Array, start: number, end: number): number {
  const n = end - start;
  if (n < 32) {
    // A loop beats creating a subarray view for the short literals most JSON edits produce.
    for (let i = 0; i < n; i++) out[pos + i] = src[start + i]!;
  } else {
    out.set(src.subarray(start, end), pos);
  }
  return pos + n;
}

/** Writes an insert command `<n>:` plus `src[start, end)`. */
function putInsert(out: Uint8Array, pos: number, src: Uint8Array, start: number, end: number): number {
  pos = putInt(out, pos, end - start);
  out[pos++] = COLON;
  return putBytes(out, pos, src, start, end);
}

/**
 * The format's 32-bit checksum of `data`: the sum modulo 2^32 of its 4-byte big-endian words, the
 * last partial word padded with zero bytes on the right.
 */
export function fossilChecksum(data: Uint8Array): number {
  // One lane per byte position in a word; combined with shifts at the end. Lane sums may wrap
  // past 32 bits: only their low bits survive the shifts, so the result is still exact mod 2^32.
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const len = data.length;
  const whole = len - (len & 3);
  let i = 0;
  for (; i < whole; i += 4) {
    s0 = (s0 + data[i]!) | 0;
    s1 = (s1 + data[i + 1]!) | 0;
    s2 = (s2 + data[i + 2]!) | 0;
    s3 = (s3 + data[i + 3]!) | 0;
  }
  if (i < len) s0 = (s0 + data[i]!) | 0;
  if (i + 1 < len) s1 = (s1 + data[i + 1]!) | 0;
  if (i + 2 < len) s2 = (s2 + data[i + 2]!) | 0;
  return ((s0 << 24) + (s1 << 16) + (s2 << 8) + s3) >>> 0;
}

// Scratch buffers reused across createDelta calls: the encoder is synchronous and never
// re-entered, so one set per module instance (per thread) is safe. Buffers grown past the
// retain limits serve one call and are dropped, so a rare huge payload does not pin memory.
const RETAIN_HASH_ENTRIES = 1 << 16; // source blocks: 1 MiB of source
const RETAIN_OUT_BYTES = 1 << 20;
let landmarkScratch = new Int32Array(1024);
let collideScratch = new Int32Array(1024);
let outScratch = new Uint8Array(64 * 1024);

function outputBuffer(n: number): Uint8Array {
  if (n <= outScratch.length) return outScratch;
  const out = new Uint8Array(n);
  if (n <= RETAIN_OUT_BYTES) outScratch = out;
  return out;
}

/**
 * A fossil delta that turns `source` into `target`. Deterministic: the same inputs give the same
 * bytes as Centrifugo's encoder. The delta is at most `target.length` plus a few dozen bytes;
 * callers compare its length with the target's to choose between delta and full payload. The
 * returned array is freshly allocated (never shares the encoder's scratch memory).
 */
export function createDelta(source: Uint8Array, target: Uint8Array): Uint8Array {
  const lenSrc = source.length;
  const lenOut = target.length;
  if (lenOut > MAX_INT || lenSrc > MAX_INT) throw new RangeError('fossil delta: input larger than 4 GiB');
  // Every copy costs no more bytes than the target bytes it replaces (plus the literal before
  // it), so the delta never exceeds the target plus its header, one insert header and the end.
  const out = outputBuffer(lenOut + 2 * digitCount(lenOut) + 12);
  let pos = putInt(out, 0, lenOut);
  out[pos++] = NEWLINE;

  if (lenSrc <= BLOCK) {
    pos = putInsert(out, pos, target, 0, lenOut);
    return finish(out, pos, target);
  }

  // Index the source: each whole block (but not one ending exactly at the source's end) goes
  // to the front of its bucket's chain.
  const nHash = Math.floor(lenSrc / BLOCK);
  // landmark: bucket → most recent block in it; collide: block → previous block of its bucket.
  let landmark = landmarkScratch;
  let collide = collideScratch;
  if (nHash > landmark.length) {
    landmark = new Int32Array(nHash);
    collide = new Int32Array(nHash);
    if (nHash <= RETAIN_HASH_ENTRIES) {
      landmarkScratch = landmark;
      collideScratch = collide;
    }
  }
  // The bucket is (a + b·2^16) mod nHash. Up to 2^15 buckets (512 KB of source) it is computed
  // as (b mod nHash)·(2^16 mod nHash) + a, reduced once: every step stays a small integer, which
  // keeps the hot loop off floating-point modulo.
  const smallTable = nHash <= 32768;
  const mult = 65536 % nHash;
  landmark.fill(-1, 0, nHash);
  for (let s = 0; s < lenSrc - BLOCK; s += BLOCK) {
    let a = 0;
    let b = 0;
    for (let k = 0; k < BLOCK; k++) {
      const c = source[s + k]!;
      a += c;
      b += (BLOCK - k) * c;
    }
    a &= 0xffff;
    b &= 0xffff;
    const bucket = smallTable ? ((b % nHash) * mult + a) % nHash : (a + b * 65536) % nHash;
    const block = s / BLOCK;
    collide[block] = landmark[bucket]!;
    landmark[bucket] = block;
  }

  let base = 0;
  while (base + BLOCK < lenOut) {
    // Rolling hash of target[base + i, base + i + BLOCK).
    let a = 0;
    let b = 0;
    for (let k = 0; k < BLOCK; k++) {
      const c = target[base + k]!;
      a += c;
      b += (BLOCK - k) * c;
    }
    a &= 0xffff;
    b &= 0xffff;
    let i = 0;
    let bestCnt = 0;
    let bestOfst = 0;
    let bestLitsz = 0;
    for (;;) {
      let block = landmark[smallTable ? ((b % nHash) * mult + a) % nHash : (a + b * 65536) % nHash]!;
      let budget = MAX_CANDIDATES;
      const at = base + i;
      while (block >= 0 && budget-- > 0) {
        const iSrc = block * BLOCK;
        // Extend the match forward from the block start, then backward over the literal.
        let fwd = 0;
        const fwdMax = Math.min(lenSrc - iSrc, lenOut - at);
        while (fwd < fwdMax && source[iSrc + fwd] === target[at + fwd]) fwd++;
        let back = 0;
        while (back + 1 < iSrc && back + 1 <= i && source[iSrc - back - 1] === target[at - back - 1]) back++;
        const cnt = fwd + back;
        // A copy costs at least 4 bytes; most candidates (hash collisions) fail here cheaply.
        if (cnt > bestCnt && cnt >= 4) {
          const ofst = iSrc - back;
          const litsz = i - back;
          if (cnt >= digitCount(litsz) + digitCount(cnt) + digitCount(ofst) + 3) {
            bestCnt = cnt;
            bestOfst = ofst;
            bestLitsz = litsz;
          }
        }
        block = collide[block]!;
      }

      if (bestCnt > 0) {
        if (bestLitsz > 0) pos = putInsert(out, pos, target, base, base + bestLitsz);
        pos = putInt(out, pos, bestCnt);
        out[pos++] = AT;
        pos = putInt(out, pos, bestOfst);
        out[pos++] = COMMA;
        base += bestLitsz + bestCnt;
        break;
      }
      if (at + BLOCK >= lenOut) {
        // No match before the end: the rest is literal.
        pos = putInsert(out, pos, target, base, lenOut);
        base = lenOut;
        break;
      }
      const drop = target[at]!;
      a = (a - drop + target[at + BLOCK]!) & 0xffff;
      b = (b - BLOCK * drop + a) & 0xffff;
      i++;
    }
  }
  if (base < lenOut) pos = putInsert(out, pos, target, base, lenOut);
  return finish(out, pos, target);
}

function finish(out: Uint8Array, pos: number, target: Uint8Array): Uint8Array {
  pos = putInt(out, pos, fossilChecksum(target));
  out[pos++] = SEMICOLON;
  return out.slice(0, pos);
}

/** Reads delta integers one at a time, strictly: at least one digit, at most 32 bits. */
class Reader {
  pos = 0;

  constructor(readonly bytes: Uint8Array) {}

  int(): number {
    const d = this.bytes;
    let p = this.pos;
    let v = 0;
    const start = p;
    for (; p < d.length; p++) {
      const digit = DIGIT_VALUE[d[p]!]!;
      if (digit < 0) break;
      v = v * 64 + digit;
      if (v > MAX_INT) throw new FossilDeltaError('bad_integer', `integer at byte ${start} exceeds 32 bits`);
    }
    if (p === start) throw new FossilDeltaError('bad_integer', `expected an integer at byte ${start}`);
    this.pos = p;
    return v;
  }

  /** The next byte, or -1 at the end. */
  byte(): number {
    return this.pos < this.bytes.length ? this.bytes[this.pos++]! : -1;
  }
}

/**
 * Applies a fossil delta to `source` and returns the target. Throws a `FossilDeltaError` for any
 * malformed delta, a checksum mismatch, or a declared target length above `maxOutputBytes`
 * (checked before allocating). Work is linear in the delta and output sizes: every command
 * consumes delta bytes, and the output buffer is allocated once at the declared size.
 */
export function applyDelta(
  source: Uint8Array,
  delta: Uint8Array,
  maxOutputBytes: number = DEFAULT_MAX_DELTA_OUTPUT_BYTES,
): Uint8Array {
  if (!Number.isSafeInteger(maxOutputBytes) || maxOutputBytes < 0) {
    throw new RangeError(`fossil delta: maxOutputBytes must be a non-negative integer, got ${maxOutputBytes}`);
  }
  const r = new Reader(delta);
  const size = r.int();
  if (r.byte() !== NEWLINE) throw new FossilDeltaError('bad_header', 'target length not followed by a newline');
  if (size > maxOutputBytes) {
    throw new FossilDeltaError('too_large', `declared target length ${size} exceeds the cap of ${maxOutputBytes}`);
  }
  const out = new Uint8Array(size);
  let total = 0;
  while (r.pos < delta.length) {
    const opAt = r.pos;
    const n = r.int();
    const op = r.byte();
    if (op === AT) {
      const ofst = r.int();
      if (r.byte() !== COMMA) throw new FossilDeltaError('bad_copy', `copy at byte ${opAt} not terminated by ','`);
      if (ofst + n > source.length) {
        throw new FossilDeltaError('bad_copy', `copy at byte ${opAt} reaches past the source (${ofst}+${n} > ${source.length})`);
      }
      if (total + n > size) throw new FossilDeltaError('overflow', `copy at byte ${opAt} exceeds the declared length ${size}`);
      out.set(source.subarray(ofst, ofst + n), total);
      total += n;
    } else if (op === COLON) {
      if (n > delta.length - r.pos) {
        throw new FossilDeltaError('bad_insert', `insert at byte ${opAt} reaches past the end of the delta`);
      }
      if (total + n > size) throw new FossilDeltaError('overflow', `insert at byte ${opAt} exceeds the declared length ${size}`);
      out.set(delta.subarray(r.pos, r.pos + n), total);
      r.pos += n;
      total += n;
    } else if (op === SEMICOLON) {
      if (r.pos !== delta.length) throw new FossilDeltaError('trailing_bytes', `bytes after the end at byte ${opAt}`);
      if (total !== size) throw new FossilDeltaError('size_mismatch', `produced ${total} bytes, declared ${size}`);
      if (fossilChecksum(out) !== n) throw new FossilDeltaError('bad_checksum', 'checksum does not match the output');
      return out;
    } else {
      throw new FossilDeltaError(op < 0 ? 'unterminated' : 'bad_operator', op < 0 ? 'delta ends inside a command' : `unknown operator at byte ${r.pos - 1}`);
    }
  }
  throw new FossilDeltaError('unterminated', 'delta ends without its final checksum');
}
