/**
 * Protobuf wire helpers over protobufjs' minimal Writer/Reader: field writers that omit zero
 * values, length-delimited sub-messages that are always written when present (even empty),
 * standard map entries, 64-bit varints as JS numbers, and bounds-checked sub-message reading.
 */
import protobuf from 'protobufjs/minimal.js';
import { CodecError } from './codec-error.js';
import { setEntry } from './set-entry.js';

/** protobufjs' minimal writer: ops are queued, `finish()` allocates once. */
export type Writer = protobuf.Writer;
/** protobufjs' minimal reader over one buffer; `pos`/`len` are public and used for bounds. */
export type Reader = protobuf.Reader;

/** A new writer; in Node its `finish()` returns a Buffer. */
export const newWriter = (): Writer => protobuf.Writer.create();
/** A reader over `bytes` (not copied); its `buf` is always a Buffer. */
export const newReader = (bytes: Uint8Array): Reader =>
  protobuf.Reader.create(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));

const VARINT = 0;
const LEN = 2;

/** Writes a string field unless empty. */
export function wString(w: Writer, field: number, v: string | undefined): void {
  if (v) w.uint32((field << 3) | LEN).string(v);
}
/** Writes a bytes field unless empty. */
export function wBytes(w: Writer, field: number, v: Uint8Array | undefined): void {
  if (v !== undefined && v.length > 0) w.uint32((field << 3) | LEN).bytes(v);
}
/** Writes a bool field when true. */
export function wBool(w: Writer, field: number, v: boolean | undefined): void {
  if (v) w.uint32((field << 3) | VARINT).bool(true);
}
/** Writes a uint32 field unless zero. */
export function wU32(w: Writer, field: number, v: number | undefined): void {
  if (v) w.uint32((field << 3) | VARINT).uint32(v);
}
/** Writes an int32 field unless zero (negative values take ten bytes, as in proto3). */
export function wI32(w: Writer, field: number, v: number | undefined): void {
  if (v) w.uint32((field << 3) | VARINT).int32(v);
}
/** Writes a uint64 field unless zero. */
export function wU64(w: Writer, field: number, v: number | undefined): void {
  if (v) w.uint32((field << 3) | VARINT).uint64(v);
}
/** Writes an int64 field unless zero. */
export function wI64(w: Writer, field: number, v: number | undefined): void {
  if (v) w.uint32((field << 3) | VARINT).int64(v);
}
/** Writes a sint64 (zigzag) field unless zero. */
export function wS64(w: Writer, field: number, v: number | undefined): void {
  if (v) w.uint32((field << 3) | VARINT).sint64(v);
}

/** Writes a sub-message when present, as a zero-length field if it has no fields. */
export function wMsg<T>(w: Writer, field: number, v: T | undefined, enc: (w: Writer, v: T) => void): void {
  if (v === undefined) return;
  w.uint32((field << 3) | LEN).fork();
  enc(w, v);
  w.ldelim();
}

/** Writes each element of a repeated message field. */
export function wMsgList<T>(w: Writer, field: number, list: readonly T[] | undefined, enc: (w: Writer, v: T) => void): void {
  if (list === undefined) return;
  for (const v of list) wMsg(w, field, v, enc);
}

/** Writes each element of a repeated string field (empty strings included: they are elements). */
export function wStringList(w: Writer, field: number, list: readonly string[] | undefined): void {
  if (list === undefined) return;
  for (const v of list) w.uint32((field << 3) | LEN).string(v);
}

/** Writes a map<string,string>: one entry message per key, key (1) and value (2) always written. */
export function wStringMap(w: Writer, field: number, m: Record<string, string> | undefined): void {
  if (m === undefined) return;
  for (const k in m) {
    w.uint32((field << 3) | LEN).fork();
    w.uint32(10).string(k).uint32(18).string(m[k] ?? '');
    w.ldelim();
  }
}

/** Writes a map<string,Message>: one entry per key, key (1) and value (2) always written. */
export function wMessageMap<T>(w: Writer, field: number, m: Record<string, T> | undefined, enc: (w: Writer, v: T) => void): void {
  if (m === undefined) return;
  for (const k in m) {
    const v = m[k];
    if (v === undefined) continue;
    w.uint32((field << 3) | LEN).fork();
    w.uint32(10).string(k);
    wMsg(w, 2, v, enc);
    w.ldelim();
  }
}

function truncated(): never {
  throw new CodecError('bad_request', 'truncated protobuf message');
}

let lo = 0;
let hi = 0;

/** Reads a varint of up to ten bytes into the module-level lo/hi pair. */
function readVarint64(r: Reader): void {
  const buf = r.buf;
  let pos = r.pos;
  lo = 0;
  hi = 0;
  for (let i = 0; i < 10; i++) {
    if (pos >= r.len) truncated();
    const b = buf[pos++] as number;
    if (i < 4) lo |= (b & 0x7f) << (7 * i);
    else if (i === 4) {
      lo |= (b & 0x0f) << 28;
      hi |= (b & 0x7f) >> 4;
    } else hi |= (b & 0x7f) << (7 * i - 32);
    if (b < 0x80) {
      r.pos = pos;
      return;
    }
  }
  throw new CodecError('bad_request', 'varint longer than ten bytes');
}

const TWO_32 = 4294967296;

function signedFromBits(l: number, h: number): number {
  if (h & 0x80000000) return -((~h >>> 0) * TWO_32 + (~l >>> 0) + 1);
  return (h >>> 0) * TWO_32 + (l >>> 0);
}

/** Reads a uint64 as a number (exact up to 2^53). */
export function readU64(r: Reader): number {
  readVarint64(r);
  return (hi >>> 0) * TWO_32 + (lo >>> 0);
}
/** Reads an int64 (two's complement) as a number. */
export function readI64(r: Reader): number {
  readVarint64(r);
  return signedFromBits(lo, hi);
}
/** Reads a sint64 (zigzag) as a number. */
export function readS64(r: Reader): number {
  readVarint64(r);
  const l = (lo >>> 1) | (hi << 31);
  const h = hi >>> 1;
  return lo & 1 ? signedFromBits(~l, ~h) : signedFromBits(l, h);
}

/** Reads a string field; unlike protobufjs' own, a length past the buffer is an error, not a short read. */
export function readString(r: Reader): string {
  const len = r.uint32();
  const start = r.pos;
  const end = start + len;
  if (end > r.len) truncated();
  r.pos = end;
  return (r.buf as Buffer).toString('utf8', start, end);
}

/** Reads a bytes field into its own Buffer, so decoded messages never pin the frame. */
export function readBytes(r: Reader): Buffer {
  const len = r.uint32();
  const start = r.pos;
  const end = start + len;
  if (end > r.len) truncated();
  r.pos = end;
  return Buffer.from(r.buf.subarray(start, end));
}

/** Skips a field of an unknown number, or of a known number with an unexpected wire type. */
export function skipField(r: Reader, tag: number): void {
  if (tag >>> 3 === 0) throw new CodecError('bad_request', 'invalid field number 0');
  switch (tag & 7) {
    case 0: r.skip(); break;
    case 1: r.skip(8); break;
    case 2: r.skip(r.uint32()); break;
    case 5: r.skip(4); break;
    default: throw new CodecError('bad_request', `unsupported wire type ${tag & 7}`);
  }
}

/** Reads a length-delimited sub-message; `dec` consumes fields until `end`, which must land exactly. */
export function readMsg<T>(r: Reader, dec: (r: Reader, end: number) => T): T {
  const len = r.uint32();
  const end = r.pos + len;
  if (end > r.len) truncated();
  const m = dec(r, end);
  if (r.pos !== end) throw new CodecError('bad_request', 'field overruns its message');
  return m;
}


/** Reads one map<string,string> entry into `map`; a missing key or value is ''. */
export function readStringMapEntry(r: Reader, map: Record<string, string>): void {
  let key = '';
  let value = '';
  readMsg(r, (r, end) => {
    while (r.pos < end) {
      const tag = r.uint32();
      if (tag === 10) key = readString(r);
      else if (tag === 18) value = readString(r);
      else skipField(r, tag);
    }
  });
  setEntry(map, key, value);
}

/** Reads one map<string,Message> entry into `map`; a missing value is the empty message. */
export function readMessageMapEntry<T>(r: Reader, map: Record<string, T>, dec: (r: Reader, end: number) => T): void {
  let key = '';
  let value: T | undefined;
  readMsg(r, (r, end) => {
    while (r.pos < end) {
      const tag = r.uint32();
      if (tag === 10) key = readString(r);
      else if (tag === 18) value = readMsg(r, dec);
      else skipField(r, tag);
    }
  });
  // Decoding an empty range yields the message with its zero values, as proto3 requires.
  setEntry(map, key, value ?? dec(r, r.pos));
}

/** Reads a frame item's length prefix: a varint of at most five bytes holding a uint32. */
export function readLength(r: Reader): number {
  const buf = r.buf;
  let pos = r.pos;
  let value = 0;
  for (let i = 0; i < 5; i++) {
    if (pos >= r.len) truncated();
    const b = buf[pos++] as number;
    value += (b & 0x7f) * 2 ** (7 * i);
    if (b < 0x80) {
      if (value > 0xffffffff) break;
      r.pos = pos;
      return value;
    }
  }
  throw new CodecError('bad_request', 'overlong length prefix');
}
