/**
 * The client protocol schema (test/fixtures/proto/client.proto) loaded with protobufjs'
 * reflection runtime, plus schema-driven helpers for oracle tests: random message generation,
 * a canonical form for comparing decoded messages, and pruning of proto3 zero values.
 * Test-only: Gyre's codec never uses reflection.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import type { Rng } from '../../src/protocol/fuzz.fixtures.js';
import { repoRoot } from './server-process.js';

/** Path of the Gyre-owned copy of the upstream schema. */
export const clientProtoPath = join(repoRoot, 'test', 'fixtures', 'proto', 'client.proto');

const PACKAGE = 'centrifugal.centrifuge.protocol';

/** The parsed and resolved schema root (field names as in the .proto, snake_case). */
export const protoRoot: protobuf.Root = (() => {
  const root = protobuf.parse(readFileSync(clientProtoPath, 'utf8'), { keepCase: true }).root;
  root.resolveAll();
  return root;
})();

/** A message type of the schema by its short name. */
export function protoType(name: string): protobuf.Type {
  return protoRoot.lookupType(`${PACKAGE}.${name}`);
}

/** Every message type of the package. */
export function allTypes(): protobuf.Type[] {
  const ns = protoRoot.lookup(PACKAGE) as protobuf.Namespace;
  return ns.nestedArray.filter((n): n is protobuf.Type => n instanceof protobuf.Type);
}

/** "Message.field" for a field. */
export const fieldName = (type: protobuf.Type, f: protobuf.Field): string => `${type.name}.${f.name}`;

type Obj = Record<string, unknown>;

const STRINGS = ['a', 'chat:index', 'é✓', '日本語', 'x😀y', '\u0000', ' ', 'news$room#42,7', '__proto__', 'constructor'];
// Map keys avoid '__proto__': protobufjs' own decoder would assign it as a prototype.
const MAP_KEYS = ['a', 'b', '', 'é', 'tag:1', 'constructor', '0', '17', 'key with space'];

/** A random value of a scalar protobuf type, biased toward boundaries; 64-bit values stay within 2^53. */
function scalar(rng: Rng, type: string): unknown {
  switch (type) {
    case 'string':
      return rng.chance(0.2) ? '' : rng.chance(0.5) ? rng.pick(STRINGS) : rng.bytes(1 + rng.int(12)).toString('base64');
    case 'bytes':
      return rng.bytes(rng.int(3) === 0 ? 0 : 1 + rng.int(24));
    case 'bool':
      return rng.chance(0.6);
    case 'uint32':
      return rng.pick([0, 1, 127, 128, 16383, 16384, 2 ** 32 - 1, rng.int(2 ** 32)]);
    case 'int32':
      return rng.pick([0, 1, -1, 2 ** 31 - 1, -(2 ** 31), rng.int(2 ** 32) - 2 ** 31]);
    case 'uint64':
      return rng.pick([0, 1, 2 ** 32, 2 ** 53 - 1, Math.floor(rng.next() * 2 ** 53)]);
    case 'int64':
    case 'sint64':
      return rng.pick([0, 1, -1, 2 ** 53 - 1, -(2 ** 53 - 1), -(2 ** 32), Math.floor((rng.next() - 0.5) * 2 ** 53)]);
    default:
      throw new Error(`the generator does not know scalar type ${type}`);
  }
}

export interface GenOptions {
  /** Probability that a field is set at all (1 sets every field). */
  fill: number;
  /** Nesting depth past which sub-messages are left empty. */
  maxDepth: number;
}

/**
 * A random plain object for `type`: each field set with probability `fill`, scalars may be their
 * zero value, maps and repeated fields get 0..3 elements, sub-messages recurse to `maxDepth`.
 */
export function generate(rng: Rng, type: protobuf.Type, opts: GenOptions, depth = 0): Obj {
  const out: Obj = {};
  const value = (f: protobuf.Field): unknown => {
    if (f.resolvedType instanceof protobuf.Type) return depth >= opts.maxDepth ? {} : generate(rng, f.resolvedType, opts, depth + 1);
    if (f.resolvedType) throw new Error(`the generator does not know enums (${f.name})`);
    return scalar(rng, f.type);
  };
  const count = (): number => (depth >= opts.maxDepth ? rng.int(2) : rng.int(4));
  for (const f of type.fieldsArray) {
    if (!rng.chance(opts.fill)) continue;
    if (f.map) {
      const m: Obj = {};
      for (let i = count(); i > 0; i--) m[rng.pick(MAP_KEYS)] = value(f);
      out[f.name] = m;
    } else if (f.repeated) {
      const list: unknown[] = [];
      for (let i = count(); i > 0; i--) list.push(value(f));
      out[f.name] = list;
    } else out[f.name] = value(f);
  }
  return out;
}

const isZero = (v: unknown): boolean =>
  v === '' || v === 0 || v === false || (v instanceof Uint8Array && v.length === 0);

function entries(v: unknown): [string, unknown][] {
  if (typeof v !== 'object' || v === null) throw new Error('map value is not an object');
  // Object.keys also lists an own '__proto__' key defined as a property.
  return Object.keys(v).map((k) => [k, (v as Obj)[k]]);
}

export interface CanonicalOptions {
  /** Fields ("Message.field") left out of the canonical form. */
  skip?: ReadonlySet<string>;
  /** Sub-message fields ("Message.field") that count as present and empty when absent. */
  defaulted?: ReadonlySet<string>;
}

/**
 * Canonical form of a decoded or generated message, for deepEqual: singular zero scalars and
 * empty maps/lists dropped (proto3 cannot tell them from absent), present sub-messages kept even
 * when empty, bytes as hex, maps as sorted entry lists, 64-bit Longs as numbers. A key that is no
 * field of the message throws.
 */
export function canonical(type: protobuf.Type, v: unknown, opts: CanonicalOptions = {}, path = type.name): unknown {
  const skip = opts.skip ?? new Set<string>();
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${path}: not a message object`);
  const o = v as Obj;
  for (const k of Object.keys(o)) if (!type.fields[k]) throw new Error(`${path}.${k}: no such field in ${type.name}`);
  const out: Obj = {};
  const one = (f: protobuf.Field, x: unknown, p: string): unknown => {
    if (f.resolvedType instanceof protobuf.Type) return canonical(f.resolvedType, x, opts, p);
    if (x instanceof Uint8Array) return `hex:${Buffer.from(x).toString('hex')}`;
    if (typeof x === 'object' && x !== null && 'low' in x) return Number(x); // Long
    return x;
  };
  for (const f of type.fieldsArray) {
    const p = `${path}.${f.name}`;
    if (skip.has(fieldName(type, f))) continue;
    let x = o[f.name];
    if ((x === undefined || x === null) && opts.defaulted?.has(fieldName(type, f))) x = {};
    if (x === undefined || x === null) continue;
    if (f.map) {
      const list = entries(x)
        .map(([k, mv]) => [k, one(f, mv, `${p}[${k}]`)] as const)
        .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      if (list.length > 0) out[f.name] = list;
    } else if (f.repeated) {
      if (!Array.isArray(x)) throw new Error(`${p}: repeated field is not an array`);
      if (x.length > 0) out[f.name] = x.map((e, i) => one(f, e, `${p}[${i}]`));
    } else if (f.resolvedType instanceof protobuf.Type || !isZero(x)) out[f.name] = one(f, x, p);
  }
  return out;
}

/**
 * A copy of a generated message without singular zero scalars and without the `skip` fields,
 * at every depth: the form a canonical proto3 encoder writes byte for byte.
 */
export function prune(type: protobuf.Type, v: Obj, skip: ReadonlySet<string> = new Set()): Obj {
  const out: Obj = {};
  const one = (f: protobuf.Field, x: unknown): unknown => (f.resolvedType instanceof protobuf.Type ? prune(f.resolvedType, x as Obj, skip) : x);
  for (const f of type.fieldsArray) {
    if (skip.has(fieldName(type, f))) continue;
    const x = v[f.name];
    if (x === undefined || x === null) continue;
    if (f.map) {
      const m: Obj = {};
      for (const [k, mv] of entries(x)) Object.defineProperty(m, k, { value: one(f, mv), enumerable: true, writable: true, configurable: true });
      out[f.name] = m;
    } else if (f.repeated) out[f.name] = (x as unknown[]).map((e) => one(f, e));
    else if (f.resolvedType instanceof protobuf.Type || !isZero(x)) out[f.name] = one(f, x);
  }
  return out;
}

/** Records "Message.field" for every field set to a non-zero value anywhere in `v`. */
export function collectSetFields(type: protobuf.Type, v: Obj, seen: Set<string>): void {
  for (const f of type.fieldsArray) {
    const x = v[f.name];
    if (x === undefined || x === null) continue;
    const values = f.map ? entries(x).map((e) => e[1]) : f.repeated ? (x as unknown[]) : [x];
    if (values.length === 0) continue;
    if (f.resolvedType instanceof protobuf.Type) {
      seen.add(fieldName(type, f));
      for (const e of values) collectSetFields(f.resolvedType, e as Obj, seen);
    } else if (f.map || f.repeated || !isZero(x)) seen.add(fieldName(type, f));
  }
}

/** protobufjs encoding of a plain object (no length prefix). */
export function oracleEncode(type: protobuf.Type, v: Obj): Uint8Array {
  return type.encode(type.fromObject(v)).finish();
}

/** protobufjs decoding as a plain object, 64-bit values as numbers. */
export function oracleDecode(type: protobuf.Type, bytes: Uint8Array): Obj {
  return type.toObject(type.decode(bytes), { longs: Number }) as Obj;
}
