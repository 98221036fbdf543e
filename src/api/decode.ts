/**
 * Typed readers for API request bodies (already JSON-parsed). They mirror a strict JSON
 * decoder: absent or null fields read as the zero value, a field of the wrong type throws
 * DecodeError (the HTTP binding answers 400, the legacy route error 107). Unknown fields are ignored.
 */

/** A request body whose shape does not match the method's request type. */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

export type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The request object; null/undefined read as `{}`, any other non-object throws. */
export function requestObject(params: unknown, what = 'request'): JsonObject {
  if (params === undefined || params === null) return {};
  if (!isObject(params)) throw new DecodeError(`${what} must be an object`);
  return params;
}

/** A nested object field; undefined when absent or null. */
export function optObject(o: JsonObject, key: string): JsonObject | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw new DecodeError(`${key} must be an object`);
  return v;
}

export function str(o: JsonObject, key: string): string {
  const v = o[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new DecodeError(`${key} must be a string`);
  return v;
}

export function bool(o: JsonObject, key: string): boolean {
  const v = o[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new DecodeError(`${key} must be a boolean`);
  return v;
}

export interface IntRange {
  min: number;
  max: number;
}

export const INT32: IntRange = { min: -0x80000000, max: 0x7fffffff };
export const UINT32: IntRange = { min: 0, max: 0xffffffff };
/** 64-bit ranges are limited to what a JS number holds exactly. */
export const INT64: IntRange = { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER };
export const UINT64: IntRange = { min: 0, max: Number.MAX_SAFE_INTEGER };

/** An integer field within range; 0 when absent or null. */
export function int(o: JsonObject, key: string, range: IntRange): number {
  const v = o[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < range.min || v > range.max) {
    throw new DecodeError(`${key} must be an integer in [${range.min}, ${range.max}]`);
  }
  return v;
}

/** A string list; null items read as "" (as a Go decoder does). */
export function strArray(o: JsonObject, key: string): string[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new DecodeError(`${key} must be an array`);
  return v.map((item: unknown, i) => {
    if (item === null) return '';
    if (typeof item !== 'string') throw new DecodeError(`${key}[${i}] must be a string`);
    return item;
  });
}

/** A string-to-string map; undefined when absent, null or empty. */
export function strMap(o: JsonObject, key: string): Record<string, string> | undefined {
  const m = optObject(o, key);
  if (!m) return undefined;
  const out: Record<string, string> = {};
  let n = 0;
  for (const [k, v] of Object.entries(m)) {
    if (v !== null && typeof v !== 'string') throw new DecodeError(`${key}.${k} must be a string`);
    // defineProperty, not assignment: `__proto__` is a valid key in JSON.
    Object.defineProperty(out, k, { value: v ?? '', enumerable: true, writable: true, configurable: true });
    n++;
  }
  return n > 0 ? out : undefined;
}

/**
 * A raw JSON field (`data`, `info`, `params`): any JSON value, returned as its JSON text bytes.
 * Undefined when absent; an explicit null is the 4 bytes `null`. Bytes (a GRPC request's
 * `bytes` field; JSON never yields them) are the payload as they are.
 */
export function raw(o: JsonObject, key: string): Uint8Array | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (v instanceof Uint8Array) return v;
  let text: string;
  try {
    text = JSON.stringify(v);
  } catch (err) {
    // JSON.parse takes any depth, JSON.stringify recurses: data nested deeper than the stack
    // allows is a bad request, not a server failure.
    if (err instanceof RangeError) throw new DecodeError(`${key} is nested too deeply`);
    throw err;
  }
  return Buffer.from(text);
}

/** A stream position `{offset, epoch}`; undefined when absent or null. */
export function position(o: JsonObject, key: string): { offset: number; epoch: string } | undefined {
  const p = optObject(o, key);
  if (!p) return undefined;
  return { offset: int(p, 'offset', UINT64), epoch: str(p, 'epoch') };
}
