import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CodecError, codecFor, jsonCodec, protobufCodec } from './codec.js';
import { decodeConnectRequestMessage, decodeEmulationRequest, encodeEmulationRequest, encodePushMessage } from './protobuf-codec.js';
import { b, fullCommands, fullPushes, fullReplies } from './codec.fixtures.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const toHex = (u: Uint8Array): string => Buffer.from(u).toString('hex').replace(/(..)(?!$)/g, '$1 ');
const isBadRequest = (err: unknown) => err instanceof CodecError && err.code === 'bad_request';

// protocol.md §14.2, every row.
test('§14.2: Command {id:1, connect:{name:"js"}}', () => {
  const bytes = '08 08 01 22 04 22 02 6a 73';
  assert.deepEqual(protobufCodec.decodeCommands(hex(bytes)), [{ id: 1, connect: { name: 'js' } }]);
  assert.equal(toHex(protobufCodec.encodeCommand({ id: 1, connect: { name: 'js' } })), bytes);
});

test('§14.2: Reply {id:1, connect:{client:"c1", version:"1", ping:25, pong:true}}', () => {
  const bytes = '0f 08 01 2a 0b 0a 02 63 31 12 01 31 38 19 40 01';
  const r = { id: 1, connect: { client: 'c1', version: '1', ping: 25, pong: true } };
  assert.equal(toHex(protobufCodec.encodeReply(r)), bytes);
  assert.deepEqual(protobufCodec.decodeReplies(hex(bytes)), [r]);
});

test('§14.2: Command {id:2, subscribe:{channel:"news", flag:1}}', () => {
  const bytes = '0c 08 02 2a 08 0a 04 6e 65 77 73 70 01';
  assert.deepEqual(protobufCodec.decodeCommands(hex(bytes)), [{ id: 2, subscribe: { channel: 'news', flag: 1 } }]);
  assert.equal(toHex(protobufCodec.encodeCommand({ id: 2, subscribe: { channel: 'news', flag: 1 } })), bytes);
});

test('§14.2: Reply {id:2, subscribe:{}} keeps the present-but-empty result', () => {
  assert.equal(toHex(protobufCodec.encodeReply({ id: 2, subscribe: {} })), '04 08 02 32 00');
  assert.deepEqual(protobufCodec.decodeReplies(hex('04 08 02 32 00')), [{ id: 2, subscribe: {} }]);
});

const pubBytes = '15 22 13 12 04 6e 65 77 73 22 0b 22 07 7b 22 78 22 3a 31 7d 30 05';
const pubReply = { push: { channel: 'news', pub: { data: b('{"x":1}'), offset: 5 } } };

test('§14.2: Reply push {push:{channel:"news", pub:{data:\'{"x":1}\', offset:5}}}', () => {
  assert.equal(toHex(protobufCodec.encodeReply(pubReply)), pubBytes);
  assert.deepEqual(protobufCodec.decodeReplies(hex(pubBytes)), [pubReply]);
});

test('§14.2: ping (empty Reply) and pong (empty Command) are the single byte 00', () => {
  assert.equal(toHex(protobufCodec.encodeReply({})), '00');
  assert.equal(toHex(protobufCodec.encodePush({})), '00');
  assert.deepEqual(protobufCodec.decodeCommands(hex('00')), [{}]);
  assert.deepEqual(protobufCodec.decodeReplies(hex('00')), [{}]);
});

test('§14.2: one frame = subscribe reply + ping + publication, items concatenated', () => {
  const frame = protobufCodec.joinFrame([protobufCodec.encodeReply({ id: 2, subscribe: {} }), protobufCodec.encodeReply({}), protobufCodec.encodeReply(pubReply)]);
  assert.equal(toHex(frame), '04 08 02 32 00 00 ' + pubBytes);
  assert.deepEqual(protobufCodec.decodeReplies(frame), [{ id: 2, subscribe: {} }, {}, pubReply]);
});

test('§14.2: error reply {id:3, error:{code:103, message:"permission denied"}}', () => {
  const bytes = '19 08 03 12 15 08 67 12 11 70 65 72 6d 69 73 73 69 6f 6e 20 64 65 6e 69 65 64';
  const r = { id: 3, error: { code: 103, message: 'permission denied' } };
  assert.equal(toHex(protobufCodec.encodeReply(r)), bytes);
  assert.deepEqual(protobufCodec.decodeReplies(hex(bytes)), [r]);
});

test('§2.2: Reply{id:3, publish:{}} is 08 03 42 00 and cmd.connect {} is 22 00', () => {
  assert.equal(toHex(protobufCodec.encodeReply({ id: 3, publish: {} })), '04 08 03 42 00');
  assert.deepEqual(protobufCodec.decodeCommands(hex('02 22 00')), [{ connect: {} }]);
  assert.deepEqual(protobufCodec.decodeCommands(hex('02 08 05')), [{ id: 5 }], 'absent sub-message stays undefined');
});

test('every Reply field round-trips', () => {
  for (const r of fullReplies) assert.deepEqual(protobufCodec.decodeReplies(protobufCodec.encodeReply(r)), [r], JSON.stringify(r));
  const frame = protobufCodec.joinFrame(fullReplies.map((r) => protobufCodec.encodeReply(r)));
  assert.deepEqual(protobufCodec.decodeReplies(frame), fullReplies);
});

test('every Push field round-trips, wrapped and bare', () => {
  for (const p of fullPushes) {
    assert.deepEqual(protobufCodec.decodeReplies(protobufCodec.encodeReply({ push: p })), [{ push: p }]);
    assert.deepEqual(protobufCodec.decodePushes(protobufCodec.encodePush(p)), [p]);
  }
});

test('every Command field round-trips, one by one and as one frame', () => {
  for (const c of fullCommands) assert.deepEqual(protobufCodec.decodeCommands(protobufCodec.encodeCommand(c)), [c], JSON.stringify(c));
  const frame = protobufCodec.joinFrame(fullCommands.map((c) => protobufCodec.encodeCommand(c)));
  assert.deepEqual(protobufCodec.decodeCommands(frame), fullCommands);
});

test('Push.connect uses its own field numbers, not ConnectResult\'s', () => {
  // Push{connect(10):{client(1):"c", expires(5):true, ttl(6):7}}
  assert.equal(toHex(encodePushMessage({ connect: { client: 'c', expires: true, ttl: 7 } })), '52 07 0a 01 63 28 01 30 07');
  // Reply{connect(5):{client(1):"c", expires(3):true, ttl(4):7}}
  assert.equal(toHex(protobufCodec.encodeReply({ connect: { client: 'c', expires: true, ttl: 7 } })), '09 2a 07 0a 01 63 18 01 20 07');
});

test('64-bit fields: uint64, int64 (negative) and sint64 (zigzag)', () => {
  // Publication.score is sint64: -1 → 01, 1 → 02.
  assert.equal(toHex(encodePushMessage({ pub: { score: -1 } })), '22 02 68 01');
  assert.equal(toHex(encodePushMessage({ pub: { score: 1 } })), '22 02 68 02');
  const values = [1, -1, 2 ** 31, -(2 ** 31), 2 ** 32 + 5, -(2 ** 32) - 5, 2 ** 53 - 1, -(2 ** 53) + 1, 1700000000000];
  for (const v of values) {
    const push = { id: v, pub: { score: v, time: v, offset: Math.abs(v), version: Math.abs(v) } };
    assert.deepEqual(protobufCodec.decodePushes(protobufCodec.encodePush(push)), [push], String(v));
  }
  const cmd = { id: 1, subscribe: { flag: -1, limit: -1, type: -5 } };
  assert.deepEqual(protobufCodec.decodeCommands(protobufCodec.encodeCommand(cmd)), [cmd]);
});

test('map entries: key and value always written; a missing value decodes as the zero value', () => {
  // Publication tags {"a":""} → field 7 entry {1:"a", 2:""}.
  assert.equal(toHex(encodePushMessage({ pub: { tags: { a: '' } } })), '22 07 3a 05 0a 01 61 12 00');
  // ConnectResult subs {"x":{}} → field 6 entry {1:"x", 2:{}}.
  assert.equal(toHex(protobufCodec.encodeReply({ connect: { client: '', subs: { x: {} } } })), '09 2a 07 32 05 0a 01 78 12 00');
  // Entries without value / without key.
  assert.deepEqual(protobufCodec.decodeReplies(hex('07 2a 05 32 03 0a 01 78')), [{ connect: { client: '', subs: { x: {} } } }]);
  assert.deepEqual(protobufCodec.decodePushes(hex('06 22 04 3a 02 12 00')), [{ pub: { tags: { '': '' } } }]);
});

test('unknown fields and unexpected wire types are skipped', () => {
  // Command{id:1, field 99 varint 5, field 100 bytes "ab", field 101 fixed32, field 102 fixed64, presence{channel:"c"}}, id as bytes (wrong type).
  const body = '08 01 98 06 05 a2 06 02 61 62 ad 06 01 02 03 04 b1 06 01 02 03 04 05 06 07 08 42 03 0a 01 63 0a 01 7a';
  const frame = Buffer.concat([Buffer.from([hex(body).length]), hex(body)]);
  assert.deepEqual(protobufCodec.decodeCommands(frame), [{ id: 1, presence: { channel: 'c' } }]);
  // SubRefreshRequest track (4, an empty batch) and untrack (5) decode.
  assert.deepEqual(protobufCodec.decodeCommands(hex('0d 08 01 7a 09 0a 01 63 22 00 2a 02 75 31')), [{ id: 1, sub_refresh: { channel: 'c', track: [{}], untrack: ['u1'] } }]);
});

test('malformed frames are bad_request', () => {
  const bad = [
    '', // empty frame
    '05 08 01', // truncated item
    '80 80 80 80 80 01', // overlong length prefix
    'ff ff ff ff 1f', // length above uint32
    '03 22 05 0a', // sub-message longer than its item
    '04 22 01 0a 01', // field overruns its sub-message
    '02 0a 05', // unknown bytes field longer than the item
    '05 42 03 0a 05 6e', // string longer than the frame
    '05 42 03 0a 05 6e 00 00 00 00', // string crossing its sub-message into the next items
    '02 0b 00', // wire type 3 (groups)
    '02 00 01', // field number 0
    '0b 10 ff ff ff ff ff ff ff ff ff ff', // varint longer than ten bytes
  ];
  for (const f of bad) assert.throws(() => protobufCodec.decodeCommands(hex(f)), isBadRequest, f);
});

test('maxCommandBytes limits the declared length of each command', () => {
  const item = protobufCodec.encodeCommand({ id: 1, presence: { channel: 'abc' } });
  const len = item.length - 1;
  assert.equal(protobufCodec.decodeCommands(protobufCodec.joinFrame([item, item]), len).length, 2);
  assert.throws(() => protobufCodec.decodeCommands(item, len - 1), isBadRequest);
  assert.throws(() => protobufCodec.decodeCommands(hex('ff ff 03'), 1000), isBadRequest, 'declared length checked before reading');
});

test('decoded bytes are copies, not views of the frame', () => {
  const frame = protobufCodec.encodeCommand({ id: 1, publish: { channel: 'c', data: b('{"a":1}') } });
  const [cmd] = protobufCodec.decodeCommands(frame);
  (frame as Buffer).fill(0);
  assert.deepEqual(cmd?.publish?.data, b('{"a":1}'));
});

test('binary payloads travel in protobuf but not in JSON', () => {
  const data = Buffer.from([0x00, 0xff, 0x0a, 0x80]);
  const r = { push: { channel: 'c', pub: { data } } };
  assert.deepEqual(protobufCodec.decodeReplies(protobufCodec.encodeReply(r)), [r]);
  assert.throws(() => jsonCodec.encodeReply(r), (err: unknown) => err instanceof CodecError && err.code === 'inappropriate_protocol');
});

test('EmulationRequest: node 1, session 2, data 3 holding delimited commands', () => {
  const data = protobufCodec.joinFrame([protobufCodec.encodeCommand({ id: 2, subscribe: { channel: 'news' } }), protobufCodec.encodeCommand({})]);
  const req = { node: 'n', session: 's', data: Buffer.from(data) };
  const body = encodeEmulationRequest(req);
  assert.equal(toHex(body).slice(0, 20), '0a 01 6e 12 01 73 1a');
  assert.deepEqual(decodeEmulationRequest(body), req);
  assert.deepEqual(protobufCodec.decodeCommands(decodeEmulationRequest(body).data ?? b('')), [{ id: 2, subscribe: { channel: 'news' } }, {}]);
  assert.throws(() => decodeEmulationRequest(hex('0a 05 6e')), isBadRequest);
  assert.throws(() => decodeEmulationRequest(hex('1a 05 6e')), isBadRequest);
  assert.throws(() => decodeConnectRequestMessage(hex('0a 05 6e')), isBadRequest);
});

test('bare ConnectRequest (uni_grpc)', () => {
  const req = { token: 't', subs: { news: { recover: true, offset: 5, epoch: 'e' } }, headers: { a: 'b' } };
  const bytes = protobufCodec.encodeCommand({ connect: req }).subarray(3); // drop prefix, Command tag and length
  assert.deepEqual(decodeConnectRequestMessage(bytes), req);
});

test('codecFor picks the shared codec', () => {
  assert.equal(codecFor('protobuf'), protobufCodec);
  assert.equal(codecFor('protobuf').type, 'protobuf');
});
