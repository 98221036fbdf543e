import { ConfigError } from './config-error.js';
import { nsToMs, parseDuration } from './duration.js';
import type { FieldSpec, Fields } from './schema-dsl.js';

/** A plain object tree under construction (partial: only keys that were given). */
export type Tree = Record<string, unknown>;

/** What value coercion needs besides the value: env for ${..._VAR_*} and an unknown-key sink. */
export interface CoerceContext {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Receives dotted paths of keys the schema does not know; undefined = ignore them. */
  readonly unknownKeys?: string[];
  /**
   * Receives invalid values instead of throwing at the first one: the key is then left out
   * (so its default applies) and coercion goes on. Undefined = throw.
   */
  readonly errors?: ConfigError[];
}

/** True for a plain (non-array) object. */
export function isPlainObject(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Joins a dotted path. */
export function joinPath(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`;
}

const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const GO_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** Parses a boolean the way Go's strconv.ParseBool does. */
export function parseBoolGo(text: string): boolean {
  const t = text.trim();
  if (GO_TRUE.has(t)) return true;
  if (GO_FALSE.has(t)) return false;
  throw new Error(`invalid boolean "${text}"`);
}

/** Parses an integer with Go's base auto-detection (0x, 0o, 0b, leading-0 octal, decimal). */
export function parseIntGo(text: string): number {
  let t = text.trim();
  let sign = 1;
  if (t.startsWith('-') || t.startsWith('+')) {
    if (t[0] === '-') sign = -1;
    t = t.slice(1);
  }
  let digits = t;
  let base = 10;
  if (/^0[xX]/.test(t)) {
    base = 16;
    digits = t.slice(2);
  } else if (/^0[oO]/.test(t)) {
    base = 8;
    digits = t.slice(2);
  } else if (/^0[bB]/.test(t)) {
    base = 2;
    digits = t.slice(2);
  } else if (/^0\d/.test(t)) {
    base = 8;
    digits = t.slice(1);
  }
  const allowed = { 2: /^[01]+(_[01]+)*$/, 8: /^[0-7]+(_[0-7]+)*$/, 10: /^\d+(_\d+)*$/, 16: /^[0-9a-fA-F]+(_[0-9a-fA-F]+)*$/ }[base];
  if (allowed === undefined || !allowed.test(digits) || (base === 10 && digits.includes('_'))) {
    throw new Error(`invalid integer "${text}"`);
  }
  const clean = digits.replace(/_/g, '');
  let value = 0n;
  for (const ch of clean) value = value * BigInt(base) + BigInt(parseInt(ch, 16));
  const n = sign * Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`integer out of range "${text}"`);
  return n;
}

const VAR_REF = /\$\{((?:CENTRIFUGO|GYRE)_VAR_[^}]+)\}/g;

/** Replaces `${CENTRIFUGO_VAR_X}` (or `${GYRE_VAR_X}`) in map values; a missing variable is an error. */
export function substituteVars(m: Record<string, string>, env: CoerceContext['env'], path: string): void {
  for (const [k, v] of Object.entries(m)) {
    m[k] = v.replace(VAR_REF, (_all, name: string) => {
      const value = env[name];
      if (value === undefined) {
        throw new ConfigError(joinPath(path, k), `environment variable "${name}" not found`);
      }
      return value;
    });
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function fail(path: string, spec: FieldSpec, raw: unknown, detail?: string): never {
  const want = spec.kind === 'object[]' ? 'array of objects' : spec.kind === 'map' ? 'string map' : spec.kind;
  const shown = typeof raw === 'string' ? JSON.stringify(raw) : typeName(raw);
  throw new ConfigError(path, `invalid value ${shown}: expected ${want}${detail === undefined ? '' : ` (${detail})`}`);
}

function attempt<T>(path: string, spec: FieldSpec, raw: unknown, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    return fail(path, spec, raw, (err as Error).message);
  }
}

/** Sets an own enumerable property even for names like `__proto__`. */
function setOwn(target: Record<string, string>, key: string, value: string): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function coerceMap(spec: FieldSpec, raw: unknown, path: string, ctx: CoerceContext): Record<string, string> {
  const out: Record<string, string> = {};
  if (isPlainObject(raw)) {
    for (const [k, v] of Object.entries(raw)) {
      if (typeof v !== 'string') fail(joinPath(path, k), { ...spec, kind: 'string' }, v);
      // Object form keys are lower-cased, as Centrifugo's loader does.
      setOwn(out, k.toLowerCase(), v);
    }
  } else if (Array.isArray(raw)) {
    raw.forEach((item, i) => {
      const itemPath = `${path}[${i}]`;
      if (!isPlainObject(item) || typeof item.key !== 'string' || typeof item.value !== 'string') {
        throw new ConfigError(itemPath, 'expected an object with string "key" and "value"');
      }
      if (Object.hasOwn(out, item.key)) throw new ConfigError(itemPath, `duplicate key "${item.key}"`);
      setOwn(out, item.key, item.value);
    });
  } else {
    fail(path, spec, raw);
  }
  substituteVars(out, ctx.env, path);
  return out;
}

/**
 * Coerces a value read from a config file (or a JSON env value) to the loaded form of `spec`,
 * with Go-like weak typing (numeric strings for ints, "true" for bools, numbers for strings).
 * Durations: strings in Go syntax, bare numbers are nanoseconds. Throws ConfigError naming `path`.
 */
export function coerceFileValue(spec: FieldSpec, raw: unknown, path: string, ctx: CoerceContext): unknown {
  if (raw === null || raw === undefined) return spec.kind === 'object' ? {} : zeroOf(spec);
  switch (spec.kind) {
    case 'string':
      if (typeof raw === 'string') return raw;
      if (typeof raw === 'number' || typeof raw === 'bigint' || typeof raw === 'boolean') return String(raw);
      return fail(path, spec, raw);
    case 'int':
      if (typeof raw === 'number') return Number.isInteger(raw) ? raw : fail(path, spec, raw, 'not an integer');
      if (typeof raw === 'bigint') return Number(raw);
      if (typeof raw === 'boolean') return raw ? 1 : 0;
      if (typeof raw === 'string') return raw.trim() === '' ? 0 : attempt(path, spec, raw, () => parseIntGo(raw));
      return fail(path, spec, raw);
    case 'bool':
      if (typeof raw === 'boolean') return raw;
      if (typeof raw === 'number') return raw !== 0;
      if (typeof raw === 'string') return raw.trim() === '' ? false : attempt(path, spec, raw, () => parseBoolGo(raw));
      return fail(path, spec, raw);
    case 'duration':
      if (typeof raw === 'string') return raw.trim() === '' ? 0 : attempt(path, spec, raw, () => parseDuration(raw));
      if (typeof raw === 'number') return Number.isInteger(raw) ? nsToMs(BigInt(raw)) : raw / 1e6;
      if (typeof raw === 'bigint') return nsToMs(raw);
      return fail(path, spec, raw);
    case 'string[]':
      if (typeof raw === 'string') return [raw];
      if (!Array.isArray(raw)) return fail(path, spec, raw);
      return raw.map((item, i) => coerceFileValue({ ...spec, kind: 'string' }, item, `${path}[${i}]`, ctx));
    case 'map':
      return coerceMap(spec, raw, path, ctx);
    case 'object':
      if (!isPlainObject(raw)) return fail(path, spec, raw);
      return coerceObject(spec.fields ?? {}, raw, path, ctx);
    case 'object[]':
      if (!Array.isArray(raw)) return fail(path, spec, raw);
      return raw.map((item, i) => {
        const itemPath = `${path}[${i}]`;
        if (!isPlainObject(item)) throw new ConfigError(itemPath, `invalid value ${typeName(item)}: expected object`);
        return coerceObject(spec.fields ?? {}, item, itemPath, ctx);
      });
  }
}

/**
 * Coerces every known key of `raw` (keys matched case-insensitively); reports unknown ones,
 * and invalid values too when `ctx.errors` is given.
 */
export function coerceObject(fields: Fields, raw: Tree, path: string, ctx: CoerceContext): Tree {
  const out: Tree = {};
  for (const [rawKey, value] of Object.entries(raw)) {
    const key = rawKey.toLowerCase();
    const spec = Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (spec === undefined) {
      ctx.unknownKeys?.push(joinPath(path, key));
      continue;
    }
    if (ctx.errors === undefined) {
      out[key] = coerceFileValue(spec, value, joinPath(path, key), ctx);
      continue;
    }
    try {
      out[key] = coerceFileValue(spec, value, joinPath(path, key), ctx);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      ctx.errors.push(err);
    }
  }
  return out;
}

/**
 * Parses an environment variable value for `spec`: Go booleans and integers, durations,
 * space-separated lists, JSON maps and object arrays; named arrays also accept a
 * space-separated list of names. Throws ConfigError naming the config path and the variable.
 */
export function parseEnvValue(spec: FieldSpec, text: string, path: string, varName: string, ctx: CoerceContext): unknown {
  const bad = (detail: string): never => {
    throw new ConfigError(path, `invalid value ${JSON.stringify(text)} of ${varName}: ${detail}`);
  };
  const guard = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      return bad((err as Error).message);
    }
  };
  switch (spec.kind) {
    case 'string':
      return text;
    case 'int':
      return guard(() => parseIntGo(text));
    case 'bool':
      return guard(() => parseBoolGo(text));
    case 'duration':
      return guard(() => parseDuration(text));
    case 'string[]':
      return text.split(' ').filter((s) => s !== '');
    case 'map': {
      // A JSON object, or the [{"key": ..., "value": ...}] form that preserves case.
      const parsed = guard(() => JSON.parse(text) as unknown);
      if (!isPlainObject(parsed) && !Array.isArray(parsed)) return bad('expected a JSON object');
      return coerceFileValue(spec, parsed, path, { env: ctx.env });
    }
    case 'object[]': {
      const trimmed = text.trim();
      if (spec.named === true && !(trimmed.startsWith('[') && trimmed.endsWith(']'))) {
        return trimmed.split(' ').filter((s) => s !== '').map((name) => ({ name }));
      }
      const parsed = guard(() => JSON.parse(trimmed) as unknown);
      if (!Array.isArray(parsed)) return bad('expected a JSON array');
      return coerceFileValue(spec, parsed, path, ctx);
    }
    case 'object':
      return bad('objects cannot be set from one variable');
  }
}

/** The zero value of a kind (what "unset" looks like after loading). */
export function zeroOf(spec: FieldSpec): unknown {
  switch (spec.kind) {
    case 'string':
      return '';
    case 'int':
    case 'duration':
      return 0;
    case 'bool':
      return false;
    case 'string[]':
    case 'object[]':
      return [];
    case 'map':
      return {};
    case 'object':
      return {};
  }
}

/** True when a loaded value is the zero value of its kind (0, "", false, empty list or map). */
export function isZero(spec: FieldSpec, v: unknown): boolean {
  if (v === undefined || v === null) return true;
  switch (spec.kind) {
    case 'string':
      return v === '';
    case 'int':
    case 'duration':
      return v === 0;
    case 'bool':
      return v === false;
    case 'string[]':
    case 'object[]':
      return Array.isArray(v) && v.length === 0;
    case 'map':
      return isPlainObject(v) && Object.keys(v).length === 0;
    case 'object':
      return false;
  }
}

/** Fills every missing or zero key of `partial` with its default; returns a complete tree. */
export function applyDefaults(fields: Fields, partial: Tree | undefined): Tree {
  const out: Tree = {};
  for (const [key, spec] of Object.entries(fields)) {
    const v = partial?.[key];
    if (spec.kind === 'object') {
      out[key] = applyDefaults(spec.fields ?? {}, isPlainObject(v) ? v : undefined);
    } else if (spec.kind === 'object[]') {
      const items = Array.isArray(v) ? v : [];
      out[key] = items.map((item) => applyDefaults(spec.fields ?? {}, isPlainObject(item) ? item : undefined));
    } else if (isZero(spec, v)) {
      out[key] = cloneDefault(spec.default);
    } else {
      out[key] = v;
    }
  }
  return out;
}

function cloneDefault(v: unknown): unknown {
  if (Array.isArray(v)) return [...(v as unknown[])];
  if (isPlainObject(v)) return { ...v };
  return v;
}
