import { formatDuration } from './duration.js';
import { ENV_PREFIX, itemEnvName } from './env.js';
import type { Fields, FieldSpec } from './schema-dsl.js';
import { CONFIG_SCHEMA } from './schema.js';
import type { GyreConfig } from './types.js';
import { applyDefaults, isPlainObject, isZero, type Tree } from './values.js';

function printableValue(spec: FieldSpec, v: unknown): unknown {
  switch (spec.kind) {
    case 'duration':
      return formatDuration(typeof v === 'number' ? v : 0);
    case 'object':
      return printableTree(spec.fields ?? {}, isPlainObject(v) ? v : {});
    case 'object[]':
      return (Array.isArray(v) ? v : []).map((item) => printableTree(spec.fields ?? {}, isPlainObject(item) ? item : {}));
    case 'string[]':
      return Array.isArray(v) ? [...(v as unknown[])] : [];
    case 'map':
      return isPlainObject(v) ? { ...v } : {};
    default:
      return v;
  }
}

function printableTree(fields: Fields, value: Tree): Tree {
  const out: Tree = {};
  for (const [key, spec] of Object.entries(fields)) {
    if (spec.hidden === true) continue;
    out[key] = printableValue(spec, value[key]);
  }
  return out;
}

/**
 * Converts a loaded configuration back to file form, as `defaultconfig` prints it:
 * durations in canonical Go form (`"25s"`, `"1m0s"`, `"720h0m0s"`), experimental sections
 * (broker.redisnats) left out.
 */
export function toPrintable(config: GyreConfig): Record<string, unknown> {
  return printableTree(CONFIG_SCHEMA, config as unknown as Tree);
}

/** The full default configuration tree in file form (what `defaultconfig` prints with no base). */
export function defaultConfigObject(): Record<string, unknown> {
  return printableTree(CONFIG_SCHEMA, applyDefaults(CONFIG_SCHEMA, {}));
}

function envValue(spec: FieldSpec, v: unknown): string {
  switch (spec.kind) {
    case 'string':
      return JSON.stringify(typeof v === 'string' ? v : '');
    case 'duration':
      return formatDuration(typeof v === 'number' ? v : 0);
    case 'string[]':
      return JSON.stringify((Array.isArray(v) ? v : []).join(' '));
    case 'map':
      return JSON.stringify(JSON.stringify(isPlainObject(v) ? v : {}));
    case 'object[]': {
      const items = Array.isArray(v) ? v : [];
      if (spec.named === true) {
        return JSON.stringify(items.map((item) => (isPlainObject(item) ? String(item.name) : '')).join(' '));
      }
      return JSON.stringify(JSON.stringify(printableValue(spec, items)));
    }
    default:
      return String(v);
  }
}

function envWalk(fields: Fields, value: Tree, tail: string, file: Tree | undefined, nonZeroOnly: boolean, out: string[]): void {
  for (const [key, spec] of Object.entries(fields)) {
    if (spec.hidden === true) continue;
    const name = tail === '' ? key.toUpperCase() : `${tail}_${key.toUpperCase()}`;
    const v = value[key];
    const fv = file?.[key];
    if (spec.kind === 'object') {
      envWalk(spec.fields ?? {}, isPlainObject(v) ? v : {}, name, isPlainObject(fv) ? fv : undefined, nonZeroOnly, out);
      continue;
    }
    if (!nonZeroOnly || !isZero(spec, fv)) out.push(`${ENV_PREFIX}${name}=${envValue(spec, v)}`);
    if (spec.kind === 'object[]' && spec.named === true && Array.isArray(v)) {
      v.forEach((item, i) => {
        if (!isPlainObject(item) || typeof item.name !== 'string' || item.name === '') return;
        const fileItem = Array.isArray(fv) && isPlainObject(fv[i]) ? (fv[i] as Tree) : undefined;
        envWalk(spec.fields ?? {}, item, `${name}_${itemEnvName(item.name)}`, fileItem, nonZeroOnly, out);
      });
    }
  }
}

/**
 * `defaultenv` output: one `CENTRIFUGO_<KEY>=<value>` line per known variable, sorted, with
 * the effective value (strings quoted, lists space-separated, maps and object arrays as JSON,
 * named arrays as names). With `nonZeroOnly`, only keys set to non-zero in `fileValues`.
 */
export function envLines(config: GyreConfig, fileValues?: Readonly<Record<string, unknown>>, nonZeroOnly = false): string[] {
  const out: string[] = [];
  envWalk(CONFIG_SCHEMA, config as unknown as Tree, '', fileValues as Tree | undefined, nonZeroOnly, out);
  return out.sort();
}
