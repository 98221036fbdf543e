// SubscribeRequest.tf (field 13, a FilterNode) through both codecs: JSON decoding, Protobuf
// decoding of messages encoded by protobufjs from test/fixtures/proto/client.proto (the oracle),
// and the decode caps (FILTER_DECODE_LIMITS): the cap decodes, one more is a CodecError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { CodecError, jsonCodec, protobufCodec } from './codec.js';
import { decodeConnectRequestJson } from './json-codec.js';
import { decodeConnectRequestMessage } from './protobuf-codec.js';
import { compileFilter, FILTER_DECODE_LIMITS, FILTER_LIMITS, validateFilter, type FilterNode } from './tag-filter.js';
import type { Command } from './types.js';
import { canonical, oracleDecode, oracleEncode, protoType } from '../../test/helpers/proto-schema.js';

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');
const delimit = (body: Uint8Array): Buffer => Buffer.from(protobuf.Writer.create().bytes(body).finish());
const Command_ = protoType('Command');
const FilterNode_ = protoType('FilterNode');

const SPEC_FILTERS: FilterNode[] = [
  { key: 'ticker', cmp: 'eq', val: 'BTC' },
  { key: 'ticker', cmp: 'in', vals: ['BTC', 'ETH', 'SOL'] },
  { op: 'and', nodes: [{ key: 'ticker', cmp: 'eq', val: 'BTC' }, { key: 'price', cmp: 'gt', val: '50000' }] },
  { op: 'not', nodes: [{ key: 'team', cmp: 'ex' }] },
  { op: 'or', nodes: [{ op: 'and', nodes: [{ key: 'a', cmp: 'sw', val: 'x' }, { key: 'b', cmp: 'nin', vals: ['', 'q'] }] }, { key: '', cmp: 'nex' }] },
];

function jsonTf(tf: unknown): FilterNode | undefined {
  const [cmd] = jsonCodec.decodeCommands(enc(JSON.stringify({ id: 1, subscribe: { channel: 'ch', tf } })));
  return cmd?.subscribe?.tf;
}

function protoTf(tf: unknown): FilterNode | undefined {
  const body = oracleEncode(Command_, { id: 1, subscribe: { channel: 'ch', tf } });
  const [cmd] = protobufCodec.decodeCommands(delimit(body));
  return cmd?.subscribe?.tf;
}

test('JSON: tf decodes to the FilterNode the client sent, in subscribe and in connect subs', () => {
  for (const f of SPEC_FILTERS) {
    assert.deepEqual(jsonTf(f), f);
    const connect = decodeConnectRequestJson(enc(JSON.stringify({ subs: { ch: { tf: f } } })));
    assert.deepEqual(connect.subs?.['ch']?.tf, f);
  }
  // null means absent; unknown keys are ignored.
  assert.deepEqual(jsonTf({ op: null, key: 'k', cmp: 'ex', val: null, vals: null, nodes: null, extra: 1 }), { key: 'k', cmp: 'ex' });
  for (const bad of [{ op: 1 }, { vals: 'a' }, { vals: [1] }, { nodes: {} }, { nodes: ['x'] }, 'filter', []]) {
    assert.throws(() => jsonTf(bad), CodecError, JSON.stringify(bad));
  }
});

test('Protobuf: tf encoded by protobufjs decodes field for field; our encoding reads back in protobufjs', () => {
  for (const f of SPEC_FILTERS) {
    assert.deepEqual(canonical(FilterNode_, protoTf(f)), canonical(FilterNode_, f), JSON.stringify(f));
    const item = protobufCodec.encodeCommand({ id: 1, subscribe: { channel: 'ch', tf: f } });
    const back = oracleDecode(Command_, protobuf.Reader.create(item).bytes());
    assert.deepEqual(canonical(FilterNode_, (back['subscribe'] as { tf: unknown }).tf), canonical(FilterNode_, f));
    const connect = decodeConnectRequestMessage(oracleEncode(protoType('ConnectRequest'), { subs: { ch: { tf: f } } }));
    assert.deepEqual(canonical(FilterNode_, connect.subs?.['ch']?.tf), canonical(FilterNode_, f));
  }
  // Field 13 of SubscribeRequest, wire type 2: the raw tag byte is 0x6a.
  const raw = Buffer.from(oracleEncode(protoType('SubscribeRequest'), { tf: { key: 'k', cmp: 'ex' } }));
  assert.equal(raw[0], 0x6a);
  // A present but empty tf decodes as the empty node, which validation then rejects.
  assert.deepEqual(protoTf({}), {});
  assert.ok(validateFilter(protoTf({}) as FilterNode));
});

test('decoded filters compile and match the same in both codecs', () => {
  const f = SPEC_FILTERS[2] as FilterNode;
  for (const tf of [jsonTf(f), protoTf(f)]) {
    const p = compileFilter(tf as FilterNode);
    assert.equal(p({ ticker: 'BTC', price: '50000.01' }), true);
    assert.equal(p({ ticker: 'BTC', price: '50000.00' }), false);
  }
});

/** not(not(...(leaf))) with `depth` levels. */
function chain(depth: number): FilterNode {
  let n: FilterNode = { key: 'a', cmp: 'ex' };
  for (let i = 1; i < depth; i++) n = { op: 'not', nodes: [n] };
  return n;
}

const depthOf = (n: FilterNode | undefined): number => {
  let d = 0;
  for (let x = n; x; x = x.nodes?.[0]) d++;
  return d;
};

/** One `or` whose children are `count - 1` leaves: `count` nodes in all. */
const wide = (count: number): FilterNode => ({ op: 'or', nodes: Array.from({ length: count - 1 }, () => ({ key: 'k', cmp: 'ex' })) });
/** A leaf with `count` vals. */
const manyVals = (count: number): FilterNode => ({ key: 'k', cmp: 'in', vals: Array.from({ length: count }, (_, i) => String(i)) });

function assertCodecError(fn: () => unknown, fragment: string, label: string): void {
  assert.throws(fn, (e: unknown) => e instanceof CodecError && e.code === 'bad_request' && e.message.includes(fragment), label);
}

test('decode caps: the cap decodes, one past it is a CodecError, in both codecs', () => {
  assert.ok(FILTER_DECODE_LIMITS.maxDepth > FILTER_LIMITS.maxDepth && FILTER_DECODE_LIMITS.maxNodes > FILTER_LIMITS.maxNodes && FILTER_DECODE_LIMITS.maxVals > FILTER_LIMITS.maxVals);
  for (const [name, decode] of [['json', jsonTf], ['protobuf', protoTf]] as const) {
    assert.equal(depthOf(decode(chain(FILTER_DECODE_LIMITS.maxDepth))), FILTER_DECODE_LIMITS.maxDepth, `${name} depth at cap`);
    assertCodecError(() => decode(chain(FILTER_DECODE_LIMITS.maxDepth + 1)), 'nested deeper', `${name} depth past cap`);
    assert.equal(decode(wide(FILTER_DECODE_LIMITS.maxNodes))?.nodes?.length, FILTER_DECODE_LIMITS.maxNodes - 1, `${name} nodes at cap`);
    assertCodecError(() => decode(wide(FILTER_DECODE_LIMITS.maxNodes + 1)), 'nodes', `${name} nodes past cap`);
    assert.equal(decode(manyVals(FILTER_DECODE_LIMITS.maxVals))?.vals?.length, FILTER_DECODE_LIMITS.maxVals, `${name} vals at cap`);
    assertCodecError(() => decode(manyVals(FILTER_DECODE_LIMITS.maxVals + 1)), 'vals', `${name} vals past cap`);
    // Between the validation limits and the decode caps: decoded, then rejected by validation (error 107).
    const tooDeep = decode(chain(FILTER_LIMITS.maxDepth + 1)) as FilterNode;
    assert.ok(validateFilter(tooDeep)?.reason.includes('nesting deeper'), `${name} validation depth`);
  }
});

test('the caps count per filter: each subscribe request of a connect gets its own budget', () => {
  const subs: Record<string, { tf: FilterNode }> = {};
  for (let i = 0; i < 3; i++) subs[`ch${i}`] = { tf: wide(FILTER_DECODE_LIMITS.maxNodes) };
  const json = decodeConnectRequestJson(enc(JSON.stringify({ subs })));
  assert.equal(Object.keys(json.subs ?? {}).length, 3);
  const proto = decodeConnectRequestMessage(oracleEncode(protoType('ConnectRequest'), { subs }));
  assert.equal(Object.keys(proto.subs ?? {}).length, 3);
  const cmds: Command[] = jsonCodec.decodeCommands(
    enc([1, 2].map((id) => JSON.stringify({ id, subscribe: { channel: `c${id}`, tf: wide(FILTER_DECODE_LIMITS.maxNodes) } })).join('\n')),
  );
  assert.equal(cmds.length, 2);
});
