// Mutated JSON input: every JSON decoder either returns a message or throws a
// CodecError('bad_request'), never a TypeError, RangeError or SyntaxError of its own.
// Seeds are fixed so every failure replays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CodecError, jsonCodec } from './codec.js';
import { decodeConnectRequestJson, decodeEmulationRequestJson, encodeEmulationRequestJson } from './json-codec.js';
import { fullCommands, fullPushes, fullReplies } from './codec.fixtures.js';
import { jsonPayloads, mutateMany, Rng } from './fuzz.fixtures.js';
import type { Command } from './types.js';
import { generate, protoType } from '../../test/helpers/proto-schema.js';

const JSON_PAYLOADS = ['{"a":1}', '[1,"x",null]', '"s"', '0', 'true', '{"deep":{"er":[{}]}}'];

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');
// Fragments spliced in by the mutator: structure, hostile numbers and escapes, bad UTF-8, deep nesting.
const EXTRAS: Buffer[] = [
  '{', '}', '[', ']', '"', ':', ',', '\n', '\\', 'null', 'true', '-', '1e999', '-0', '18446744073709551616', '9007199254740993',
  '4294967296', '-2147483649', '1.5', '"\\ud800"', '"\\u0000"', '"__proto__"', '{"__proto__":{"x":1}}', '"constructor"',
  '{"id":1}', '"connect":', '"subs":{"a":{}}', '"tags":{"a":1}', '"data":', '"tf":{"nodes":[', '[[[[[[[[[[', ']]]]]]]]]]',
  '[' .repeat(5000), '{"a":'.repeat(2000),
].map(enc).concat([Buffer.from([0xff]), Buffer.from([0xc0, 0x80]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0x00])]);

function decodeOrCodecError(decode: () => unknown, label: () => string): boolean {
  try {
    decode();
    return true;
  } catch (err) {
    if (!(err instanceof CodecError) || err.code !== 'bad_request') {
      assert.fail(`${label()}: threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    }
    return false;
  }
}

test('mutated JSON frames decode or fail with a bad_request CodecError', { timeout: 60_000 }, () => {
  const rng = new Rng(20261207);
  const commandType = protoType('Command');
  const commands: Buffer[] = fullCommands.map((c) => Buffer.from(jsonCodec.encodeCommand(c)));
  for (let i = 0; i < 60; i++) {
    const c = jsonPayloads(rng, generate(rng, commandType, { fill: 0.6, maxDepth: 2 }), JSON_PAYLOADS) as Command;
    commands.push(Buffer.from(jsonCodec.encodeCommand(c)));
  }
  const frames = [...commands, Buffer.concat([commands[0] as Buffer, enc('\n'), commands[1] as Buffer])];
  const replies = fullReplies.map((r) => Buffer.from(jsonCodec.encodeReply(r)));
  const pushes = fullPushes.map((p) => Buffer.from(jsonCodec.encodePush(p)));
  const connects = fullCommands.filter((c) => c.connect).map((c) => enc(JSON.stringify(JSON.parse(Buffer.from(jsonCodec.encodeCommand(c)).toString()).connect)));
  const emulation = [Buffer.from(encodeEmulationRequestJson({ node: 'n', session: 's', data: commands[0] as Buffer }))];
  const decoders: [string, (b: Buffer) => unknown, Buffer[]][] = [
    ['commands', (b) => jsonCodec.decodeCommands(b), frames],
    ['commands (64-byte limit)', (b) => jsonCodec.decodeCommands(b, 64), frames],
    ['replies', (b) => jsonCodec.decodeReplies(b), replies],
    ['pushes', (b) => jsonCodec.decodePushes(b), pushes],
    ['bare connect request', (b) => decodeConnectRequestJson(b), connects],
    ['emulation request', (b) => decodeEmulationRequestJson(b), emulation],
  ];
  let accepted = 0;
  let rejected = 0;
  for (const [name, decode, seeds] of decoders) {
    assert.ok(seeds.length > 0, name);
    if (!name.includes('limit')) for (const seed of seeds) assert.ok(decodeOrCodecError(() => decode(seed), () => `${name} seed`), `${name}: an unmutated seed decodes`);
    for (let i = 0; i < 4000; i++) {
      const input = mutateMany(rng, rng.pick(seeds), 3, EXTRAS);
      if (decodeOrCodecError(() => decode(input), () => `${name} #${i}: ${JSON.stringify(input.toString('latin1').slice(0, 300))}`)) accepted++;
      else rejected++;
    }
  }
  assert.ok(accepted > 500 && rejected > 5000, `accepted ${accepted}, rejected ${rejected}`);
});

test('type confusion in every field of a command is a bad_request CodecError', () => {
  // Each field of a full command replaced by a value of every other JSON type.
  const replacements = ['null', '0', '-1', '1.5', '1e400', '"s"', 'true', '[]', '{}', '[{}]', '{"a":[]}', '9007199254740993'];
  const values = (v: unknown, path: string[], out: string[][]): void => {
    out.push(path);
    if (typeof v === 'object' && v !== null) for (const k of Object.keys(v)) values((v as Record<string, unknown>)[k], [...path, k], out);
  };
  for (const c of fullCommands) {
    const doc = JSON.parse(Buffer.from(jsonCodec.encodeCommand(c)).toString()) as unknown;
    const paths: string[][] = [];
    values(doc, [], paths);
    for (const path of paths) {
      if (path.length === 0) continue;
      for (const r of replacements) {
        const copy = JSON.parse(JSON.stringify(doc)) as Record<string, unknown>;
        let parent: Record<string, unknown> = copy;
        for (const k of path.slice(0, -1)) parent = parent[k] as Record<string, unknown>;
        parent[path[path.length - 1] as string] = JSON.parse(r);
        decodeOrCodecError(() => jsonCodec.decodeCommands(enc(JSON.stringify(copy))), () => `${path.join('.')} = ${r}`);
      }
    }
  }
});

test('deeply nested payloads and filters fail with a CodecError, not a stack overflow', () => {
  const n = 200_000;
  const frames = [
    '{"id":1,"publish":{"channel":"a","data":' + '['.repeat(n) + ']'.repeat(n) + '}}',
    '{"id":1,"subscribe":{"channel":"a","tf":' + '{"nodes":['.repeat(n) + '{}' + ']}'.repeat(n) + '}}',
    '{"id":1,"connect":{"subs":' + '{"a":'.repeat(n) + '{}' + '}'.repeat(n) + '}}',
  ];
  for (const f of frames) decodeOrCodecError(() => jsonCodec.decodeCommands(enc(f)), () => f.slice(0, 60));
  // The filter is refused by the decode cap, not by whatever the runtime does at that depth.
  assert.throws(() => jsonCodec.decodeCommands(enc(frames[1] as string)), (e: unknown) => e instanceof CodecError && e.message.includes('nested deeper than'));
});
