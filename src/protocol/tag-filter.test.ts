// Tags filter semantics (subscriptions.md §4.2), table-driven: one row per operator case,
// including missing tags, the in/nin empty-string quirk and decimal parsing edge cases; then the
// validation rules and limits, each failure with its message and error code 107.
import { test } from 'node:test';
import assert from 'node:assert/strict';
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
import { setEntry } from './set-entry.js';

type Tags = Record<string, string> | undefined;
const leaf = (key: string, cmp: string, val?: string, vals?: string[]): FilterNode => ({ key, cmp, ...(val !== undefined ? { val } : {}), ...(vals ? { vals } : {}) });

/** [label, filter, tags, expected match]. */
const SEMANTICS: Array<[string, FilterNode, Tags, boolean]> = [
  ['eq equal', leaf('t', 'eq', 'BTC'), { t: 'BTC' }, true],
  ['eq different', leaf('t', 'eq', 'BTC'), { t: 'ETH' }, false],
  ['eq missing', leaf('t', 'eq', 'BTC'), { x: 'BTC' }, false],
  ['eq no tags', leaf('t', 'eq', 'BTC'), undefined, false],
  ['eq is case sensitive', leaf('t', 'eq', 'BTC'), { t: 'btc' }, false],
  ['neq different', leaf('t', 'neq', 'BTC'), { t: 'ETH' }, true],
  ['neq equal', leaf('t', 'neq', 'BTC'), { t: 'BTC' }, false],
  ['neq missing', leaf('t', 'neq', 'BTC'), {}, true],
  ['neq no tags', leaf('t', 'neq', 'BTC'), undefined, true],
  ['in member', leaf('t', 'in', undefined, ['BTC', 'ETH', 'SOL']), { t: 'ETH' }, true],
  ['in non member', leaf('t', 'in', undefined, ['BTC', 'ETH']), { t: 'SOL' }, false],
  ['in missing', leaf('t', 'in', undefined, ['BTC']), {}, false],
  ['in missing counts as empty string', leaf('t', 'in', undefined, ['BTC', '']), {}, true],
  ['in no tags counts as empty string', leaf('t', 'in', undefined, ['']), undefined, true],
  ['in empty tag value', leaf('t', 'in', undefined, ['']), { t: '' }, true],
  ['nin non member', leaf('t', 'nin', undefined, ['BTC', 'ETH']), { t: 'SOL' }, true],
  ['nin member', leaf('t', 'nin', undefined, ['BTC', 'ETH']), { t: 'BTC' }, false],
  ['nin missing', leaf('t', 'nin', undefined, ['BTC']), {}, true],
  ['nin missing counts as empty string', leaf('t', 'nin', undefined, ['BTC', '']), {}, false],
  ['ex present', leaf('t', 'ex'), { t: 'x' }, true],
  ['ex present and empty', leaf('t', 'ex'), { t: '' }, true],
  ['ex missing', leaf('t', 'ex'), { u: 'x' }, false],
  ['ex empty key present', leaf('', 'ex'), { '': 'x' }, true],
  ['ex empty key missing', leaf('', 'ex'), { a: 'x' }, false],
  ['nex missing', leaf('t', 'nex'), {}, true],
  ['nex no tags', leaf('t', 'nex'), undefined, true],
  ['nex present', leaf('t', 'nex'), { t: '' }, false],
  ['nex empty key', leaf('', 'nex'), { '': '' }, false],
  ['sw prefix', leaf('t', 'sw', 'ab'), { t: 'abc' }, true],
  ['sw whole', leaf('t', 'sw', 'abc'), { t: 'abc' }, true],
  ['sw not prefix', leaf('t', 'sw', 'bc'), { t: 'abc' }, false],
  ['sw missing', leaf('t', 'sw', 'a'), {}, false],
  ['ew suffix', leaf('t', 'ew', 'bc'), { t: 'abc' }, true],
  ['ew not suffix', leaf('t', 'ew', 'ab'), { t: 'abc' }, false],
  ['ew missing', leaf('t', 'ew', 'c'), {}, false],
  ['ct middle', leaf('t', 'ct', 'b'), { t: 'abc' }, true],
  ['ct absent', leaf('t', 'ct', 'x'), { t: 'abc' }, false],
  ['ct longer than value', leaf('t', 'ct', 'abcd'), { t: 'abc' }, false],
  ['ct missing', leaf('t', 'ct', 'a'), {}, false],
  ['gt larger', leaf('p', 'gt', '50000'), { p: '50001' }, true],
  ['gt equal', leaf('p', 'gt', '50000'), { p: '50000' }, false],
  ['gt smaller', leaf('p', 'gt', '50000'), { p: '49999.99' }, false],
  ['gte equal', leaf('p', 'gte', '10.5'), { p: '10.50' }, true],
  ['lte equal with padding', leaf('p', 'lte', '10.50'), { p: '10.5' }, true],
  ['lt equal', leaf('p', 'lt', '10.5'), { p: '10.500' }, false],
  ['lt smaller', leaf('p', 'lt', '10.5'), { p: '10.49' }, true],
  ['gt missing', leaf('p', 'gt', '1'), {}, false],
  ['lt missing', leaf('p', 'lt', '1'), {}, false],
  ['lte no tags', leaf('p', 'lte', '1'), undefined, false],
  ['gt negative', leaf('p', 'gt', '-5'), { p: '-4.9' }, true],
  ['gt negative larger magnitude', leaf('p', 'gt', '-5'), { p: '-5.1' }, false],
  ['lt across zero', leaf('p', 'lt', '0'), { p: '-0.0001' }, true],
  ['minus zero equals zero', leaf('p', 'gte', '0'), { p: '-0' }, true],
  ['minus zero not below zero', leaf('p', 'lt', '0'), { p: '-0.000' }, false],
  ['plus sign', leaf('p', 'gte', '+5'), { p: '5' }, true],
  ['leading zeros', leaf('p', 'lte', '7'), { p: '0007.0' }, true],
  ['beyond 2^53 exact', leaf('p', 'gt', '9007199254740992'), { p: '9007199254740993' }, true],
  ['long fraction exact', leaf('p', 'gt', '0.1000000000000000001'), { p: '0.1' }, false],
  ['19 fraction digits parse', leaf('p', 'gt', '0'), { p: '0.0000000000000000001' }, true],
  ['20 fraction digits are unparseable', leaf('p', 'gt', '0'), { p: '0.00000000000000000001' }, false],
  ['20 fraction digits unparseable even if zero', leaf('p', 'lte', '1'), { p: '0.00000000000000000000' }, false],
  ['many integer digits parse', leaf('p', 'gt', '1'), { p: '1' + '0'.repeat(150) }, true],
  ['exponent unparseable', leaf('p', 'gt', '1'), { p: '1e3' }, false],
  ['exponent unparseable (lt too)', leaf('p', 'lt', '1e9'), { p: '0' }, false],
  ['leading dot unparseable', leaf('p', 'gt', '0'), { p: '.5' }, false],
  ['trailing dot unparseable', leaf('p', 'gt', '0'), { p: '5.' }, false],
  ['sign only unparseable', leaf('p', 'lt', '0'), { p: '-' }, false],
  ['sign before dot unparseable', leaf('p', 'lt', '0'), { p: '-.5' }, false],
  ['double sign unparseable', leaf('p', 'lt', '0'), { p: '-+5' }, false],
  ['whitespace unparseable', leaf('p', 'gt', '0'), { p: ' 5' }, false],
  ['trailing whitespace unparseable', leaf('p', 'gt', '0'), { p: '5 ' }, false],
  ['empty tag unparseable', leaf('p', 'lt', '1'), { p: '' }, false],
  ['hex unparseable', leaf('p', 'gt', '0'), { p: '0x10' }, false],
  ['underscore unparseable', leaf('p', 'gt', '0'), { p: '1_000' }, false],
  ['Infinity unparseable', leaf('p', 'gt', '0'), { p: 'Infinity' }, false],
  ['NaN unparseable', leaf('p', 'lt', '0'), { p: 'NaN' }, false],
  ['non-ASCII digits unparseable', leaf('p', 'gt', '0'), { p: '١' }, false],
  ['unparseable filter value never matches', leaf('p', 'gt', 'abc'), { p: '5' }, false],
  ['unparseable filter value never matches (lt)', leaf('p', 'lt', '1e9'), { p: '5' }, false],
  ['prototype key missing', leaf('constructor', 'ex'), {}, false],
  ['prototype key nex', leaf('toString', 'nex'), { a: 'b' }, true],
  ['prototype key present', leaf('constructor', 'eq', 'x'), { constructor: 'x' }, true],
  ['__proto__ key missing', leaf('__proto__', 'ex'), {}, false],
  ['hasOwnProperty key in', leaf('hasOwnProperty', 'in', undefined, ['']), {}, true],
  // The logical operators.
  ['and all match', { op: 'and', nodes: [leaf('t', 'eq', 'BTC'), leaf('p', 'gt', '50000')] }, { t: 'BTC', p: '60000' }, true],
  ['and one fails', { op: 'and', nodes: [leaf('t', 'eq', 'BTC'), leaf('p', 'gt', '50000')] }, { t: 'BTC', p: '40000' }, false],
  ['and single child', { op: 'and', nodes: [leaf('t', 'ex')] }, { t: '' }, true],
  ['or one matches', { op: 'or', nodes: [leaf('t', 'eq', 'A'), leaf('t', 'eq', 'B')] }, { t: 'B' }, true],
  ['or none match', { op: 'or', nodes: [leaf('t', 'eq', 'A'), leaf('t', 'eq', 'B')] }, { t: 'C' }, false],
  ['or single child false', { op: 'or', nodes: [leaf('t', 'ex')] }, {}, false],
  ['not ex', { op: 'not', nodes: [leaf('team', 'ex')] }, {}, true],
  ['not ex present', { op: 'not', nodes: [leaf('team', 'ex')] }, { team: 'x' }, false],
  ['double not', { op: 'not', nodes: [{ op: 'not', nodes: [leaf('t', 'eq', 'a')] }] }, { t: 'a' }, true],
  [
    'nested and/or/not',
    { op: 'or', nodes: [{ op: 'and', nodes: [leaf('a', 'eq', '1'), { op: 'not', nodes: [leaf('b', 'ex')] }] }, leaf('c', 'sw', 'z')] },
    { a: '1' },
    true,
  ],
  [
    'nested and/or/not, inner not fails',
    { op: 'or', nodes: [{ op: 'and', nodes: [leaf('a', 'eq', '1'), { op: 'not', nodes: [leaf('b', 'ex')] }] }, leaf('c', 'sw', 'z')] },
    { a: '1', b: '', c: 'y' },
    false,
  ],
  // Fields a node kind does not use are ignored: children of a leaf, key/cmp of a logical node.
  ['leaf ignores nodes', { ...leaf('t', 'eq', 'a'), nodes: [{ op: 'bogus' }] }, { t: 'a' }, true],
  ['logical node ignores key and cmp', { op: 'and', key: 'x', cmp: 'nope', nodes: [leaf('t', 'ex')] }, { t: 'a' }, true],
];

test('every operator matches as subscriptions.md §4.2 specifies', () => {
  for (const [label, filter, tags, expected] of SEMANTICS) {
    assert.equal(validateFilter(filter), undefined, `${label}: must be valid`);
    assert.equal(compileFilter(filter)(tags), expected, label);
  }
});

test('tags decoded with an own __proto__ key are read as tags, not as the prototype', () => {
  const tags: Record<string, string> = {};
  setEntry(tags, '__proto__', 'v');
  assert.equal(compileFilter(leaf('__proto__', 'eq', 'v'))(tags), true);
  assert.equal(compileFilter(leaf('__proto__', 'ex'))(tags), true);
  assert.equal(compileFilter(leaf('__proto__', 'ex'))({}), false);
  const bare = Object.create(null) as Record<string, string>;
  bare['k'] = '5';
  assert.equal(compileFilter(leaf('k', 'gte', '5'))(bare), true);
  assert.equal(compileFilter(leaf('constructor', 'nex'))(bare), true);
});

test('and/or short-circuit in child order; the predicate is independent of the input tree', () => {
  const reads: string[] = [];
  const tags = new Proxy({ a: '1', b: '2' } as Record<string, string>, {
    get(target, key) {
      if (typeof key === 'string') reads.push(key);
      return target[key as string];
    },
  });
  compileFilter({ op: 'and', nodes: [leaf('a', 'eq', 'x'), leaf('b', 'eq', '2')] })(tags);
  assert.deepEqual(reads, ['a']);
  reads.length = 0;
  compileFilter({ op: 'or', nodes: [leaf('a', 'eq', '1'), leaf('b', 'eq', '2')] })(tags);
  assert.deepEqual(reads, ['a']);

  const tree: FilterNode = { op: 'or', nodes: [leaf('t', 'in', undefined, ['a']), leaf('p', 'gt', '1')] };
  const p = compileFilter(tree);
  (tree.nodes as FilterNode[])[0] = leaf('t', 'eq', 'zzz');
  ((tree.nodes as FilterNode[])[1] as FilterNode).val = '100';
  assert.equal(p({ t: 'a' }), true);
  assert.equal(p({ p: '2' }), true);
});

test('decimal comparison is exact and follows the documented grammar', () => {
  const cases: Array<[string, string, number]> = [
    ['1', '1', 0],
    ['1.0', '1', 0],
    ['01.10', '1.1', 0],
    ['-0', '0', 0],
    ['+0.0', '-0.00', 0],
    ['2', '10', -1],
    ['10', '9.999', 1],
    ['-10', '-9', -1],
    ['-1', '1', -1],
    ['0.5', '0.05', 1],
    ['0.05', '0.5', -1],
    ['123456789012345678901234567890', '123456789012345678901234567891', -1],
    ['0.1234567890123456789', '0.1234567890123456788', 1],
  ];
  for (const [a, b, want] of cases) {
    assert.equal(compareDecimalText(a, b), want, `${a} vs ${b}`);
    assert.equal(compareDecimalText(b, a), -want || 0, `${b} vs ${a}`);
  }
  assert.ok(Number.isNaN(compareDecimalText('1', '0.' + '1'.repeat(DECIMAL_MAX_FRACTION_DIGITS + 1))));
  assert.equal(compareDecimalText('1', '0.' + '1'.repeat(DECIMAL_MAX_FRACTION_DIGITS)), 1);
  const longest = '9'.repeat(DECIMAL_MAX_LENGTH);
  assert.equal(compareDecimalText(longest, '1'), 1);
  assert.ok(Number.isNaN(compareDecimalText('9' + longest, '1')));
  assert.ok(Number.isNaN(compareDecimalText('-' + longest, '1')), 'the sign counts toward the length');
});

/** [label, filter, reason fragment, path]. */
const INVALID: Array<[string, unknown, string, string]> = [
  ['eq without val', { key: 'a', cmp: 'eq' }, 'eq comparison requires val', 'tf'],
  ['in with val', { key: 'a', cmp: 'in', val: 'x' }, 'in comparison requires non-empty vals', 'tf'],
  ['in with val and vals', { key: 'a', cmp: 'in', val: 'x', vals: ['y'] }, 'in comparison must not use val', 'tf'],
  ['nin with empty vals', { key: 'a', cmp: 'nin', vals: [] }, 'nin comparison requires non-empty vals', 'tf'],
  ['eq with vals', { key: 'a', cmp: 'eq', val: 'x', vals: ['y'] }, 'eq comparison must not use vals', 'tf'],
  ['gt without val', { key: 'a', cmp: 'gt' }, 'gt comparison requires val', 'tf'],
  ['sw with empty val', { key: 'a', cmp: 'sw', val: '' }, 'sw comparison requires val', 'tf'],
  ['ex with val', { key: 'a', cmp: 'ex', val: 'x' }, 'ex comparison must not use val or vals', 'tf'],
  ['nex with vals', { key: 'a', cmp: 'nex', vals: ['x'] }, 'nex comparison must not use val or vals', 'tf'],
  ['not with no child', { op: 'not', nodes: [] }, 'not node must have exactly one child', 'tf'],
  ['not with two children', { op: 'not', nodes: [leaf('a', 'ex'), leaf('b', 'ex')] }, 'not node must have exactly one child', 'tf'],
  ['and with no child', { op: 'and' }, 'and node must have at least one child', 'tf'],
  ['or with no child', { op: 'or', nodes: [] }, 'or node must have at least one child', 'tf'],
  ['unknown op', { op: 'xor', nodes: [leaf('a', 'ex')] }, 'invalid op "xor"', 'tf'],
  ['op is case sensitive', { op: 'AND', nodes: [leaf('a', 'ex')] }, 'invalid op "AND"', 'tf'],
  ['leaf without key', { cmp: 'eq', val: 'x' }, 'leaf node requires key', 'tf'],
  ['unknown cmp', { key: 'a', cmp: 'like', val: 'x' }, 'unknown comparison operator "like"', 'tf'],
  ['leaf without cmp', { key: 'a', val: 'x' }, 'leaf node must have cmp set', 'tf'],
  ['empty node', {}, 'leaf node must have cmp set', 'tf'],
  ['bad child path', { op: 'and', nodes: [leaf('a', 'ex'), { op: 'or', nodes: [leaf('b', 'ex'), { key: 'c', cmp: 'eq' }] }] }, 'eq comparison requires val', 'tf.nodes[1].nodes[1]'],
  ['child of not', { op: 'not', nodes: [{ op: 'and', nodes: [] }] }, 'and node must have at least one child', 'tf.nodes[0]'],
  ['null child', { op: 'and', nodes: [null] }, 'node must be an object', 'tf.nodes[0]'],
];

test('invalid filters are rejected with a clear reason, their path and code 107', () => {
  for (const [label, filter, reason, path] of INVALID) {
    const err = validateFilter(filter as FilterNode);
    assert.ok(err instanceof FilterValidationError, `${label}: expected a validation error`);
    assert.equal(err.code, 107, label);
    assert.equal(err.path, path, label);
    assert.ok(err.reason.includes(reason), `${label}: reason "${err.reason}" lacks "${reason}"`);
    assert.equal(err.message, `invalid tags filter at ${path}: ${err.reason}`);
    assert.throws(() => compileFilter(filter as FilterNode), (e: unknown) => e instanceof FilterValidationError && e.path === path, label);
  }
});

test('the spec examples are valid', () => {
  const examples: FilterNode[] = [
    { key: 'ticker', cmp: 'eq', val: 'BTC' },
    { key: 'ticker', cmp: 'in', vals: ['BTC', 'ETH', 'SOL'] },
    { op: 'and', nodes: [{ key: 'ticker', cmp: 'eq', val: 'BTC' }, { key: 'price', cmp: 'gt', val: '50000' }] },
    { op: 'not', nodes: [{ key: 'team', cmp: 'ex' }] },
    { key: '', cmp: 'nex' },
    { key: 'p', cmp: 'gt', val: 'not a number' },
  ];
  for (const f of examples) assert.equal(validateFilter(f), undefined, JSON.stringify(f));
});

/** A chain of `depth` levels: not(not(...(leaf))). */
function chain(depth: number): FilterNode {
  let n: FilterNode = leaf('a', 'ex');
  for (let i = 1; i < depth; i++) n = { op: 'not', nodes: [n] };
  return n;
}

test('depth, node and vals limits: the limit passes, one more fails', () => {
  assert.equal(validateFilter(chain(FILTER_LIMITS.maxDepth)), undefined);
  assert.equal(compileFilter(chain(FILTER_LIMITS.maxDepth))({ a: '' }), FILTER_LIMITS.maxDepth % 2 === 1);
  const deep = validateFilter(chain(FILTER_LIMITS.maxDepth + 1));
  assert.ok(deep?.reason.includes(`nesting deeper than ${FILTER_LIMITS.maxDepth} levels`), deep?.message);

  const wide = (n: number): FilterNode => ({ op: 'or', nodes: Array.from({ length: n - 1 }, (_, i) => leaf(`k${i}`, 'ex')) });
  assert.equal(validateFilter(wide(FILTER_LIMITS.maxNodes)), undefined);
  const many = validateFilter(wide(FILTER_LIMITS.maxNodes + 1));
  assert.ok(many?.reason.includes(`more than ${FILTER_LIMITS.maxNodes} nodes`), many?.message);

  const half = Math.floor(FILTER_LIMITS.maxVals / 2);
  const vals = (extra: number): FilterNode => ({
    op: 'and',
    nodes: [leaf('a', 'in', undefined, Array.from({ length: half }, (_, i) => `v${i}`)), leaf('b', 'nin', undefined, Array.from({ length: FILTER_LIMITS.maxVals - half + extra }, (_, i) => `w${i}`))],
  });
  assert.equal(validateFilter(vals(0)), undefined);
  const tooMany = validateFilter(vals(1));
  assert.ok(tooMany?.reason.includes(`more than ${FILTER_LIMITS.maxVals} vals`), tooMany?.message);
  assert.equal(tooMany?.path, 'tf.nodes[1]');
});

test('hostile trees (cycles, huge depth) are rejected without unbounded recursion', () => {
  const cyclic: FilterNode = { op: 'and', nodes: [] };
  (cyclic.nodes as FilterNode[]).push(cyclic);
  assert.ok(validateFilter(cyclic) instanceof FilterValidationError);
  const wideCycle: FilterNode = { op: 'or', nodes: [] };
  for (let i = 0; i < 8; i++) (wideCycle.nodes as FilterNode[]).push(wideCycle);
  assert.ok(validateFilter(wideCycle) instanceof FilterValidationError);
  assert.ok(validateFilter(chain(200_000)) instanceof FilterValidationError);
});
