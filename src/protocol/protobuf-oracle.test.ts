// Cross-checks the hand-written Protobuf codec against protobufjs' reflection runtime, driven by
// test/fixtures/proto/client.proto (the upstream client protocol schema, field for field).
// Reflection is only an independent oracle here; the codec never uses it. Random messages come
// from a seeded PRNG, so a failure names its seed and replays exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { protobufCodec } from './codec.js';
import { decodeConnectRequestMessage, decodeEmulationRequest, encodeEmulationRequest, encodePushMessage } from './protobuf-codec.js';
import { fullCommands, fullPushes, fullReplies } from './codec.fixtures.js';
import { Rng } from './fuzz.fixtures.js';
import type { Command, EmulationRequest, Push, Reply } from './types.js';
import {
  allTypes,
  canonical,
  collectSetFields,
  fieldName,
  generate,
  oracleDecode,
  oracleEncode,
  protoType,
  prune,
} from '../../test/helpers/proto-schema.js';

/**
 * Fields of the upstream schema the codec does not carry yet. Decoding skips them as unknown
 * fields, encoding cannot produce them. A test below proves each one is still a gap, so this list
 * shrinks when the codec learns a field; it never hides a field silently.
 */
const KNOWN_GAPS: ReadonlyMap<string, string> = new Map([
  ['Reply.ping', 'protocol v2 pings are the empty Reply; the server never sends a PingResult'],
  ['Publication.prev_data', 'broker-internal delta base; never sent to clients'],
  ['ConnectResult.dict', 'dictionary compression (the Dictionary message) is not implemented'],
  ['SubRefreshResult.items', 'cached publications in track replies need keep_latest_data, which Gyre does not keep'],
]);
const GAPS = new Set(KNOWN_GAPS.keys());

/**
 * Sub-messages our decoder materializes when absent, because Gyre's types make them required
 * (a Join or Leave always carries its ClientInfo). Absent and empty compare equal there.
 */
const DEFAULTED = new Set(['Join.info', 'Leave.info']);
const decodedOpts = { defaulted: DEFAULTED };
const withoutGaps = { skip: GAPS, defaulted: DEFAULTED };
const withGaps = { defaulted: DEFAULTED };

/** Messages only reachable through known-gap fields. */
const GAP_ONLY_MESSAGES = new Set(['Dictionary']);

const delimit = (body: Uint8Array): Uint8Array => protobuf.Writer.create().bytes(body).finish();
const unprefixed = (item: Uint8Array): Uint8Array => protobuf.Reader.create(item).bytes();

interface Root {
  /** Our decoding of a bare protobufjs-encoded message. */
  decode(bytes: Uint8Array): unknown;
  /** Our bare encoding of a message object (undefined: no standalone encoder; covered via Command). */
  encode?(v: unknown): Uint8Array;
}

/** The top-level messages the codec reads or writes, and how. */
const ROOTS: Record<string, Root> = {
  Command: {
    decode: (b) => single(protobufCodec.decodeCommands(delimit(b))),
    encode: (v) => unprefixed(protobufCodec.encodeCommand(v as Command)),
  },
  Reply: {
    decode: (b) => single(protobufCodec.decodeReplies(delimit(b))),
    encode: (v) => unprefixed(protobufCodec.encodeReply(v as Reply)),
  },
  Push: {
    decode: (b) => single(protobufCodec.decodePushes(delimit(b))),
    encode: (v) => {
      const bare = encodePushMessage(v as Push);
      assert.deepEqual(Buffer.from(unprefixed(protobufCodec.encodePush(v as Push))), Buffer.from(bare), 'prefixed and bare Push agree');
      return bare;
    },
  },
  EmulationRequest: {
    decode: (b) => decodeEmulationRequest(b),
    encode: (v) => encodeEmulationRequest(v as EmulationRequest),
  },
  ConnectRequest: { decode: (b) => decodeConnectRequestMessage(b) },
};

function single<T>(list: T[]): T {
  assert.equal(list.length, 1, 'one message per frame item');
  return list[0] as T;
}

test('the schema fixture names every gap it should, and nothing else', () => {
  const fields = new Set(allTypes().flatMap((t) => t.fieldsArray.map((f) => fieldName(t, f))));
  for (const gap of GAPS) assert.ok(fields.has(gap), `known gap ${gap} is no field of client.proto`);
  const names = new Set(allTypes().map((t) => t.name));
  for (const m of GAP_ONLY_MESSAGES) assert.ok(names.has(m), `${m} is no message of client.proto`);
  for (const r of Object.keys(ROOTS)) assert.ok(names.has(r), `${r} is no message of client.proto`);
});

test('random messages: protobufjs encodes, we decode the same message (every field or a known gap)', () => {
  const seen = new Set<string>();
  for (const [name, root] of Object.entries(ROOTS)) {
    const type = protoType(name);
    for (let seed = 1; seed <= 200; seed++) {
      const rng = new Rng(seed * 7919 + name.length);
      // Every tenth message sets every field; the rest set about two thirds of them.
      const msg = generate(rng, type, { fill: seed % 10 === 0 ? 1 : 0.65, maxDepth: 3 });
      collectSetFields(type, msg, seen);
      const bytes = oracleEncode(type, msg);
      const decoded = root.decode(bytes);
      assert.deepEqual(canonical(type, decoded, decodedOpts), canonical(type, msg, withoutGaps), `${name} seed ${seed}`);
    }
  }
  // The generator reached every field of every message (gap-only messages included).
  for (const t of allTypes()) {
    for (const f of t.fieldsArray) assert.ok(seen.has(fieldName(t, f)), `no random message set ${fieldName(t, f)}`);
  }
});

test('random messages: we encode, protobufjs decodes the same message, byte for byte as canonical proto3', () => {
  for (const [name, root] of Object.entries(ROOTS)) {
    const { encode } = root;
    if (!encode) continue;
    const type = protoType(name);
    for (let seed = 1; seed <= 200; seed++) {
      const rng = new Rng(seed * 104729 + name.length);
      const msg = prune(type, generate(rng, type, { fill: seed % 10 === 0 ? 1 : 0.65, maxDepth: 3 }), GAPS);
      const bytes: Uint8Array = encode(msg);
      assert.deepEqual(canonical(type, oracleDecode(type, bytes)), canonical(type, msg), `${name} seed ${seed}`);
      // Field order by number, zeros omitted, present sub-messages written: protobufjs writes the same.
      assert.equal(Buffer.from(bytes).toString('hex'), Buffer.from(oracleEncode(type, msg)).toString('hex'), `${name} seed ${seed} bytes`);
    }
  }
});

test('each known gap is still a gap: its field is dropped, everything around it survives', () => {
  const b = (s: string): Buffer => Buffer.from(s);
  const samples: [gap: string, root: string, msg: Record<string, unknown>][] = [
    ['Reply.ping', 'Reply', { id: 3, ping: {} }],
    ['Publication.prev_data', 'Push', { channel: 'c', pub: { data: b('{"a":2}'), prev_data: b('{"a":1}'), offset: 9 } }],
    ['ConnectResult.dict', 'Reply', { id: 1, connect: { client: 'c1', dict: { id: 'd1', data: b('\x01\x02'), data_b64: 'AQI' } } }],
    ['SubRefreshResult.items', 'Reply', { id: 6, sub_refresh: { ttl: 30, items: [{ key: 'k', data: b('{}'), version: 2 }] } }],
  ];
  assert.deepEqual(samples.map((s) => s[0]).sort(), [...GAPS].sort(), 'one sample per known gap');
  for (const [gap, name, msg] of samples) {
    const type = protoType(name);
    const decoded = (ROOTS[name] as Root).decode(oracleEncode(type, msg));
    assert.deepEqual(canonical(type, decoded, decodedOpts), canonical(type, msg, withoutGaps), `${gap}: the rest of the message`);
    assert.notDeepEqual(canonical(type, decoded, decodedOpts), canonical(type, msg, withGaps), `${gap} now decodes: remove it from KNOWN_GAPS`);
  }
});

test('hand-written fixtures survive both directions', () => {
  const cases: [string, unknown[]][] = [['Command', fullCommands], ['Reply', fullReplies], ['Push', fullPushes]];
  for (const [name, list] of cases) {
    const type = protoType(name);
    const root = ROOTS[name] as Root;
    for (const m of list) {
      const label = `${name} ${JSON.stringify(m)}`;
      assert.deepEqual(canonical(type, oracleDecode(type, (root.encode as (v: unknown) => Uint8Array)(m))), canonical(type, m), label);
      assert.deepEqual(canonical(type, root.decode(oracleEncode(type, m as Record<string, unknown>)), decodedOpts), canonical(type, m, withGaps), label);
    }
  }
});
