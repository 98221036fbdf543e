import { parseDuration } from './duration.js';

/** Value kinds a config key can have. Durations load as milliseconds. */
export type FieldKind =
  | 'string'
  | 'int'
  | 'bool'
  | 'duration'
  | 'string[]'
  | 'map'
  | 'object'
  | 'object[]';

/**
 * One key of the schema: its kind, default (already in loaded form: durations in ms), a
 * one-line doc and optional per-value validation. For `object` the default is derived from
 * `fields`; `object[]` items are described by `fields` too.
 */
export interface FieldSpec {
  readonly kind: FieldKind;
  readonly doc: string;
  readonly default: unknown;
  /** Sub-keys of an object, or of each item of an object array. */
  readonly fields?: Fields;
  /** Object array keyed by item `name`: env accepts names and per-item variables. */
  readonly named?: boolean;
  /** Experimental section left out of `defaultconfig` / `defaultenv` output. */
  readonly hidden?: boolean;
  /** Allowed values of a string key (checked after defaults are applied). */
  readonly choices?: readonly string[];
  /** Regex a non-empty string value must match. */
  readonly pattern?: RegExp;
  /** Extra check of a value; returns an error gist or undefined. */
  readonly check?: (value: unknown) => string | undefined;
}

/** A group of keys, in the order defaultconfig prints them. */
export type Fields = Readonly<Record<string, FieldSpec>>;

type Extra = Pick<FieldSpec, 'choices' | 'pattern' | 'check' | 'hidden'>;

/** String key; default `''` unless given. */
export function str(doc: string, def = '', extra: Extra = {}): FieldSpec {
  return { kind: 'string', doc, default: def, ...extra };
}

/** Integer key; default 0 unless given. */
export function int(doc: string, def = 0, extra: Extra = {}): FieldSpec {
  return { kind: 'int', doc, default: def, ...extra };
}

/** Boolean key; always defaults to false (zero means default, so true defaults cannot exist). */
export function bool(doc: string): FieldSpec {
  return { kind: 'bool', doc, default: false };
}

/** Duration key, default given in Go syntax; loads as milliseconds. */
export function dur(doc: string, def = '0s', extra: Extra = {}): FieldSpec {
  return { kind: 'duration', doc, default: parseDuration(def), ...extra };
}

/** List of strings; env form is space-separated. */
export function strs(doc: string, def: readonly string[] = []): FieldSpec {
  return { kind: 'string[]', doc, default: def };
}

/** String→string map (object form or `[{key, value}]` form in files, JSON in env). */
export function map(doc: string): FieldSpec {
  return { kind: 'map', doc, default: {} };
}

/** Nested group of keys. */
export function obj(doc: string, fields: Fields, extra: Extra = {}): FieldSpec {
  return { kind: 'object', doc, default: undefined, fields, ...extra };
}

/** Array of objects; `named` arrays are keyed by their items' `name`. */
export function arr(doc: string, fields: Fields, named = false): FieldSpec {
  return { kind: 'object[]', doc, default: [], fields, named };
}
