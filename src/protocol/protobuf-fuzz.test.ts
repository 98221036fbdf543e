// Mutated and hostile Protobuf input: the decoders either return a message or throw a
// CodecError('bad_request'), never anything else; they never allocate by a claimed length and
// never return more than the input could hold. Seeds are fixed so every failure replays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { CodecError, protobufCodec } from './codec.js';
import { decodeConnectRequestMessage, decodeEmulationRequest } from './protobuf-codec.js';
import { FILTER_DECODE_LIMITS } from './tag-filter.js';
import { HOSTILE_VARINTS, mutateMany, Rng } from './fuzz.fixtures.js';
import { generate, oracleEncode, protoType } from '../../test/helpers/proto-schema.js';

const delimit = (body: Uint8Array): Buffer => Buffer.from(protobuf.Writer.create().bytes(body).finish());

/** Runs `decode`; a throw must be a bad_request CodecError. Returns the result or undefined. */
function decodeOrCodecError(decode: () => unknown, label: () => string): unknown {
  try {
    return decode();
  } catch (err) {
    if (!(err instanceof CodecError) || err.code !== 'bad_request') {
      assert.fail(`${label()}: threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    }
    return undefined;
  }
}

/** Strings, byte arrays and objects in a decoded value, weighted by size: bounded by the input. */
function weight(v: unknown): number {
  if (typeof v === 'string') return v.length;
  if (v instanceof Uint8Array) return v.length;
  if (typeof v !== 'object' || v === null) return 0;
  let n = 1;
  for (const k of Object.keys(v)) n += weight((v as Record<string, unknown>)[k]);
  return n;
}

/** Seed frames: random messages encoded by protobufjs, one to three items per frame. */
function seedFrames(rng: Rng, name: string, count: number): Buffer[] {
  const type = protoType(name);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const items: Buffer[] = [];
    for (let k = 1 + rng.int(3); k > 0; k--) items.push(delimit(oracleEncode(type, generate(rng, type, { fill: 0.5, maxDepth: 2 }))));
    out.push(Buffer.concat(items));
  }
  return out;
}

function seedBare(rng: Rng, name: string, count: number): Buffer[] {
  const type = protoType(name);
  return Array.from({ length: count }, () => Buffer.from(oracleEncode(type, generate(rng, type, { fill: 0.7, maxDepth: 2 }))));
}

const DECODERS: [string, (b: Buffer) => unknown, (rng: Rng) => Buffer[]][] = [
  ['commands', (b) => protobufCodec.decodeCommands(b), (rng) => seedFrames(rng, 'Command', 60)],
  ['commands (64-byte limit)', (b) => protobufCodec.decodeCommands(b, 64), (rng) => seedFrames(rng, 'Command', 20)],
  ['replies', (b) => protobufCodec.decodeReplies(b), (rng) => seedFrames(rng, 'Reply', 40)],
  ['pushes', (b) => protobufCodec.decodePushes(b), (rng) => seedFrames(rng, 'Push', 40)],
  ['emulation request', (b) => decodeEmulationRequest(b), (rng) => seedBare(rng, 'EmulationRequest', 20)],
  ['bare connect request', (b) => decodeConnectRequestMessage(b), (rng) => seedBare(rng, 'ConnectRequest', 30)],
];

// Fragments spliced in by the mutator: hostile lengths, and tags of every wire type, groups included.
const EXTRAS = [...HOSTILE_VARINTS, Buffer.from([0x0b]), Buffer.from([0x0c]), Buffer.from([0x0d, 1, 2, 3, 4]), Buffer.from([0x09, 1, 2, 3, 4, 5, 6, 7, 8]), Buffer.from([0x00]), Buffer.from([0x22, 0x00]), Buffer.from([0x0f])];

test('mutated frames decode or fail with a bad_request CodecError, and never outweigh their input', { timeout: 60_000 }, () => {
  let accepted = 0;
  let rejected = 0;
  for (const [name, decode, seeds] of DECODERS) {
    const rng = new Rng(name.length * 1000 + 17);
    const frames = seeds(rng);
    for (let i = 0; i < 4000; i++) {
      const input = mutateMany(rng, rng.pick(frames), 4, EXTRAS);
      const label = (): string => `${name} #${i}: ${input.toString('hex').slice(0, 400)}`;
      const out = decodeOrCodecError(() => decode(input), label);
      if (out === undefined) rejected++;
      else {
        accepted++;
        assert.ok(weight(out) <= 2 * input.length + 8, `${label()}: decoded weight ${weight(out)} for ${input.length} input bytes`);
      }
    }
  }
  // Both outcomes occur, so the mutations neither always break the frame nor never do.
  assert.ok(accepted > 1000 && rejected > 1000, `accepted ${accepted}, rejected ${rejected}`);
});

test('lengths claiming 2^31 bytes and more fail at once without allocating', () => {
  const before = process.memoryUsage().arrayBuffers;
  const small = Buffer.from([0x08, 0x01]);
  for (const huge of HOSTILE_VARINTS) {
    const label = huge.toString('hex');
    // As the frame item's own length prefix.
    assert.throws(() => protobufCodec.decodeCommands(Buffer.concat([huge, small])), CodecError, `prefix ${label}`);
    assert.throws(() => protobufCodec.decodeReplies(Buffer.concat([huge, small])), CodecError, `prefix ${label}`);
    // As the length of a string, a bytes field, a sub-message, a map entry and an unknown field.
    for (const field of [[0x22, 0x0a], [0x22, 0x12], [0x22, 0x1a], [0x2a, 0x6a], [0xfa, 0x01]]) {
      const body = Buffer.concat([Buffer.from([0x08, 0x01]), Buffer.from(field), huge, Buffer.from('abc')]);
      const frame = Buffer.concat([Buffer.from([body.length]), body]);
      assert.throws(() => protobufCodec.decodeCommands(frame), CodecError, `field ${Buffer.from(field).toString('hex')} ${label}`);
    }
    assert.throws(() => decodeEmulationRequest(Buffer.concat([Buffer.from([0x1a]), huge, small])), CodecError, `emulation ${label}`);
    assert.throws(() => decodeConnectRequestMessage(Buffer.concat([Buffer.from([0x12]), huge, small])), CodecError, `connect ${label}`);
  }
  const grown = process.memoryUsage().arrayBuffers - before;
  assert.ok(grown < 16 * 1024 * 1024, `array buffers grew by ${grown} bytes`);
});

/** `depth` FilterNodes, each the only child (field 6) of the one around it, built outside in. */
function nestedNodes(depth: number): Buffer {
  const varintLength = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4);
  const sizes: number[] = [];
  let size = 0;
  for (let i = 0; i < depth; i++) {
    sizes.push(size);
    size += 1 + varintLength(size);
  }
  const w = protobuf.Writer.create();
  for (let i = depth - 1; i >= 0; i--) w.uint32(0x32).uint32(sizes[i] as number);
  return Buffer.from(w.finish());
}

test('deeply nested filter nodes fail with a CodecError at the decode cap, not a stack overflow', () => {
  const cap = FILTER_DECODE_LIMITS.maxDepth;
  for (const depth of [cap - 1, cap, cap + 1, 1000, 20_000, 100_000]) {
    // nestedNodes(n) is the content of the root node: n levels below it.
    const inner = nestedNodes(depth - 1);
    const subscribe = protobuf.Writer.create().uint32(0x6a).bytes(inner).finish();
    const command = protobuf.Writer.create().uint32(0x08).uint32(1).uint32(0x2a).bytes(subscribe).finish();
    if (depth <= cap) {
      // Within the cap the chain decodes whole: the builder above is right.
      const out = protobufCodec.decodeCommands(delimit(command));
      let node = out[0]?.subscribe?.tf;
      let levels = 0;
      while (node) {
        levels++;
        node = node.nodes?.[0];
      }
      assert.equal(levels, depth);
    } else {
      assert.throws(
        () => protobufCodec.decodeCommands(delimit(command)),
        (e: unknown) => e instanceof CodecError && e.message.includes(`nested deeper than ${cap} levels`),
        `depth ${depth}`,
      );
    }
  }
});

test('groups and reserved wire types are rejected with a CodecError', () => {
  for (const wire of [[0x0b, 0x0c], [0x0e], [0x0f], [0x23]]) {
    const body = Buffer.concat([Buffer.from([0x08, 0x01]), Buffer.from(wire)]);
    assert.throws(() => protobufCodec.decodeCommands(delimit(body)), CodecError, Buffer.from(wire).toString('hex'));
  }
});
