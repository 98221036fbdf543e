// Random and mutated tags filters against independent reference code written from
// subscriptions.md §4.2: a validity check, a tree-walking matcher, and decimal comparison through
// BigInt. validateFilter must never throw and must agree with the reference; compiled predicates
// must match the reference matcher; both codecs must carry every generated filter unchanged in
// meaning. Seeds are fixed so every failure replays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CodecError, jsonCodec, protobufCodec } from './codec.js';
import { Rng } from './fuzz.fixtures.js';
import {
  compareDecimalText,
  compileFilter,
  DECIMAL_MAX_FRACTION_DIGITS,
  DECIMAL_MAX_LENGTH,
  FILTER_LIMITS,
  FilterValidationError,
  validateFilter,
  type FilterNode,
} from './tag-filter.js';

// ---- reference implementation (deliberately naive) ----

const ALL_CMPS = ['eq', 'neq', 'in', 'nin', 'ex', 'nex', 'sw', 'ew', 'ct', 'gt', 'gte', 'lt', 'lte'];

function refValid(root: FilterNode): boolean {
  let nodes = 0;
  let vals = 0;
  const walk = (n: FilterNode, depth: number): boolean => {
    if (depth > FILTER_LIMITS.maxDepth) return false;
    nodes++;
    if (nodes > FILTER_LIMITS.maxNodes) return false;
    const val = n.val ?? '';
    const vs = n.vals ?? [];
    const kids = n.nodes ?? [];
    switch (n.op ?? '') {
      case '': {
        const cmp = n.cmp ?? '';
        if (!ALL_CMPS.includes(cmp)) return false;
        if (cmp === 'in' || cmp === 'nin') {
          vals += vs.length;
          if (vs.length === 0 || val !== '' || vals > FILTER_LIMITS.maxVals) return false;
        } else if (cmp === 'ex' || cmp === 'nex') {
          if (val !== '' || vs.length > 0) return false;
        } else if (val === '' || vs.length > 0) return false;
        return (n.key ?? '') !== '' || cmp === 'ex' || cmp === 'nex';
      }
      case 'and':
      case 'or':
        return kids.length > 0 && kids.every((k) => walk(k, depth + 1));
      case 'not':
        return kids.length === 1 && walk(kids[0] as FilterNode, depth + 1);
      default:
        return false;
    }
  };
  return walk(root, 1);
}

const DECIMAL_RE = new RegExp(`^([+-]?)([0-9]+)(?:\\.([0-9]{1,${DECIMAL_MAX_FRACTION_DIGITS}}))?$`);

/** The number scaled by 10^19 as a BigInt, or undefined when unparseable. */
function refDecimal(s: string): bigint | undefined {
  if (s.length > DECIMAL_MAX_LENGTH) return undefined;
  const m = DECIMAL_RE.exec(s);
  if (!m) return undefined;
  const scaled = BigInt((m[2] as string) + (m[3] ?? '').padEnd(DECIMAL_MAX_FRACTION_DIGITS, '0'));
  return m[1] === '-' ? -scaled : scaled;
}

function refCompare(a: string, b: string): number {
  const x = refDecimal(a);
  const y = refDecimal(b);
  if (x === undefined || y === undefined) return NaN;
  return x < y ? -1 : x > y ? 1 : 0;
}

function refMatch(n: FilterNode, tags: Record<string, string> | undefined): boolean {
  const kids = n.nodes ?? [];
  switch (n.op ?? '') {
    case 'and':
      return kids.every((k) => refMatch(k, tags));
    case 'or':
      return kids.some((k) => refMatch(k, tags));
    case 'not':
      return !refMatch(kids[0] as FilterNode, tags);
  }
  const key = n.key ?? '';
  const present = tags !== undefined && Object.keys(tags).includes(key);
  const v = present ? (tags as Record<string, string>)[key] as string : '';
  const val = n.val ?? '';
  switch (n.cmp) {
    case 'eq': return present && v === val;
    case 'neq': return !present || v !== val;
    case 'in': return (n.vals ?? []).includes(v);
    case 'nin': return !(n.vals ?? []).includes(v);
    case 'ex': return present;
    case 'nex': return !present;
    case 'sw': return present && v.startsWith(val);
    case 'ew': return present && v.endsWith(val);
    case 'ct': return present && v.includes(val);
    case 'gt': return present && refCompare(v, val) > 0;
    case 'gte': return present && refCompare(v, val) >= 0;
    case 'lt': return present && refCompare(v, val) < 0;
    case 'lte': return present && refCompare(v, val) <= 0;
  }
  throw new Error(`reference: invalid node ${JSON.stringify(n)}`);
}

// ---- generators ----

const KEYS = ['a', 'b', 'c', '', 'constructor', '__proto__', 'toString'];
const STRINGS = ['', 'x', 'xy', 'yx', 'X', 'a', 'ab', 'é', '0', '5', '-5', '10.5', '10.50', '+3', '-0', '.5', '5.', '1e3', ' 1', '007', '99999999999999999999999'];
const OPS = ['', '', '', '', 'and', 'or', 'not', 'xor', 'AND', 'Not'];
const CMPS = [...ALL_CMPS, ...ALL_CMPS, '', 'like', 'EQ', 'exists'];

function randomNumber(rng: Rng): string {
  const digits = (n: number): string => Array.from({ length: n }, () => String(rng.int(10))).join('');
  let s = rng.pick(['', '', '-', '+']) + (rng.chance(0.3) ? '0'.repeat(rng.int(3)) : '') + digits(rng.range(1, rng.chance(0.1) ? 60 : 4));
  if (rng.chance(0.5)) s += '.' + digits(rng.range(1, rng.chance(0.1) ? 22 : 4));
  if (rng.chance(0.1)) {
    // A mutation: insert, drop or replace one character.
    const i = rng.int(s.length + 1);
    const c = rng.pick(['.', '-', '+', 'e', ' ', '0', '', 'x']);
    s = s.slice(0, i) + c + s.slice(i + (rng.chance(0.5) ? 1 : 0));
  }
  return s;
}

function randomValue(rng: Rng): string {
  return rng.chance(0.4) ? randomNumber(rng) : rng.pick(STRINGS);
}

function randomNode(rng: Rng, depth: number, maxDepth: number): FilterNode {
  const n: FilterNode = {};
  const op = depth >= maxDepth ? '' : rng.pick(OPS);
  if (op !== '' || rng.chance(0.05)) n.op = op;
  if (op === '' || rng.chance(0.05)) {
    if (rng.chance(0.95)) n.key = rng.pick(KEYS);
    if (rng.chance(0.97)) n.cmp = rng.pick(CMPS);
    const setLike = n.cmp === 'in' || n.cmp === 'nin';
    const existsLike = n.cmp === 'ex' || n.cmp === 'nex';
    // Mostly the right value shape for the comparison, sometimes the wrong one.
    if (rng.chance(0.1) ? rng.chance(0.5) : !setLike && !existsLike) n.val = randomValue(rng);
    if (rng.chance(0.1) ? rng.chance(0.5) : setLike) n.vals = Array.from({ length: rng.int(4) }, () => randomValue(rng));
  }
  if (op !== '' || rng.chance(0.05)) {
    const count = op === 'not' && rng.chance(0.8) ? 1 : rng.int(4);
    n.nodes = Array.from({ length: count }, () => randomNode(rng, depth + 1, maxDepth));
  }
  return n;
}

function randomTags(rng: Rng): Record<string, string> | undefined {
  if (rng.chance(0.1)) return undefined;
  const tags: Record<string, string> = {};
  for (const k of KEYS) {
    if (k === '__proto__' || !rng.chance(0.5)) continue;
    tags[k] = randomValue(rng);
  }
  return tags;
}

/** A deep copy with one random change somewhere in the tree. */
function mutate(rng: Rng, root: FilterNode): FilterNode {
  const copy = JSON.parse(JSON.stringify(root)) as FilterNode;
  const all: FilterNode[] = [];
  const collect = (n: FilterNode): void => {
    all.push(n);
    n.nodes?.forEach(collect);
  };
  collect(copy);
  const n = rng.pick(all);
  switch (rng.int(7)) {
    case 0: n.op = rng.pick(OPS); break;
    case 1: n.cmp = rng.pick(CMPS); break;
    case 2: n.val = rng.chance(0.3) ? '' : randomValue(rng); break;
    case 3: n.vals = rng.chance(0.3) ? [] : [randomValue(rng)]; break;
    case 4: n.key = rng.pick(KEYS); break;
    case 5: n.nodes = rng.chance(0.5) ? [] : [...(n.nodes ?? []), randomNode(rng, 0, 2)]; break;
    case 6: {
      // Wrap in a deep chain of nots: exercises the depth limit.
      let w: FilterNode = n.nodes?.[0] ?? { key: 'a', cmp: 'ex' };
      for (let i = rng.range(1, 40); i > 0; i--) w = { op: 'not', nodes: [w] };
      n.nodes = [w];
      n.op = rng.pick(['and', 'or', 'not']);
      break;
    }
  }
  return copy;
}

// ---- the checks ----

/** Validates and, when valid, compiles and compares with the reference on random tags. */
function check(rng: Rng, f: FilterNode, label: string): boolean {
  let err: FilterValidationError | undefined;
  try {
    err = validateFilter(f);
  } catch (e) {
    assert.fail(`${label}: validateFilter threw ${String(e)}`);
  }
  const valid = refValid(f);
  assert.equal(err === undefined, valid, `${label}: validity ${JSON.stringify(f)} -> ${err?.message}`);
  if (!valid) {
    assert.equal(err?.code, 107);
    assert.throws(() => compileFilter(f), FilterValidationError, label);
    return false;
  }
  const p = compileFilter(f);
  for (let i = 0; i < 8; i++) {
    const tags = randomTags(rng);
    assert.equal(p(tags), refMatch(f, tags), `${label}: ${JSON.stringify(f)} on ${JSON.stringify(tags)}`);
  }
  return true;
}

test('random filters: validation agrees with the reference, predicates match the reference matcher', () => {
  let valid = 0;
  let total = 0;
  for (let seed = 1; seed <= 3000; seed++) {
    const rng = new Rng(seed);
    const f = randomNode(rng, 1, rng.range(0, 5));
    total++;
    if (check(rng, f, `seed ${seed}`)) valid++;
    for (let m = 0; m < 3; m++) {
      total++;
      if (check(rng, mutate(rng, f), `seed ${seed} mutation ${m}`)) valid++;
    }
  }
  // Both outcomes must be well represented, or the generator tests only one side.
  assert.ok(valid > total * 0.15 && valid < total * 0.85, `${valid} of ${total} valid`);
});

test('random filters survive both codecs with the same meaning', () => {
  for (let seed = 1; seed <= 600; seed++) {
    const rng = new Rng(seed * 7919);
    const f = seed % 3 === 0 ? mutate(rng, randomNode(rng, 1, 4)) : randomNode(rng, 1, 4);
    const cmd = { id: 1, subscribe: { channel: 'ch', tf: f } };
    for (const codec of [jsonCodec, protobufCodec]) {
      let tf: FilterNode | undefined;
      try {
        tf = codec.decodeCommands(codec.encodeCommand(cmd))[0]?.subscribe?.tf;
      } catch (e) {
        assert.fail(`seed ${seed} ${codec.type}: ${e instanceof CodecError ? 'CodecError' : 'threw'} ${String(e)}`);
      }
      assert.ok(tf, `seed ${seed} ${codec.type}: tf lost`);
      assert.equal(validateFilter(tf) === undefined, refValid(f), `seed ${seed} ${codec.type}: validity changed`);
      if (refValid(f)) {
        const p = compileFilter(tf);
        for (let i = 0; i < 4; i++) {
          const tags = randomTags(rng);
          assert.equal(p(tags), refMatch(f, tags), `seed ${seed} ${codec.type}`);
        }
      }
    }
  }
});

test('decimal comparison agrees with a BigInt reference on random and mutated numbers', () => {
  const rng = new Rng(42);
  let parsed = 0;
  for (let i = 0; i < 20000; i++) {
    const a = randomNumber(rng);
    const b = rng.chance(0.2) ? a.replace(/(\.\d*?)0*$/, '$1') + (a.includes('.') ? '0' : '') : randomNumber(rng);
    const want = refCompare(a, b);
    const got = compareDecimalText(a, b);
    if (Number.isNaN(want)) assert.ok(Number.isNaN(got), `${a} vs ${b}: expected unparseable, got ${got}`);
    else {
      parsed++;
      assert.equal(got, want, `${a} vs ${b}`);
    }
  }
  assert.ok(parsed > 10000, `only ${parsed} parseable pairs`);
});

test('documented differences from the Go server: strings past 41 characters starting "-+"', () => {
  // Centrifugo's decimal parser accepts "-+<digits>" when the text is longer than 41 characters
  // (its big-number path hands "+<digits>" to an integer parser that allows a sign) and reads it
  // as negative; shorter texts are rejected. Gyre rejects both: the documented grammar has at
  // most one sign. A filter with such a value never matches in Gyre.
  const long = '-+' + '1'.repeat(45);
  assert.ok(Number.isNaN(compareDecimalText(long, '0')));
  assert.ok(Number.isNaN(compareDecimalText('-+1', '0')));
  assert.equal(compileFilter({ key: 'p', cmp: 'lt', val: '0' })({ p: long }), false);
});
