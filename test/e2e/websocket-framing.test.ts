/**
 * WebSocket framing and handshake against a real server, driven by raw TCP sockets that
 * send hand-made frames: fragmentation, frames split byte by byte, protocol violations
 * (1002, 1007, 1009), client pings and closes, frame ping/pong keepalive, bad handshakes
 * (400/405/426) while an SDK client keeps working, and compressed connections via ws.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import WebSocket from 'ws';
import { createGyre } from '../../src/index.js';
import { apiCall } from '../helpers/api.js';
import { Cmd, Rep, decode, fBytes, fVarint, frame as protoFrame, msg, splitFrame } from '../helpers/proto.js';
import { RawClient } from '../helpers/raw-ws.js';
import { SdkClients, subscribed } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { collect, sleep, uniq, waitFor } from '../helpers/wait.js';
import { clientFrame as frame, wsUpgrade, type UpgradeOptions } from '../helpers/ws-frame.js';

const API_KEY = 'framing-api-key';
const LIMIT = 4096;

interface ServerFrame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

const text = (s: string, o?: { fin?: boolean; masked?: boolean }): Buffer => frame(0x1, s, o);
const closePayload = (code: number, reason = ''): Buffer => Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason)]);

/** A WebSocket client on a bare TCP socket: exact bytes out, every server frame recorded. */
class TcpClient {
  readonly frames: ServerFrame[] = [];
  /** Resolves when the server ends or drops the TCP connection. */
  readonly ended: Promise<void>;
  endedAt = 0;
  private buf = Buffer.alloc(0);
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly socket: net.Socket,
    readonly response: { status: number; headers: Record<string, string> },
    rest: Buffer,
  ) {
    this.ended = new Promise((res) => {
      socket.once('close', () => {
        this.endedAt = Date.now();
        this.notify();
        res();
      });
    });
    socket.on('data', (d: Buffer) => this.read(d));
    socket.on('error', () => undefined);
    if (rest.length > 0) this.read(rest);
  }

  /** Sends a handshake (the default one, with header overrides) and reads the HTTP response. */
  static async open(port: number, opts: UpgradeOptions = {}): Promise<TcpClient> {
    const r = await wsUpgrade(port, opts);
    return new TcpClient(r.socket, { status: r.status, headers: r.headers }, r.rest);
  }

  private read(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      const b = this.buf;
      if (b.length < 2) break;
      let len = b[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) break;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) break;
        len = b.readUInt32BE(6);
        off = 10;
      }
      assert.equal(b[1]! & 0x80, 0, 'server frames are not masked');
      if (b.length < off + len) break;
      this.frames.push({ fin: (b[0]! & 0x80) !== 0, opcode: b[0]! & 0x0f, payload: Buffer.from(b.subarray(off, off + len)) });
      this.buf = b.subarray(off + len);
    }
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  send(...frames: Buffer[]): void {
    this.socket.write(Buffer.concat(frames));
  }

  /** Writes the bytes one at a time, pausing so that each arrives in its own TCP segment. */
  async sendBytewise(data: Buffer): Promise<void> {
    for (let i = 0; i < data.length; i++) {
      this.socket.write(data.subarray(i, i + 1));
      await sleep(1);
    }
  }

  /** Waits for the first frame after `from` matching `pred`. */
  waitFrame(pred: (f: ServerFrame) => boolean, what: string, timeoutMs = 5000): Promise<ServerFrame> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const f = this.frames.find(pred);
        if (f) {
          done();
          resolve(f);
        } else if (this.endedAt) {
          done();
          reject(new Error(`connection ended while waiting for ${what}; frames: ${this.describe()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}; frames: ${this.describe()}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** The JSON replies/pushes received in text frames. */
  json(): any[] {
    const out: any[] = [];
    for (const f of this.frames) {
      if (f.opcode !== 0x1) continue;
      for (const line of f.payload.toString('utf8').split('\n')) if (line !== '') out.push(JSON.parse(line));
    }
    return out;
  }

  reply(id: number): Promise<any> {
    return this.waitFrame((f) => f.opcode === 0x1 && f.payload.toString().split('\n').some((l) => l !== '' && JSON.parse(l).id === id), `reply ${id}`).then(
      () => this.json().find((m) => m.id === id),
    );
  }

  /** The server's close frame: code (undefined when empty) and reason. */
  async closeFrame(timeoutMs = 5000): Promise<{ code: number | undefined; reason: string }> {
    const f = await this.waitFrame((x) => x.opcode === 0x8, 'close frame', timeoutMs);
    if (f.payload.length === 0) return { code: undefined, reason: '' };
    return { code: f.payload.readUInt16BE(0), reason: f.payload.subarray(2).toString('utf8') };
  }

  /** Waits for the TCP connection to end; rejects after the timeout. */
  waitEnded(timeoutMs = 5000): Promise<void> {
    return Promise.race([this.ended, sleep(timeoutMs).then(() => Promise.reject(new Error(`TCP not closed within ${timeoutMs} ms`)))]);
  }

  describe(): string {
    return JSON.stringify(this.frames.map((f) => [f.opcode, f.payload.toString('utf8').slice(0, 200)])).slice(0, 2000);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

describe('WebSocket framing (raw TCP clients)', { timeout: 90_000 }, () => {
  let gyre: GyreProcess;
  let clients: SdkClients;
  const tcp: TcpClient[] = [];
  before(async () => {
    gyre = await startGyre({
      client: { insecure: true, ping_interval: '1s', pong_timeout: '500ms' },
      websocket: { message_size_limit: LIMIT },
      http_api: { key: API_KEY },
    });
    clients = new SdkClients(gyre.wsUrl, 'json');
  });
  after(async () => {
    for (const c of tcp) c.destroy();
    clients.closeAll();
    await gyre.stop();
  });

  async function open(opts: Parameters<typeof TcpClient.open>[1] = {}): Promise<TcpClient> {
    const c = await TcpClient.open(gyre.port, opts);
    tcp.push(c);
    return c;
  }

  /** An upgraded connection that has sent connect and got its reply. */
  async function connected(query = ''): Promise<TcpClient> {
    const c = await open({ path: `/connection/websocket${query}` });
    assert.equal(c.response.status, 101);
    c.send(text(JSON.stringify({ id: 1, connect: {} })));
    const rep = await c.reply(1);
    assert.ok(rep.connect.client);
    return c;
  }

  /** Publishes through the API and waits for the client to receive it. */
  async function assertDelivers(c: TcpClient): Promise<void> {
    const channel = uniq('framing');
    c.send(text(JSON.stringify({ id: 50, subscribe: { channel } })));
    await c.reply(50);
    assert.equal((await apiCall(gyre.apiUrl, API_KEY, 'publish', { channel, data: { n: 1 } })).status, 200);
    await c.waitFrame((f) => f.opcode === 0x1 && f.payload.includes(channel) && f.payload.includes('"pub"'), 'publication');
  }

  /** Expects the server's close frame with `code`, then the TCP connection to end. */
  async function expectClosed(c: TcpClient, code: number): Promise<void> {
    const cf = await c.closeFrame();
    assert.equal(cf.code, code, `close frame; frames: ${c.describe()}`);
    await c.waitEnded(7000);
  }

  it('handshake: 101 with Upgrade, Connection, Sec-WebSocket-Accept; the subprotocol is chosen like before', async () => {
    const plain = await open();
    assert.equal(plain.response.status, 101);
    assert.equal(plain.response.headers.upgrade?.toLowerCase(), 'websocket');
    assert.equal(plain.response.headers.connection?.toLowerCase(), 'upgrade');
    assert.equal(plain.response.headers['sec-websocket-protocol'], undefined);
    assert.equal(plain.response.headers['sec-websocket-extensions'], undefined, 'no compression when not configured');
    const json = await open({ headers: { 'Sec-WebSocket-Protocol': 'foo, centrifuge-json' } });
    assert.equal(json.response.headers['sec-websocket-protocol'], 'centrifuge-json');
    const proto = await open({ headers: { 'Sec-WebSocket-Protocol': 'centrifuge-json, centrifuge-protobuf', 'Sec-WebSocket-Extensions': 'permessage-deflate' } });
    assert.equal(proto.response.headers['sec-websocket-protocol'], 'centrifuge-protobuf');
    assert.equal(proto.response.headers['sec-websocket-extensions'], undefined);
    proto.send(frame(0x2, protoFrame(msg(fVarint(Cmd.id, 1), fBytes(Cmd.connect, Buffer.alloc(0))))));
    const reply = await proto.waitFrame((f) => f.opcode === 0x2, 'protobuf connect reply');
    const items = splitFrame(reply.payload).map(decode);
    assert.equal(items.length, 1);
    assert.ok(items[0]!.get(Rep.connect), 'a connect result');
    // Upper-case Upgrade and a Connection list are accepted.
    const mixed = await open({ headers: { Upgrade: 'WebSocket', Connection: 'keep-alive, Upgrade' } });
    assert.equal(mixed.response.status, 101);
    for (const c of [plain, json, proto, mixed]) c.destroy();
  });

  it('several frames in one TCP write are all read', async () => {
    const c = await open();
    const channel = uniq('multi');
    c.send(
      text(JSON.stringify({ id: 1, connect: {} })),
      text(JSON.stringify({ id: 2, subscribe: { channel } })),
      text(JSON.stringify({ id: 3, publish: { channel, data: { x: 1 } } })),
    );
    assert.ok((await c.reply(1)).connect);
    assert.deepEqual(await c.reply(2), { id: 2, subscribe: {} });
    assert.deepEqual(await c.reply(3), { id: 3, publish: {} });
    c.destroy();
  });

  it('a fragmented message (with a ping between fragments) is reassembled', async () => {
    const c = await open();
    const cmd = Buffer.from(JSON.stringify({ id: 1, connect: { name: 'frag-€' } }));
    // Cut inside the multi-byte '€' too: only the whole message must be valid UTF-8.
    const cut1 = 5;
    const cut2 = cmd.indexOf(Buffer.from('€')) + 1;
    c.send(frame(0x1, cmd.subarray(0, cut1), { fin: false }), frame(0x9, 'between'), frame(0x0, cmd.subarray(cut1, cut2), { fin: false }));
    await sleep(50);
    c.send(frame(0x0, cmd.subarray(cut2)));
    assert.ok((await c.reply(1)).connect.client);
    const pong = await c.waitFrame((f) => f.opcode === 0xa, 'pong');
    assert.equal(pong.payload.toString(), 'between');
    await assertDelivers(c);
    c.destroy();
  });

  it('frames split byte by byte across TCP segments are read', async () => {
    const c = await open();
    const channel = uniq('bytewise');
    const big = 'b'.repeat(300); // a 16-bit length
    await c.sendBytewise(
      Buffer.concat([
        text(JSON.stringify({ id: 1, connect: {} })),
        frame(0x9, 'pp'),
        text(JSON.stringify({ id: 2, subscribe: { channel } }), { fin: false }),
        frame(0x0, ''),
        text(JSON.stringify({ id: 3, publish: { channel, data: { big } } })),
      ]),
    );
    assert.ok((await c.reply(1)).connect);
    assert.deepEqual(await c.reply(2), { id: 2, subscribe: {} });
    assert.deepEqual(await c.reply(3), { id: 3, publish: {} });
    await c.waitFrame((f) => f.opcode === 0x1 && f.payload.includes(big), 'own publication');
    assert.equal((await c.waitFrame((f) => f.opcode === 0xa, 'pong')).payload.toString(), 'pp');
    c.destroy();
  });

  it('a client ping gets a pong with the same payload', async () => {
    const c = await connected();
    c.send(frame(0x9, 'hello ping'));
    assert.equal((await c.waitFrame((f) => f.opcode === 0xa, 'pong')).payload.toString(), 'hello ping');
    c.send(frame(0x9, ''));
    await waitFor(() => c.frames.filter((f) => f.opcode === 0xa).length === 2, 'second pong');
    assert.equal(c.frames.filter((f) => f.opcode === 0xa)[1]!.payload.length, 0);
    c.destroy();
  });

  it('a client close is echoed with its code, then the server closes TCP', async () => {
    const c = await connected();
    c.send(frame(0x8, closePayload(1000, 'bye')));
    assert.deepEqual(await c.closeFrame(), { code: 1000, reason: '' });
    await c.waitEnded();
    const e = await connected();
    e.send(frame(0x8, ''));
    assert.deepEqual(await e.closeFrame(), { code: undefined, reason: '' }, 'an empty close is echoed empty');
    await e.waitEnded();
    const f = await connected();
    f.send(frame(0x8, closePayload(4001)));
    assert.equal((await f.closeFrame()).code, 4001);
    await f.waitEnded();
  });

  it('a server disconnect sends its close frame; the client echo ends the connection', async () => {
    const c = await open();
    c.send(text(JSON.stringify({ id: 1, subscribe: { channel: 'x' } }))); // before connect
    assert.deepEqual(await c.closeFrame(), { code: 3501, reason: 'bad request' });
    c.send(frame(0x8, closePayload(3501)));
    await c.waitEnded(2000);
  });

  it('a server close waits for the client for at most 5 s', async () => {
    const c = await open();
    c.send(text('not json'));
    assert.equal((await c.closeFrame()).code, 3501);
    const started = Date.now();
    await c.waitEnded(8000);
    const waited = Date.now() - started;
    assert.ok(waited > 3000 && waited < 7500, `dropped after ${waited} ms`);
  });

  it('the client half-closing TCP closes the connection', async () => {
    const c = await connected();
    c.socket.end();
    await c.waitEnded();
  });

  const violations: [string, () => Buffer[], number][] = [
    ['an unmasked frame', () => [text('{}', { masked: false })], 1002],
    ['reserved bits', () => [Buffer.from([0xc1, 0x80, 1, 2, 3, 4])], 1002],
    ['an unknown opcode', () => [frame(0x3, 'x')], 1002],
    ['a control frame over 125 bytes', () => [frame(0x9, 'p'.repeat(126))], 1002],
    ['a fragmented ping', () => [frame(0x9, 'p', { fin: false })], 1002],
    ['a continuation without a message', () => [frame(0x0, '{}')], 1002],
    ['a new message inside a fragmented one', () => [text('{', { fin: false }), text('{}')], 1002],
    ['an invalid close code', () => [frame(0x8, closePayload(1005))], 1002],
    ['a message over message_size_limit', () => [text(JSON.stringify({ id: 9, publish: { channel: 'c', data: 'x'.repeat(LIMIT) } }))], 1009],
    ['fragments over message_size_limit together', () => [text('x'.repeat(LIMIT - 10), { fin: false }), frame(0x0, 'x'.repeat(20))], 1009],
    ['invalid UTF-8 in a text message', () => [frame(0x1, Buffer.from([0x7b, 0xc3, 0x28, 0x7d]))], 1007],
    ['invalid UTF-8 in a close reason', () => [frame(0x8, Buffer.from([0x03, 0xe8, 0xc3]))], 1007],
  ];
  for (const [what, frames, code] of violations) {
    it(`${what} → close ${code}; others keep working`, async () => {
      const c = await connected();
      c.send(...frames());
      await expectClosed(c, code);
      const healthy = await connected();
      await assertDelivers(healthy);
      healthy.destroy();
    });
  }

  it('an oversized frame is refused from its header, without waiting for the payload', async () => {
    const c = await connected();
    const f = text('x'.repeat(LIMIT * 4));
    c.send(f.subarray(0, 20));
    await expectClosed(c, 1009);
  });

  it('bad handshakes get HTTP errors while a connected SDK client keeps working', async (t: TestContext) => {
    const sdk = await clients.connected();
    t.after(() => sdk.disconnect());
    const channel = uniq('bystander');
    const { sub } = await subscribed(sdk, channel);
    const got = collect(sub, 'publication');
    const cases: [string, Parameters<typeof TcpClient.open>[1], number][] = [
      ['missing Sec-WebSocket-Key', { headers: { 'Sec-WebSocket-Key': undefined } }, 400],
      ['a key that is not 16 bytes', { headers: { 'Sec-WebSocket-Key': Buffer.from('short').toString('base64') } }, 400],
      ['version 8', { headers: { 'Sec-WebSocket-Version': '8' } }, 426],
      ['no version', { headers: { 'Sec-WebSocket-Version': undefined } }, 426],
      ['Upgrade: h2c', { headers: { Upgrade: 'h2c' } }, 400],
      ['POST', { method: 'POST', headers: { 'Content-Length': '0' } }, 405],
    ];
    for (const [what, opts, status] of cases) {
      const c = await open(opts);
      assert.equal(c.response.status, status, what);
      if (status === 426) assert.equal(c.response.headers['sec-websocket-version'], '13');
      await c.waitEnded();
    }
    assert.equal((await apiCall(gyre.apiUrl, API_KEY, 'publish', { channel, data: { still: 'here' } })).status, 200);
    await waitFor(() => got.length === 1, 'publication to the SDK client');
    assert.deepEqual(got[0].data, { still: 'here' });
  });

  it('cf_ws_frame_ping_pong: ping frames instead of app pings; pongs keep the connection, silence ends it', async () => {
    const c = await open({ path: '/connection/websocket?cf_ws_frame_ping_pong=true' });
    c.send(text(JSON.stringify({ id: 1, connect: {} })));
    const rep = await c.reply(1);
    assert.equal(rep.connect.ping, undefined, 'no app-level ping advertised');
    let answered = 0;
    const answer = setInterval(() => {
      const pings = c.frames.filter((f) => f.opcode === 0x9).length;
      while (answered < pings) {
        c.send(frame(0xa, ''));
        answered++;
      }
    }, 50);
    await sleep(2600);
    clearInterval(answer);
    const pings = c.frames.filter((f) => f.opcode === 0x9);
    assert.ok(pings.length >= 2, `expected ≥ 2 ping frames in 2.6 s, got ${pings.length}`);
    assert.ok(pings.every((p) => p.payload.length === 0));
    assert.ok(!c.json().some((m) => Object.keys(m).length === 0), 'no app-level pings');
    assert.equal(c.endedAt, 0, 'answered pings keep the connection');
    // Stop answering: dropped within two intervals, without a close frame.
    await c.waitEnded(4000);
  });

  it('cf_ws_frame_ping_pong: any data frame also counts as alive', async () => {
    const c = await connected('?cf_ws_frame_ping_pong=true');
    let id = 10;
    const keep = setInterval(() => c.send(text(JSON.stringify({ id: id++, publish: { channel: 'keep', data: {} } }))), 300);
    await sleep(2600);
    clearInterval(keep);
    assert.equal(c.endedAt, 0, 'still open while sending data');
    c.destroy();
  });
});

describe('WebSocket writes past the kernel buffers (raw TCP client)', { timeout: 90_000 }, () => {
  let gyre: GyreProcess;
  before(async () => {
    gyre = await startGyre({ client: { insecure: true, queue_max_size: 64 * 1024 * 1024 }, http_api: { key: API_KEY } });
  });
  after(() => gyre.stop());

  it('a client that stops reading gets every publication whole and in order once it reads again', async () => {
    const c = await TcpClient.open(gyre.port);
    try {
      c.send(text(JSON.stringify({ id: 1, connect: {} })));
      await c.reply(1);
      const channel = uniq('backlog');
      c.send(text(JSON.stringify({ id: 2, subscribe: { channel } })));
      await c.reply(2);
      // About 13 MB while the client reads nothing: past what the kernel takes (a few MB on
      // loopback), so frames are cut where its buffers are full and the rest waits in the server.
      c.socket.pause();
      const count = 200;
      const pad = 'x'.repeat(64 * 1024);
      for (let n = 0; n < count; n++) {
        assert.equal((await apiCall(gyre.apiUrl, API_KEY, 'publish', { channel, data: { n, pad } })).status, 200);
      }
      c.socket.resume();
      const received = (): number => c.frames.reduce((n, f) => n + f.payload.length, 0);
      await waitFor(() => received() >= count * pad.length, `${count} publications`, 30_000);
      await sleep(200);
      const got = c.json().filter((m) => m.push?.channel === channel && m.push.pub);
      assert.equal(got.length, count, 'each publication once');
      got.forEach((m, i) => {
        assert.equal(m.push.pub.data.n, i, 'in order');
        assert.equal(m.push.pub.data.pad, pad, 'whole');
      });
    } finally {
      c.destroy();
    }
  });
});

describe('WebSocket with compression enabled', { timeout: 60_000 }, () => {
  let gyre: GyreProcess;
  before(async () => {
    gyre = await startGyre({ client: { insecure: true, ping_interval: '1s', pong_timeout: '500ms' }, websocket: { compression: true }, http_api: { key: API_KEY } });
  });
  after(() => gyre.stop());

  it('a client offering permessage-deflate gets it (through ws) and works', async () => {
    const c = await RawClient.open(gyre.wsUrl, { protocols: ['centrifuge-json'] });
    assert.match(c.ws.extensions, /permessage-deflate/);
    assert.equal(c.ws.protocol, 'centrifuge-json');
    await c.connect();
    const channel = uniq('deflate');
    await c.call({ subscribe: { channel } });
    const big = 'q'.repeat(30_000);
    assert.equal((await apiCall(gyre.apiUrl, API_KEY, 'publish', { channel, data: { big } })).status, 200);
    const push = await c.push((p) => p.channel === channel && p.pub);
    assert.equal(push.pub.data.big, big);
    await c.close();
  });

  it('cf_ws_frame_ping_pong works over a compressed connection', async () => {
    const ws = new WebSocket(`${gyre.wsUrl}?cf_ws_frame_ping_pong=true`);
    let pings = 0;
    ws.on('ping', () => pings++);
    await new Promise((res, rej) => {
      ws.once('open', res);
      ws.once('error', rej);
    });
    assert.match(ws.extensions, /permessage-deflate/);
    ws.send(JSON.stringify({ id: 1, connect: {} }));
    await sleep(2600);
    assert.ok(pings >= 2, `expected ≥ 2 pings, got ${pings}`);
    assert.equal(ws.readyState, WebSocket.OPEN, 'ws answers pings itself, so the connection stays');
    ws.close();
  });

  it('a client not offering it gets the plain connection on the same server', async () => {
    const c = await TcpClient.open(gyre.port);
    assert.equal(c.response.status, 101);
    assert.equal(c.response.headers['sec-websocket-extensions'], undefined);
    c.send(text(JSON.stringify({ id: 1, connect: {} })));
    assert.ok((await c.reply(1)).connect.client);
    c.send(frame(0x8, closePayload(1000)));
    assert.equal((await c.closeFrame()).code, 1000);
    await c.waitEnded();
  });
});

/** An embedded Gyre on a free port whose onConnecting hook records the headers of every connection (user id from X-User). */
async function gyreSeeingHeaders(t: TestContext, config: object): Promise<{ port: number; seen: Record<string, string | string[] | undefined>[] }> {
  const seen: Record<string, string | string[] | undefined>[] = [];
  const gyre = await createGyre({
    config: { http_server: { address: '127.0.0.1', port: 0 }, log: { level: 'error' }, ...config },
    handlers: {
      onConnecting: async (ctx) => {
        seen.push(ctx.headers);
        return { userId: String(ctx.headers['x-user'] ?? '') };
      },
    },
  });
  t.after(() => gyre.close());
  const { port } = await gyre.listen();
  return { port, seen };
}

describe('headers a session sees (embedded Gyre, onConnecting)', () => {
  for (const compression of [false, true]) {
    it(`${compression ? 'compressed (ws)' : 'plain'} connections: request headers without the handshake-only ones`, async (t: TestContext) => {
      const { port, seen } = await gyreSeeingHeaders(t, { websocket: { compression } });
      for (let i = 0; i < 2; i++) {
        const c = await RawClient.open(`ws://127.0.0.1:${port}/connection/websocket`, { protocols: ['centrifuge-json'] });
        assert.equal(c.ws.extensions.includes('permessage-deflate'), compression);
        await c.connect();
        await c.close();
      }
      assert.equal(seen.length, 2);
      for (const h of seen) {
        assert.equal(h.host, `127.0.0.1:${port}`);
        assert.equal(h['sec-websocket-protocol'], 'centrifuge-json');
        for (const gone of ['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'upgrade', 'connection']) {
          assert.equal(h[gone], undefined, gone);
        }
      }
    });
  }

  it('custom headers (and header-based user ids) reach the session', async (t: TestContext) => {
    const { port, seen } = await gyreSeeingHeaders(t, { client: { allowed_origins: ['http://app.example'] } });
    const c = await TcpClient.open(port, { headers: { 'X-User': 'alice', Origin: 'http://app.example', Cookie: 'a=1' } });
    assert.equal(c.response.status, 101);
    c.send(text(JSON.stringify({ id: 1, connect: {} })));
    assert.ok((await c.reply(1)).connect.client);
    c.destroy();
    assert.equal(seen[0]!['x-user'], 'alice');
    assert.equal(seen[0]!.origin, 'http://app.example');
    assert.equal(seen[0]!.cookie, 'a=1');
  });
});
