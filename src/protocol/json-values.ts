/**
 * Small building blocks shared by the JSON encoders and decoders: raw-JSON embedding of bytes
 * fields, object closing, and type-checked reading of parsed values (decode boundary).
 */
import { CodecError } from './codec-error.js';
import { JSON_INVALID, JSON_VALID, scanJson } from './json-scan.js';
import { setEntry } from './set-entry.js';

/** A parsed JSON object whose fields are still unchecked. */
export type JsonObject = Record<string, unknown>;

/** Quotes and escapes a string as a JSON string literal. */
export const quote: (s: string) => string = JSON.stringify;

/** Closes a fragment built as `,"k":v,"k2":v2` into an object; the empty fragment gives `{}`. */
export function closeObject(fragment: string): string {
  return fragment.length === 0 ? '{}' : '{' + fragment.substring(1) + '}';
}

/** Views any Uint8Array as a Buffer without copying. */
export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

const NEWLINES = /\n/g;

/**
 * Returns the bytes as JSON text ready to embed raw, with raw newlines removed (they would split
 * the frame). Throws CodecError('inappropriate_protocol') when the bytes are not valid JSON.
 */
export function rawJson(b: Uint8Array): string {
  const scan = scanJson(b);
  if (scan === JSON_INVALID) throw new CodecError('inappropriate_protocol', 'payload is not valid JSON');
  const text = asBuffer(b).toString('utf8');
  return scan === JSON_VALID ? text : text.replace(NEWLINES, '');
}

/** Encodes a string map as a JSON object, or '' when the map is empty (zero value, omitted). */
export function stringMapJson(m: Record<string, string>): string {
  let s = '';
  for (const k in m) s += ',' + quote(k) + ':' + quote(m[k] ?? '');
  return s.length === 0 ? '' : '{' + s.substring(1) + '}';
}

/** Encodes a message map as a JSON object, or '' when empty; every value is written, `{}` when empty. */
export function messageMapJson<T>(m: Record<string, T>, enc: (v: T) => string): string {
  let s = '';
  for (const k in m) {
    const v = m[k];
    if (v !== undefined) s += ',' + quote(k) + ':' + enc(v);
  }
  return s.length === 0 ? '' : '{' + s.substring(1) + '}';
}

/** Encodes a list of messages as a JSON array (`[]` when empty). */
export function listJson<T>(list: readonly T[], enc: (v: T) => string): string {
  let s = '';
  for (let i = 0; i < list.length; i++) s += (i === 0 ? '' : ',') + enc(list[i] as T);
  return '[' + s + ']';
}

function fail(key: string, expected: string): never {
  throw new CodecError('bad_request', `field "${key}": expected ${expected}`);
}

/** Checks that a parsed value is a JSON object (not null, not an array). */
export function asObject(v: unknown, key: string): JsonObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(key, 'object');
  return v as JsonObject;
}

/** Checks a JSON string. */
export function asString(v: unknown, key: string): string {
  if (typeof v !== 'string') fail(key, 'string');
  return v;
}

/** Checks a JSON boolean. */
export function asBool(v: unknown, key: string): boolean {
  if (typeof v !== 'boolean') fail(key, 'boolean');
  return v;
}

/** Checks an integer within [min, max]. */
function asInt(v: unknown, key: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(key, 'integer in range');
  return v;
}

/** Checks a uint32. */
export const asU32 = (v: unknown, key: string): number => asInt(v, key, 0, 0xffffffff);
/** Checks an int32. */
export const asI32 = (v: unknown, key: string): number => asInt(v, key, -0x80000000, 0x7fffffff);
/** Checks a uint64 (as a JS number; precision above 2^53 is lost, as in the JS SDK). */
export const asU64 = (v: unknown, key: string): number => asInt(v, key, 0, 18446744073709551615);
/** Checks an int64 (as a JS number). */
export const asI64 = (v: unknown, key: string): number => asInt(v, key, -9223372036854775808, 9223372036854775807);

/** A bytes field arrives as any JSON value; keep it as the UTF-8 bytes of its compact JSON text. */
export function asBytes(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v), 'utf8');
}


/** Checks a JSON object of strings; null values mean ''. */
export function asStringMap(v: unknown, key: string): Record<string, string> {
  const o = asObject(v, key);
  const out: Record<string, string> = {};
  for (const k in o) {
    const item = o[k];
    setEntry(out, k, item === null ? '' : asString(item, key));
  }
  return out;
}

/** Checks a JSON object of messages; null values mean an empty message. */
export function asMessageMap<T>(v: unknown, key: string, dec: (o: JsonObject) => T): Record<string, T> {
  const o = asObject(v, key);
  const out: Record<string, T> = {};
  for (const k in o) {
    const item = o[k];
    setEntry(out, k, dec(item === null ? {} : asObject(item, key)));
  }
  return out;
}

/** Checks a JSON array of messages; null elements mean an empty message. */
export function asMessageList<T>(v: unknown, key: string, dec: (o: JsonObject) => T): T[] {
  if (!Array.isArray(v)) fail(key, 'array');
  return v.map((item: unknown) => dec(item === null ? {} : asObject(item, key)));
}

/** Checks a JSON array of strings. */
export function asStringList(v: unknown, key: string): string[] {
  if (!Array.isArray(v)) fail(key, 'array');
  return v.map((item: unknown) => asString(item, key));
}
