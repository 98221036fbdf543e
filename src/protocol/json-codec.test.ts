import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CodecError, codecFor, jsonCodec } from './codec.js';
import { decodeConnectRequestJson, decodeEmulationRequestJson, encodeEmulationRequestJson } from './json-codec.js';
import { b, fullCommands, fullPushes, fullReplies } from './codec.fixtures.js';
import type { Reply } from './types.js';

const text = (u: Uint8Array): string => Buffer.from(u).toString('utf8');
const reply = (r: Reply): string => text(jsonCodec.encodeReply(r));
const isCode = (code: string) => (err: unknown) => err instanceof CodecError && err.code === code;

test('successful replies carry their result object even when empty (§13.2)', () => {
  assert.equal(reply({ id: 3, publish: {} }), '{"id":3,"publish":{}}');
  assert.equal(reply({ id: 4, unsubscribe: {} }), '{"id":4,"unsubscribe":{}}');
  assert.equal(reply({ id: 9, rpc: {} }), '{"id":9,"rpc":{}}');
  assert.equal(reply({ id: 2, subscribe: {} }), '{"id":2,"subscribe":{}}');
  assert.equal(reply({ id: 6, refresh: {} }), '{"id":6,"refresh":{}}');
});

test('the ping is {} and the pong {} decodes to a command with no fields', () => {
  assert.equal(reply({}), '{}');
  assert.equal(text(jsonCodec.encodePush({})), '{}');
  assert.deepEqual(jsonCodec.decodeCommands(b('{}')), [{}]);
});

test('error replies: code, message, temporary only when true', () => {
  assert.equal(reply({ id: 1, error: { code: 100, message: 'internal server error', temporary: true } }), '{"id":1,"error":{"code":100,"message":"internal server error","temporary":true}}');
  assert.equal(reply({ id: 3, error: { code: 103, message: 'permission denied', temporary: false } }), '{"id":3,"error":{"code":103,"message":"permission denied"}}');
});

test('presence result doubles the key and ClientInfo always writes user and client (§5.5)', () => {
  assert.equal(
    reply({ id: 6, presence: { presence: { c1: { user: '42', client: 'c1', conn_info: b('{"name":"Alex"}') } } } }),
    '{"id":6,"presence":{"presence":{"c1":{"user":"42","client":"c1","conn_info":{"name":"Alex"}}}}}',
  );
  assert.equal(reply({ id: 6, presence: { presence: {} } }), '{"id":6,"presence":{"presence":{}}}');
  assert.equal(reply({ id: 6, presence: { presence: { x: { user: '', client: '' } } } }), '{"id":6,"presence":{"presence":{"x":{"user":"","client":""}}}}');
});

test('presence stats and history write their fields even when zero (§2.1)', () => {
  assert.equal(reply({ id: 7, presence_stats: { num_clients: 0, num_users: 0 } }), '{"id":7,"presence_stats":{"num_clients":0,"num_users":0}}');
  assert.equal(reply({ id: 8, history: { publications: [], epoch: '', offset: 0 } }), '{"id":8,"history":{"publications":[],"epoch":"","offset":0}}');
  assert.equal(
    reply({ id: 8, history: { publications: [{ data: b('{"t":"a"}'), offset: 16 }], epoch: 'XyZ', offset: 16 } }),
    '{"id":8,"history":{"publications":[{"data":{"t":"a"},"offset":16}],"epoch":"XyZ","offset":16}}',
  );
});

test('worked session of §14.1 encodes byte for byte', () => {
  const info = { user: '42', client: '0c5e8f3a' };
  assert.equal(
    reply({ id: 1, connect: { client: '0c5e8f3a', version: '6.9.1 OSS', expires: true, ttl: 3598, ping: 25, pong: true } }),
    '{"id":1,"connect":{"client":"0c5e8f3a","version":"6.9.1 OSS","expires":true,"ttl":3598,"ping":25,"pong":true}}',
  );
  assert.equal(
    reply({ id: 2, subscribe: { recoverable: true, epoch: 'kRtz', offset: 41, positioned: true } }),
    '{"id":2,"subscribe":{"recoverable":true,"epoch":"kRtz","offset":41,"positioned":true}}',
  );
  assert.equal(reply({ push: { channel: 'chat:1', join: { info } } }), '{"push":{"channel":"chat:1","join":{"info":{"user":"42","client":"0c5e8f3a"}}}}');
  assert.equal(
    reply({ push: { channel: 'chat:1', pub: { data: b('{"text":"hello"}'), info, offset: 42 } } }),
    '{"push":{"channel":"chat:1","pub":{"data":{"text":"hello"},"info":{"user":"42","client":"0c5e8f3a"},"offset":42}}}',
  );
  assert.equal(reply({ id: 4, presence_stats: { num_clients: 1, num_users: 1 } }), '{"id":4,"presence_stats":{"num_clients":1,"num_users":1}}');
  assert.equal(reply({ id: 6, refresh: { expires: true, ttl: 3600 } }), '{"id":6,"refresh":{"expires":true,"ttl":3600}}');
  assert.equal(
    reply({
      id: 8,
      subscribe: {
        recoverable: true,
        epoch: 'kRtz',
        publications: [{ data: b('{"text":"missed"}'), offset: 43 }],
        recovered: true,
        offset: 42,
        positioned: true,
        was_recovering: true,
      },
    }),
    '{"id":8,"subscribe":{"recoverable":true,"epoch":"kRtz","publications":[{"data":{"text":"missed"},"offset":43}],"recovered":true,"offset":42,"positioned":true,"was_recovering":true}}',
  );
});

test('unidirectional pushes of §14.5 encode byte for byte', () => {
  const push = (p: Parameters<typeof jsonCodec.encodePush>[0]) => text(jsonCodec.encodePush(p));
  assert.equal(
    push({ connect: { client: 'c', version: '6.9.1 OSS', subs: { '#42': {} }, ping: 25, session: 's' } }),
    '{"connect":{"client":"c","version":"6.9.1 OSS","subs":{"#42":{}},"ping":25,"session":"s"}}',
  );
  assert.equal(push({ channel: '#42', pub: { data: b('{"note":"hi"}') } }), '{"channel":"#42","pub":{"data":{"note":"hi"}}}');
  assert.equal(push({ disconnect: { code: 3005, reason: 'connection expired' } }), '{"disconnect":{"code":3005,"reason":"connection expired"}}');
});

test('bytes are embedded raw with raw newlines removed', () => {
  const data = b('{\n  "a": "line1\\nline2",\n  "b": [1,\n2]\n}\n');
  const out = reply({ push: { channel: 'c', pub: { data } } });
  assert.equal(out, '{"push":{"channel":"c","pub":{"data":{  "a": "line1\\nline2",  "b": [1,2]}}}}');
  assert.ok(!out.includes('\n'));
  assert.deepEqual(JSON.parse(out).push.pub.data, { a: 'line1\nline2', b: [1, 2] });
  assert.equal(reply({ id: 1, rpc: { data: b('"str"') } }), '{"id":1,"rpc":{"data":"str"}}');
  assert.equal(reply({ id: 1, rpc: { data: b('12.5') } }), '{"id":1,"rpc":{"data":12.5}}');
});

test('bytes that are not JSON cannot be embedded: inappropriate_protocol', () => {
  const binary = Buffer.from([0x0a, 0x03, 0x66, 0x6f, 0x6f]);
  assert.throws(() => jsonCodec.encodeReply({ push: { channel: 'c', pub: { data: binary } } }), isCode('inappropriate_protocol'));
  assert.throws(() => jsonCodec.encodePush({ message: { data: b('not json') } }), isCode('inappropriate_protocol'));
  assert.throws(() => jsonCodec.encodeReply({ id: 1, connect: { client: 'c', data: b('{"a":') } }), isCode('inappropriate_protocol'));
  assert.throws(
    () => jsonCodec.encodeReply({ id: 1, presence: { presence: { c: { user: 'u', client: 'c', chan_info: b('{') } } } }),
    isCode('inappropriate_protocol'),
  );
});

test('strings are escaped and never contain raw newlines', () => {
  const out = reply({ push: { channel: 'a"b\\c\n\u2028é', pub: { tags: { 'k"': 'v\n' } } } });
  assert.ok(!out.includes('\n'));
  assert.deepEqual(JSON.parse(out), { push: { channel: 'a"b\\c\n\u2028é', pub: { tags: { 'k"': 'v\n' } } } });
});

test('zero values are omitted', () => {
  assert.equal(
    reply({ id: 0, push: { channel: '', pub: { offset: 0, delta: false, tags: {}, data: b(''), key: '' } } }),
    '{"push":{"pub":{}}}',
  );
  assert.equal(reply({ id: 5, subscribe: { publications: [], recoverable: false, ttl: 0, epoch: '' } }), '{"id":5,"subscribe":{}}');
});

test('a batch frame decodes into commands in order (§14.1 first frame)', () => {
  const frame = b('{"connect":{"token":"eyJ","name":"js"},"id":1}\n{"subscribe":{"channel":"chat:1","recoverable":true,"positioned":true,"join_leave":true,"flag":1},"id":2}');
  assert.deepEqual(jsonCodec.decodeCommands(frame), [
    { connect: { token: 'eyJ', name: 'js' }, id: 1 },
    { subscribe: { channel: 'chat:1', recoverable: true, positioned: true, join_leave: true, flag: 1 }, id: 2 },
  ]);
  assert.equal(jsonCodec.decodeCommands(b('{"id":1,"presence":{"channel":"a"}}\n')).length, 1, 'one trailing newline is fine');
});

test('bytes fields decode to the compact JSON text of any value', () => {
  const [cmd] = jsonCodec.decodeCommands(b('{"publish":{"channel":"c","data":{ "a" : [1, 2] , "s":"x\\ny"}},"id":5}'));
  assert.deepEqual(cmd?.publish?.data, b('{"a":[1,2],"s":"x\\ny"}'));
  assert.deepEqual(jsonCodec.decodeCommands(b('{"rpc":{"data":"hi"},"id":1}'))[0]?.rpc?.data, b('"hi"'));
  assert.deepEqual(jsonCodec.decodeCommands(b('{"send":{"data":false}}'))[0]?.send?.data, b('false'));
});

test('unknown keys are ignored and null means absent', () => {
  assert.deepEqual(jsonCodec.decodeCommands(b('{"id":2,"subscribe":{"channel":"x","bogus":[1]},"extra":{"y":1},"publish":null}')), [
    { id: 2, subscribe: { channel: 'x' } },
  ]);
});

test('malformed frames are bad_request', () => {
  const bad = ['', '\n', '\n{}', '{}\n\n', '{}\n\n{}', 'nope', '{"id":1', '[1]', '5', 'null', ' ', '"str"'];
  for (const f of bad) assert.throws(() => jsonCodec.decodeCommands(b(f)), isCode('bad_request'), JSON.stringify(f));
  const wrongTypes = ['{"id":"1"}', '{"id":-1}', '{"id":1.5}', '{"id":4294967296}', '{"connect":[]}', '{"subscribe":{"channel":5}}', '{"subscribe":{"recover":"yes"}}', '{"history":{"limit":2147483648}}', '{"connect":{"headers":{"a":1}}}', '{"subscribe":{"tf":{"vals":"a"}}}'];
  for (const f of wrongTypes) assert.throws(() => jsonCodec.decodeCommands(b(f)), isCode('bad_request'), f);
});

test('maxCommandBytes limits each command, not the frame', () => {
  const one = '{"id":1,"presence":{"channel":"abc"}}';
  assert.equal(jsonCodec.decodeCommands(b(one + '\n' + one), one.length).length, 2);
  assert.throws(() => jsonCodec.decodeCommands(b(one), one.length - 1), isCode('bad_request'));
  assert.equal(jsonCodec.decodeCommands(b(one), 0).length, 1);
});

test('joinFrame uses newlines between items, none trailing', () => {
  const items = [jsonCodec.encodeReply({ id: 2, subscribe: {} }), jsonCodec.encodeReply({}), jsonCodec.encodeReply({ id: 3, publish: {} })];
  assert.equal(text(jsonCodec.joinFrame(items)), '{"id":2,"subscribe":{}}\n{}\n{"id":3,"publish":{}}');
  assert.equal(text(jsonCodec.joinFrame(items.slice(0, 1))), '{"id":2,"subscribe":{}}');
  assert.deepEqual(jsonCodec.decodeReplies(jsonCodec.joinFrame(items)), [{ id: 2, subscribe: {} }, {}, { id: 3, publish: {} }]);
});

test('every Reply field round-trips', () => {
  for (const r of fullReplies) assert.deepEqual(jsonCodec.decodeReplies(jsonCodec.encodeReply(r)), [r], JSON.stringify(r));
});

test('every Push field round-trips, wrapped and bare', () => {
  for (const p of fullPushes) {
    assert.deepEqual(jsonCodec.decodeReplies(jsonCodec.encodeReply({ push: p })), [{ push: p }]);
    assert.deepEqual(jsonCodec.decodePushes(jsonCodec.encodePush(p)), [p]);
  }
});

test('every Command field round-trips, one by one and as one frame', () => {
  for (const c of fullCommands) assert.deepEqual(jsonCodec.decodeCommands(jsonCodec.encodeCommand(c)), [c], JSON.stringify(c));
  const frame = jsonCodec.joinFrame(fullCommands.map((c) => jsonCodec.encodeCommand(c)));
  assert.deepEqual(jsonCodec.decodeCommands(frame), fullCommands);
});

test('__proto__ map keys stay plain entries', () => {
  const [cmd] = jsonCodec.decodeCommands(b('{"id":1,"connect":{"headers":{"__proto__":"x"},"subs":{"__proto__":{"recover":true}}}}'));
  assert.equal(Object.getPrototypeOf(cmd?.connect?.headers), Object.prototype);
  assert.equal(Object.getOwnPropertyDescriptor(cmd?.connect?.headers, '__proto__')?.value, 'x');
  assert.deepEqual(Object.keys(cmd?.connect?.subs ?? {}), ['__proto__']);
});

test('bare connect requests and emulation bodies', () => {
  assert.deepEqual(decodeConnectRequestJson(b('{"token":"t","subs":{"news":{"recover":true,"offset":5,"epoch":"e"}}}')), {
    token: 't',
    subs: { news: { recover: true, offset: 5, epoch: 'e' } },
  });
  assert.deepEqual(decodeConnectRequestJson(b('null')), {});
  assert.throws(() => decodeConnectRequestJson(b('[]')), isCode('bad_request'));
  assert.throws(() => decodeConnectRequestJson(b('{')), isCode('bad_request'));

  const body = b('{"session":"5f2","node":"a91","data":"{\\"subscribe\\":{\\"channel\\":\\"news\\",\\"flag\\":1},\\"id\\":2}"}');
  const req = decodeEmulationRequestJson(body);
  assert.equal(req.session, '5f2');
  assert.equal(req.node, 'a91');
  assert.deepEqual(jsonCodec.decodeCommands(req.data ?? b('')), [{ subscribe: { channel: 'news', flag: 1 }, id: 2 }]);
  assert.deepEqual(encodeEmulationRequestJson(req), body);
  assert.throws(() => decodeEmulationRequestJson(b('{"data":{}}')), isCode('bad_request'));
});

test('codecFor picks the shared codec', () => {
  assert.equal(codecFor('json'), jsonCodec);
  assert.equal(codecFor('json').type, 'json');
});
