/**
 * Protocol-level checks with raw WebSocket clients (JSON and Protobuf framing): exact reply
 * shapes, protocol violations and their close codes, size limits, slow readers. After every
 * bad input a second, healthy client on the same server must still work.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiCall, apiResult } from '../helpers/api.js';
import { Cmd, Rep, bytes, decode, fBytes, frame, fVarint, msg, num, str, type Fields } from '../helpers/proto.js';
import { RawClient } from '../helpers/raw-ws.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { hmacToken } from '../helpers/tokens.js';
import { sleep, uniq, waitFor } from '../helpers/wait.js';

const SECRET = 'raw-e2e-secret';
const API_KEY = 'raw-api-key';
const MESSAGE_LIMIT = 16384;

describe('raw WebSocket protocol', { timeout: 60_000 }, () => {
  let gyre: GyreProcess;
  before(async () => {
    gyre = await startGyre({
      client: { token: { hmac_secret_key: SECRET }, allow_anonymous_connect_without_token: true },
      websocket: { message_size_limit: MESSAGE_LIMIT },
      http_api: { key: API_KEY },
      channel: {
        namespaces: [
          {
            name: 'chat',
            presence: true,
            allow_subscribe_for_client: true,
            allow_subscribe_for_anonymous: true,
            allow_publish_for_client: true,
            allow_publish_for_anonymous: true,
            history_size: 10,
            history_ttl: '60s',
          },
          { name: 'priv' },
          // Go (RE2) syntax that JavaScript's RegExp does not share.
          { name: 'ci', channel_regex: '(?i)^[a-z0-9]+$', allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true },
          { name: 'pl', channel_regex: '^[\\p{L}0-9]+$', allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true },
          { name: 'zz', channel_regex: '^[a-z]+\\z', allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true },
          { name: 'js', channel_regex: '^[a-z]+$', allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true },
          // Exponential for a backtracking engine on a near-miss name; linear in RE2.
          { name: 'nest', channel_regex: '^(a+)+$', allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true },
          {
            name: 'subonly',
            allow_subscribe_for_client: true,
            presence: true,
            join_leave: true,
            history_size: 10,
            history_ttl: '60s',
            allow_history_for_subscriber: true,
            allow_presence_for_subscriber: true,
            allow_publish_for_subscriber: true,
          },
        ],
      },
    });
  });
  after(() => gyre.stop());

  const open = (protocols?: string[], query = ''): Promise<RawClient> => RawClient.open(gyre.wsUrl + query, { protocols });

  /** A fresh client connects, subscribes, publishes and receives its publication. */
  async function assertHealthy(): Promise<void> {
    const c = await open();
    const rep = await c.connect();
    assert.ok(rep.connect?.client, 'healthy client connects');
    const channel = `chat:${uniq()}`;
    assert.deepEqual(await c.call({ subscribe: { channel } }), { id: 2, subscribe: {} });
    await c.call({ publish: { channel, data: { ok: true } } });
    const push = await c.push((p) => p.channel === channel && p.pub);
    assert.deepEqual(push.pub.data, { ok: true });
    await c.close();
  }

  /** Sends `frames` (after an optional connect) and expects the close code and reason. */
  async function expectClose(frames: (string | Buffer)[], code: number, opts: { connectFirst?: boolean; reason?: string; protocols?: string[] } = {}): Promise<RawClient> {
    const c = await open(opts.protocols);
    if (opts.connectFirst) await c.connect();
    for (const f of frames) c.sendRaw(f);
    const closed = await c.waitClose();
    assert.equal(closed.code, code, `close code for ${JSON.stringify(frames.map(String)).slice(0, 200)}`);
    if (opts.reason !== undefined) assert.equal(closed.reason, opts.reason);
    await assertHealthy();
    return c;
  }

  describe('JSON', () => {
    it('connect reply carries client, version, ping and pong; token expiry is advertised', async () => {
      const c = await open();
      const rep = await c.connect({ name: 'raw' });
      assert.equal(rep.id, 1);
      assert.equal(typeof rep.connect.client, 'string');
      assert.ok(rep.connect.client.length > 0);
      assert.equal(typeof rep.connect.version, 'string');
      assert.equal(rep.connect.ping, 25);
      assert.equal(rep.connect.pong, true);
      assert.equal(rep.connect.expires, undefined);
      await c.close();
      const t = await open();
      const trep = await t.connect({ token: await hmacToken(SECRET, { sub: 'u1' }, 600) });
      assert.equal(trep.connect.expires, true);
      assert.ok(trep.connect.ttl > 590 && trep.connect.ttl <= 600, `ttl ${trep.connect.ttl}`);
      await t.close();
    });

    it('connect and subscribes in one frame are answered in order', async () => {
      const c = await open();
      const a = `chat:${uniq()}`;
      const b = `chat:${uniq()}`;
      c.send({ id: 1, connect: {} }, { id: 2, subscribe: { channel: a } }, { id: 3, subscribe: { channel: b } });
      await c.reply(3);
      assert.deepEqual(
        c.json.map((m) => m.id),
        [1, 2, 3],
      );
      assert.deepEqual(c.json[1], { id: 2, subscribe: {} });
      await c.close();
    });

    it('publish reply is exactly {"id":N,"publish":{}} and the push carries data and info', async () => {
      const c = await open();
      await c.connect({ token: await hmacToken(SECRET, { sub: 'pub-user', info: { k: 'v' } }) });
      const channel = `chat:${uniq()}`;
      await c.call({ subscribe: { channel } });
      c.send({ id: 3, publish: { channel, data: { text: 'line1\nline2', n: 1 } } });
      await c.reply(3);
      const lines = c.frames.flatMap((f) => f.data.toString('utf8').split('\n'));
      assert.ok(lines.includes('{"id":3,"publish":{}}'), `publish reply line not found in ${JSON.stringify(lines)}`);
      const push = await c.push((p) => p.pub);
      assert.equal(push.channel, channel);
      assert.deepEqual(push.pub.data, { text: 'line1\nline2', n: 1 });
      assert.equal(push.pub.offset, 1);
      assert.deepEqual(push.pub.info, { user: 'pub-user', client: (c.json[0] as any).connect.client, conn_info: { k: 'v' } });
      await c.close();
    });

    it('error reply shape; duplicate subscribe is 105 and the connection stays open', async () => {
      const c = await open();
      await c.connect();
      const channel = `chat:${uniq()}`;
      await c.call({ subscribe: { channel } });
      const dup = await c.call({ subscribe: { channel } });
      assert.deepEqual(dup, { id: 3, error: { code: 105, message: 'already subscribed' } });
      const unknown = await c.call({ subscribe: { channel: 'nope:x' } });
      assert.deepEqual(unknown, { id: 4, error: { code: 102, message: 'unknown channel' } });
      const priv = await c.call({ subscribe: { channel: `$priv:${uniq()}` } });
      assert.deepEqual(priv, { id: 5, error: { code: 103, message: 'permission denied' } });
      assert.deepEqual(await c.call({ unsubscribe: { channel } }), { id: 6, unsubscribe: {} });
      assert.deepEqual(await c.call({ unsubscribe: { channel: 'never:subscribed' } }), { id: 7, unsubscribe: {} });
      assert.ok(c.isOpen);
      await c.close();
    });

    it('presence_stats and history results keep their always-written fields', async () => {
      const c = await open();
      await c.connect();
      const channel = `chat:${uniq()}`;
      assert.deepEqual(await c.call({ subscribe: { channel } }), { id: 2, subscribe: {} });
      assert.deepEqual(await c.call({ presence_stats: { channel } }), { id: 3, error: { code: 103, message: 'permission denied' } });
      const api = await apiResult(gyre.apiUrl, API_KEY, 'presence_stats', { channel });
      assert.deepEqual(api, { num_clients: 1, num_users: 1 });
      const empty = await apiResult(gyre.apiUrl, API_KEY, 'history', { channel: `chat:${uniq()}`, limit: 10 });
      assert.deepEqual(empty.publications, []);
      assert.equal(typeof empty.epoch, 'string');
      assert.equal(empty.offset, 0);
      await c.close();
    });

    it('sub_refresh: not subscribed → 103, empty token → 107, empty channel → 3501', async () => {
      const c = await open();
      await c.connect();
      const channel = `chat:${uniq()}`;
      assert.deepEqual(await c.call({ sub_refresh: { channel, token: 'x' } }), { id: 2, error: { code: 103, message: 'permission denied' } });
      await c.call({ subscribe: { channel } });
      assert.deepEqual(await c.call({ sub_refresh: { channel } }), { id: 4, error: { code: 107, message: 'bad request' } });
      c.send({ id: 5, sub_refresh: { channel: '' } });
      assert.equal((await c.waitClose()).code, 3501);
      await assertHealthy();
    });

    it('command before connect → 3501 "bad request"', async () => {
      await expectClose([JSON.stringify({ id: 1, subscribe: { channel: 'chat:x' } })], 3501, { reason: 'bad request' });
    });

    it('pong before connect → 3501', async () => {
      await expectClose(['{}'], 3501, { reason: 'bad request' });
    });

    it('malformed JSON → 3501', async () => {
      await expectClose(['{"id":1,"connect":{'], 3501, { reason: 'bad request' });
      await expectClose(['{"id":1,"connect":{}}\nnot json'], 3501, { reason: 'bad request' });
    });

    it('malformed JSON after connect → 3501', async () => {
      await expectClose(['{"id":2,"subscribe":'], 3501, { connectFirst: true, reason: 'bad request' });
    });

    it('an empty frame → 3501', async () => {
      await expectClose([''], 3501, { connectFirst: true, reason: 'bad request' });
    });

    it('unknown command {"id":1} → 3501', async () => {
      await expectClose(['{"id":2}'], 3501, { connectFirst: true, reason: 'bad request' });
    });

    it('{"id":N,"ping":{}} → 3501', async () => {
      await expectClose(['{"id":2,"ping":{}}'], 3501, { connectFirst: true, reason: 'bad request' });
    });

    it('a command without id (other than send / pong) → 3501', async () => {
      await expectClose([JSON.stringify({ subscribe: { channel: 'chat:x' } })], 3501, { connectFirst: true, reason: 'bad request' });
    });

    it('subscribe with an empty channel → 3501', async () => {
      await expectClose([JSON.stringify({ id: 2, subscribe: { channel: '' } })], 3501, { connectFirst: true, reason: 'bad request' });
    });

    it('publish with an empty channel → 3501', async () => {
      await expectClose([JSON.stringify({ id: 2, publish: { channel: '', data: {} } })], 3501, { connectFirst: true });
    });

    it('a second connect → 3501', async () => {
      await expectClose([JSON.stringify({ id: 2, connect: {} })], 3501, { connectFirst: true, reason: 'bad request' });
    });

    it('unknown delta type in subscribe → 3501', async () => {
      await expectClose([JSON.stringify({ id: 2, subscribe: { channel: 'chat:x', delta: 'xdelta' } })], 3501, { connectFirst: true });
    });

    it('send without a message handler → 3508 "not available"', async () => {
      await expectClose([JSON.stringify({ send: { data: { x: 1 } } })], 3508, { connectFirst: true, reason: 'not available' });
    });

    it('invalid token → 3500 "invalid token"', async () => {
      await expectClose([JSON.stringify({ id: 1, connect: { token: 'a.b.c' } })], 3500, { reason: 'invalid token' });
    });

    it('expired token → error 109; the connection is unusable afterwards (no further replies)', async () => {
      const c = await open();
      const rep = await c.connect({ token: await hmacToken(SECRET, { sub: 'x', exp: Math.floor(Date.now() / 1000) - 60 }, null) });
      assert.deepEqual(rep, { id: 1, error: { code: 109, message: 'token expired' } });
      // protocol.md §8.3: after a connect error the server stops processing commands (3501 or
      // silence until the stale timer, which keepalive.test.ts checks); it must never answer.
      c.send({ id: 2, connect: {} });
      await sleep(300);
      assert.equal(c.json.find((m) => m.id === 2), undefined);
      assert.ok(c.isOpen || c.closeInfo?.code === 3501, `unexpected close ${JSON.stringify(c.closeInfo)}`);
      await c.close();
      await assertHealthy();
    });

    it('a frame larger than websocket.message_size_limit → close 1009; smaller ones pass', async () => {
      const ok = await open();
      await ok.connect();
      const channel = `chat:${uniq()}`;
      const big = 'x'.repeat(MESSAGE_LIMIT - 200);
      assert.deepEqual(await ok.call({ publish: { channel, data: { big } } }), { id: 2, publish: {} });
      await ok.close();
      await expectClose([JSON.stringify({ id: 2, publish: { channel, data: { big: 'x'.repeat(MESSAGE_LIMIT + 100) } } })], 1009, { connectFirst: true });
    });

    it('channel_regex: a plain pattern accepts matching names and rejects others with 107', async () => {
      const c = await open();
      await c.connect();
      assert.deepEqual(await c.call({ subscribe: { channel: 'js:abc' } }), { id: 2, subscribe: {} });
      assert.deepEqual(await c.call({ subscribe: { channel: 'js:ABC' } }), { id: 3, error: { code: 107, message: 'bad request' } });
      await c.close();
    });

    // server.md §1.6.7: channel_regex is a Go regex, checked and matched by the one Go (RE2)
    // compiler (compileGoRegex) in config validation and in the channel resolver alike.
    it('channel_regex matches in linear time: a client-chosen name cannot make a nested repeat backtrack', { timeout: 10_000 }, async () => {
      const c = await open();
      await c.connect();
      // About 2^40 steps for a backtracking engine, which would stall the server's event loop.
      assert.deepEqual(await c.call({ subscribe: { channel: `nest:${'a'.repeat(40)}!` } }), { id: 2, error: { code: 107, message: 'bad request' } });
      assert.deepEqual(await c.call({ subscribe: { channel: `nest:${'a'.repeat(40)}` } }), { id: 3, subscribe: {} });
      await c.close();
      await assertHealthy();
    });

    it('channel_regex uses Go (RE2) syntax: (?i), \\p{L}, \\z', async () => {
      const cases: [string, boolean][] = [
        ['ci:ABC', true],
        ['ci:abc', true],
        ['ci:a-b', false],
        ['pl:café', true],
        ['pl:abc1', true],
        ['pl:a-b', false],
        ['zz:abc', true],
        ['zz:ab1', false],
      ];
      const failures: string[] = [];
      for (const [channel, ok] of cases) {
        const c = await open();
        await c.connect();
        c.send({ id: 2, subscribe: { channel } });
        const rep = await c.reply(2).catch((e: Error) => ({ closed: e.message }));
        const got = 'subscribe' in rep ? 'subscribed' : JSON.stringify(rep);
        const want = ok ? 'subscribed' : JSON.stringify({ id: 2, error: { code: 107, message: 'bad request' } });
        if (got !== want) failures.push(`${channel}: want ${want}, got ${got}`);
        await c.close();
      }
      assert.deepEqual(failures, []);
    });

    it('*_for_subscriber: calls need a subscription; publish/presence/history work once subscribed', async () => {
      const c = await open();
      await c.connect({ token: await hmacToken(SECRET, { sub: 'subscriber' }) });
      const channel = `subonly:${uniq()}`;
      const denied = { code: 103, message: 'permission denied' };
      assert.deepEqual((await c.call({ publish: { channel, data: { a: 1 } } })).error, denied);
      assert.deepEqual((await c.call({ presence_stats: { channel } })).error, denied);
      assert.deepEqual((await c.call({ history: { channel } })).error, denied);
      assert.ok((await c.call({ subscribe: { channel } })).subscribe);
      assert.ok((await c.call({ publish: { channel, data: { a: 1 } } })).publish);
      assert.deepEqual((await c.call({ presence_stats: { channel } })).presence_stats, { num_clients: 1, num_users: 1 });
      assert.equal((await c.call({ history: { channel } })).history.offset, 1);
      await c.close();
    });

    // Centrifugo's OnSubscribe checks history/presence access with forceSubscribed=true
    // (internal/client/handler.go: hasAccessToHistory(c, ch, opts, true)), so the subscriber
    // rules grant client-requested positioning, recovery and join/leave at subscribe time.
    it('*_for_subscriber grants requested positioning, recovery and join/leave on subscribe', async () => {
      const c = await open();
      const rep = await c.connect({ token: await hmacToken(SECRET, { sub: 'subscriber' }) });
      const channel = `subonly:${uniq()}`;
      const sub = await c.call({ subscribe: { channel, positioned: true, recoverable: true, join_leave: true } });
      assert.equal(sub.subscribe.positioned, true);
      assert.equal(sub.subscribe.recoverable, true);
      const join = await c.push((p) => p.channel === channel && p.join, 'own join push', 2000);
      assert.equal(join.join.info.client, rep.connect.client);
      await c.close();
    });

    it('the epoch rides only on the publication with offset 1', async () => {
      const c = await open();
      await c.connect();
      const channel = `chat:${uniq()}`;
      const sub = await c.call({ subscribe: { channel, positioned: true } });
      await apiResult(gyre.apiUrl, API_KEY, 'publish', { channel, data: { n: 1 } });
      const second = await apiResult(gyre.apiUrl, API_KEY, 'publish', { channel, data: { n: 2 } });
      await c.waitUntil(() => (c.json.filter((m) => m.push?.pub).length === 2 ? true : undefined), 'two publications');
      const pubs = c.json.filter((m) => m.push?.pub).map((m) => m.push.pub);
      assert.equal(sub.subscribe.positioned, undefined, 'positioning is not granted without history access');
      assert.equal(pubs[0].offset, 1);
      assert.equal(pubs[0].epoch, second.epoch);
      assert.equal(pubs[1].offset, 2);
      assert.equal(pubs[1].epoch, undefined);
      await c.close();
    });

    it('JSON subprotocol "centrifuge-json" is echoed', async () => {
      const c = await open(['centrifuge-json']);
      assert.equal(c.ws.protocol, 'centrifuge-json');
      const rep = await c.connect();
      assert.ok(rep.connect.client);
      assert.equal(c.frames[0]?.binary, false);
      await c.close();
    });
  });

  describe('Protobuf', () => {
    const connectCmd = (id: number, token?: string): Buffer => msg(fVarint(Cmd.id, id), fBytes(Cmd.connect, token ? fBytes(1, token) : Buffer.alloc(0)));
    const subscribeCmd = (id: number, channel: string): Buffer => msg(fVarint(Cmd.id, id), fBytes(Cmd.subscribe, fBytes(1, channel)));
    const publishCmd = (id: number, channel: string, data: string): Buffer => msg(fVarint(Cmd.id, id), fBytes(Cmd.publish, msg(fBytes(1, channel), fBytes(2, data))));

    async function protoReply(c: RawClient, id: number): Promise<Fields> {
      return c.waitUntil(() => c.proto.find((f) => num(f, Rep.id) === id), `protobuf reply ${id}`);
    }

    it('subprotocol centrifuge-protobuf is echoed; connect, subscribe, publish replies', async () => {
      const c = await open(['centrifuge-protobuf']);
      assert.equal(c.upgrade?.headers['sec-websocket-protocol'], 'centrifuge-protobuf');
      assert.equal(c.ws.protocol, 'centrifuge-protobuf');
      c.sendRaw(frame(connectCmd(1)));
      const rep = await protoReply(c, 1);
      assert.equal(c.frames[0]?.binary, true);
      const connect = decode(bytes(rep, Rep.connect)!);
      assert.ok((str(connect, 1) ?? '').length > 0, 'ConnectResult.client');
      assert.equal(num(connect, 7), 25, 'ConnectResult.ping');
      assert.equal(num(connect, 8), 1, 'ConnectResult.pong');
      const channel = `chat:${uniq()}`;
      c.sendRaw(frame(subscribeCmd(2, channel)));
      const sub = await protoReply(c, 2);
      assert.equal(bytes(sub, Rep.subscribe)?.length, 0, 'present-but-empty SubscribeResult');
      c.sendRaw(frame(publishCmd(3, channel, '{"x":1}')));
      const pub = await protoReply(c, 3);
      assert.deepEqual([...bytes(pub, Rep.publish)!], [], 'present-but-empty PublishResult');
      // The exact bytes of Reply{id:3, publish:{}} framed: 04 08 03 42 00.
      const all = Buffer.concat(c.frames.map((f) => f.data));
      assert.ok(all.includes(Buffer.from([0x04, 0x08, 0x03, 0x42, 0x00])), `publish reply bytes in ${all.toString('hex')}`);
      const push = await c.waitUntil(() => c.proto.find((f) => bytes(f, Rep.push) && !num(f, Rep.id)), 'publication push');
      const p = decode(bytes(push, Rep.push)!);
      assert.equal(str(p, 2), channel);
      const publication = decode(bytes(p, 4)!);
      assert.equal(str(publication, 4), '{"x":1}');
      assert.equal(num(publication, 6), 1, 'offset');
      await c.close();
    });

    it('cf_protocol=protobuf query parameter selects Protobuf', async () => {
      const c = await open([], '?cf_protocol=protobuf');
      c.sendRaw(frame(connectCmd(1)));
      const rep = await protoReply(c, 1);
      assert.ok(bytes(rep, Rep.connect));
      await c.close();
    });

    it('error replies are encoded with code and message', async () => {
      const c = await open(['centrifuge-protobuf']);
      c.sendRaw(frame(connectCmd(1), subscribeCmd(2, 'nope:x')));
      const rep = await protoReply(c, 2);
      const err = decode(bytes(rep, Rep.error)!);
      assert.equal(num(err, 1), 102);
      assert.equal(str(err, 2), 'unknown channel');
      await c.close();
    });

    it('command before connect → 3501', async () => {
      await expectClose([frame(subscribeCmd(1, 'chat:x'))], 3501, { protocols: ['centrifuge-protobuf'], reason: 'bad request' });
    });

    it('truncated length prefix → 3501', async () => {
      const good = frame(connectCmd(1));
      await expectClose([Buffer.concat([Buffer.from([0x30]), good.subarray(1)])], 3501, { protocols: ['centrifuge-protobuf'] });
    });

    it('garbage bytes → 3501', async () => {
      await expectClose([Buffer.from([0x05, 0xff, 0xff, 0xff, 0xff, 0xff])], 3501, { protocols: ['centrifuge-protobuf'] });
    });

    it('a frame larger than websocket.message_size_limit → close 1009', async () => {
      const c = await open(['centrifuge-protobuf']);
      c.sendRaw(frame(connectCmd(1)));
      await protoReply(c, 1);
      c.sendRaw(frame(publishCmd(2, 'chat:big', JSON.stringify({ big: 'x'.repeat(MESSAGE_LIMIT + 10) }))));
      assert.equal((await c.waitClose()).code, 1009);
      await assertHealthy();
    });

    it('a second connect → 3501', async () => {
      const c = await open(['centrifuge-protobuf']);
      c.sendRaw(frame(connectCmd(1)));
      await protoReply(c, 1);
      c.sendRaw(frame(connectCmd(2)));
      assert.equal((await c.waitClose()).code, 3501);
      await assertHealthy();
    });

    it('binary data from a Protobuf publisher: Protobuf subscribers get the bytes, JSON subscribers 3506', async () => {
      const channel = `chat:${uniq()}`;
      const p = await open(['centrifuge-protobuf']);
      p.sendRaw(frame(connectCmd(1), subscribeCmd(2, channel)));
      await protoReply(p, 2);
      const j = await open();
      await j.connect();
      await j.call({ subscribe: { channel } });
      const payload = Buffer.from([0xff, 0xfe, 0x00, 0x01]);
      p.sendRaw(frame(msg(fVarint(Cmd.id, 3), fBytes(Cmd.publish, msg(fBytes(1, channel), fBytes(2, payload))))));
      await protoReply(p, 3);
      const push = await p.waitUntil(() => p.proto.find((f) => bytes(f, Rep.push)), 'binary push');
      assert.deepEqual(bytes(decode(bytes(decode(bytes(push, Rep.push)!), 4)!), 4), payload);
      assert.deepEqual(await j.waitClose(), { code: 3506, reason: 'inappropriate protocol' });
      await p.close();
      await assertHealthy();
    });

    it('large replies use multi-byte length prefixes', async () => {
      const channel = `chat:${uniq()}`;
      const p = await open(['centrifuge-protobuf']);
      p.sendRaw(frame(connectCmd(1), subscribeCmd(2, channel)));
      await protoReply(p, 2);
      const big = 'q'.repeat(20_000);
      await apiResult(gyre.apiUrl, API_KEY, 'publish', { channel, data: { big } });
      const push = await p.waitUntil(() => p.proto.find((f) => bytes(f, Rep.push)), 'large push');
      assert.deepEqual(JSON.parse(str(decode(bytes(decode(bytes(push, Rep.push)!), 4)!), 4)!), { big });
      await p.close();
    });

    it('a JSON publisher reaches a Protobuf subscriber as the UTF-8 bytes of the JSON', async () => {
      const p = await open(['centrifuge-protobuf']);
      const channel = `chat:${uniq()}`;
      p.sendRaw(frame(connectCmd(1), subscribeCmd(2, channel)));
      await protoReply(p, 2);
      const j = await open();
      await j.connect();
      await j.call({ publish: { channel, data: { from: 'json' } } });
      const push = await p.waitUntil(() => p.proto.find((f) => bytes(f, Rep.push)), 'push');
      const pub = decode(bytes(decode(bytes(push, Rep.push)!), 4)!);
      assert.deepEqual(JSON.parse(str(pub, 4)!), { from: 'json' });
      await Promise.all([p.close(), j.close()]);
    });
  });

  describe('slow client', () => {
    it('a reader that stops reading is disconnected with 3008; others keep receiving everything', async () => {
      const channel = `chat:${uniq()}`;
      const slow = await open();
      await slow.connect();
      await slow.call({ subscribe: { channel } });
      const healthy = await open();
      await healthy.connect();
      await healthy.call({ subscribe: { channel } });
      // Stop reading: the socket's kernel buffers fill up, then the server-side queue does.
      (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const payload = 'x'.repeat(64 * 1024);
      let published = 0;
      const stats = async (): Promise<number> => (await apiResult(gyre.apiUrl, API_KEY, 'presence_stats', { channel })).num_clients;
      for (let round = 0; round < 300 && (await stats()) === 2; round++) {
        const commands = Array.from({ length: 4 }, () => ({ publish: { channel, data: { p: payload } } }));
        const r = await apiCall(gyre.apiUrl, API_KEY, 'batch', { commands });
        assert.equal(r.status, 200);
        published += 4;
      }
      assert.equal(await stats(), 1, `slow client still subscribed after ${published} publications`);
      (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      const closed = await slow.waitClose(10_000);
      assert.equal(closed.code, 3008);
      assert.equal(closed.reason, 'slow');
      await waitFor(() => healthy.json.filter((m) => m.push?.pub).length === published, `healthy client got all ${published} publications`, 10_000);
      const offsets = healthy.json.filter((m) => m.push?.pub).map((m) => m.push.pub.offset);
      // History size is 10, so offsets keep counting: they must be strictly consecutive.
      offsets.forEach((o, i) => assert.equal(o, i + 1));
      await healthy.close();
      await assertHealthy();
    });
  });
});
