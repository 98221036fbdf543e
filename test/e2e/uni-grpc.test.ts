/**
 * The uni_grpc transport against a real Gyre process, with a @grpc/grpc-js client built from
 * proto/unistream.proto: the connect push (token and anonymous), publications of server-side
 * subscriptions published through the HTTP API, connect failures as disconnect pushes (with
 * the configured transform), an API disconnect ending the stream with OK, the client's
 * cancel closing its session, and many connect/cancel rounds leaving no session behind.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { apiResult } from '../helpers/api.js';
import { uniClient } from '../helpers/grpc.js';
import { freePort, startGyre, type GyreProcess } from '../helpers/server-process.js';
import { snapshotCounts } from '../helpers/heap-snapshot.js';
import { hmacToken } from '../helpers/tokens.js';
import { uniq, waitFor } from '../helpers/wait.js';

const SECRET = 'uni-grpc-secret-0123456789abcdef012345';
const API_KEY = 'uni-grpc-key';

/** One Consume call: every push received, and how the stream ended. */
class Stream {
  readonly pushes: any[] = [];
  status: grpc.StatusObject | undefined;
  error: grpc.ServiceError | undefined;
  ended = false;
  readonly call: grpc.ClientReadableStream<any>;

  constructor(client: Record<string, any>, req: unknown, md: Record<string, string> = {}) {
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(md)) metadata.set(k, v);
    this.call = client.Consume(req, metadata);
    this.call.on('data', (p: any) => this.pushes.push(p));
    this.call.on('status', (s: grpc.StatusObject) => (this.status = s));
    this.call.on('error', (e: grpc.ServiceError) => (this.error = e));
    this.call.on('end', () => (this.ended = true));
  }

  push(pred: (p: any) => boolean, what: string): Promise<any> {
    return waitFor(() => this.pushes.find(pred), what);
  }

  /** Resolves with the final status once the server ended the stream. */
  async finished(): Promise<grpc.StatusObject> {
    return waitFor(() => (this.status && this.ended ? this.status : this.error ? { code: this.error.code, details: this.error.details, metadata: this.error.metadata } : undefined), 'stream end');
  }
}

const json = (b: Buffer | undefined): unknown => JSON.parse(Buffer.from(b ?? []).toString('utf8'));

describe('uni_grpc transport', { timeout: 90_000 }, () => {
  let gyre: GyreProcess;
  let client: grpc.Client & Record<string, any>;
  const streams: Stream[] = [];
  const open = (req: unknown, md: Record<string, string> = {}): Stream => {
    const s = new Stream(client, req, md);
    streams.push(s);
    return s;
  };
  const numClients = async (): Promise<number> => (await apiResult(gyre.apiUrl, API_KEY, 'info', {})).nodes[0].num_clients ?? 0;

  before(async () => {
    const port = await freePort();
    gyre = await startGyre({
      log: { level: 'warn' },
      client: {
        token: { hmac_secret_key: SECRET },
        allow_anonymous_connect_without_token: true,
        queue_max_size: 65536,
        connect_code_to_unidirectional_disconnect: { enabled: true, transforms: [{ code: 102, to: { code: 4102, reason: 'unknown channel in token' } }] },
      },
      channel: { namespaces: [{ name: 'ns', presence: true }] },
      http_api: { key: API_KEY },
      uni_grpc: { enabled: true, address: '127.0.0.1', port },
      prometheus: { enabled: true },
    }, { nodeArgs: ['--heapsnapshot-signal=SIGUSR2'] });
    client = uniClient(port);
  });

  after(async () => {
    for (const s of streams) s.call.cancel();
    client?.close();
    await gyre?.stop();
  });

  it('connects with a token and streams publications of server-side subscriptions', async () => {
    const channel = `ns:${uniq('tok')}`;
    const token = await hmacToken(SECRET, { sub: 'grpc-user', channels: [channel] });
    const s = open({ token, name: 'grpc-test', version: '1.0' });
    const first = await s.push(() => true, 'first push');
    assert.ok(first.connect, 'the first push is connect');
    assert.ok(first.connect.client);
    assert.ok(first.connect.session, 'unidirectional connects carry a session id');
    assert.ok(first.connect.subs[channel], 'the token channel is subscribed');
    const pres = await apiResult(gyre.apiUrl, API_KEY, 'presence', { channel });
    assert.equal((Object.values(pres.presence) as any[])[0].user, 'grpc-user');

    await apiResult(gyre.apiUrl, API_KEY, 'publish', { channel, data: { n: 1 } });
    await apiResult(gyre.apiUrl, API_KEY, 'publish', { channel, data: { n: 2 } });
    const pubs = await waitFor(() => {
      const got = s.pushes.filter((p) => p.pub);
      return got.length >= 2 ? got : undefined;
    }, 'two publications');
    assert.deepEqual(pubs.map((p) => [p.channel, json(p.pub.data)]), [
      [channel, { n: 1 }],
      [channel, { n: 2 }],
    ]);
  });

  it('connects anonymously without a token', async () => {
    const s = open({});
    const first = await s.push(() => true, 'connect push');
    assert.ok(first.connect?.client);
    const before = await numClients();
    assert.ok(before >= 1);
    const metrics = await (await fetch(`${gyre.base}/metrics`)).text();
    assert.match(metrics, /client_connections_accepted\{[^}]*transport="uni_grpc"[^}]*accept_protocol="h2"/);
  });

  it('sends a disconnect push and ends the stream with OK when the API disconnects the user', async () => {
    const token = await hmacToken(SECRET, { sub: 'to-disconnect' });
    const s = open({ token });
    await s.push((p) => p.connect, 'connect');
    await apiResult(gyre.apiUrl, API_KEY, 'disconnect', { user: 'to-disconnect', disconnect: { code: 4321, reason: 'go away' } });
    const d = await s.push((p) => p.disconnect, 'disconnect push');
    assert.equal(d.disconnect.code, 4321);
    assert.equal(d.disconnect.reason, 'go away');
    const st = await s.finished();
    assert.equal(st.code, grpc.status.OK);
  });

  it('turns connect failures into disconnect pushes, through the configured transforms', async () => {
    const bad = open({ token: 'not-a-jwt' });
    const d1 = await bad.push((p) => p.disconnect, 'disconnect for a bad token');
    assert.equal(d1.disconnect.code, 3500);
    assert.equal((await bad.finished()).code, grpc.status.OK);
    assert.equal(bad.pushes.some((p) => p.connect), false);

    const unknown = open({ token: await hmacToken(SECRET, { sub: 'x', channels: ['nowhere:1'] }) });
    const d2 = await unknown.push((p) => p.disconnect, 'disconnect for an unknown channel');
    assert.deepEqual([d2.disconnect.code, d2.disconnect.reason], [4102, 'unknown channel in token']);
  });

  it('answers INVALID_ARGUMENT for bytes that are not a ConnectRequest', async () => {
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      // Field 1 (token) with a length prefix cut off.
      const call = client.makeServerStreamRequest('/centrifugal.centrifugo.unistream.CentrifugoUniStream/Consume', (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0x0a, 0xff]), new grpc.Metadata(), { deadline: Date.now() + 5000 });
      call.on('data', () => undefined);
      call.on('error', () => undefined);
      call.on('status', resolve);
    });
    assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
  });

  it('closes the session when the client cancels the call', async () => {
    const channel = `ns:${uniq('cancel')}`;
    const token = await hmacToken(SECRET, { sub: 'canceller', channels: [channel] });
    const s = open({ token });
    await s.push((p) => p.connect, 'connect');
    const present = await apiResult(gyre.apiUrl, API_KEY, 'presence_stats', { channel });
    assert.equal(present.num_clients, 1);
    s.call.cancel();
    await waitFor(async () => ((await apiResult(gyre.apiUrl, API_KEY, 'presence_stats', { channel })).num_clients ?? 0) === 0, 'presence to empty');
  });

  it('disconnects a client that stops reading once its queue passes client.queue_max_size', async () => {
    const channel = `ns:${uniq('slow')}`;
    const token = await hmacToken(SECRET, { sub: 'slow-reader', channels: [channel] });
    const s = open({ token });
    await s.push((p) => p.connect, 'connect');
    s.call.pause();
    const data = { blob: 'y'.repeat(16_384) };
    // Far more than HTTP/2 flow control windows and the 64 KiB queue bound hold.
    for (let i = 0; i < 200; i++) {
      await apiResult(gyre.apiUrl, API_KEY, 'publish', { channel, data });
      if (i % 20 === 19 && ((await apiResult(gyre.apiUrl, API_KEY, 'presence_stats', { channel })).num_clients ?? 0) === 0) break;
    }
    await waitFor(async () => ((await apiResult(gyre.apiUrl, API_KEY, 'presence_stats', { channel })).num_clients ?? 0) === 0, 'the slow session to close');
    s.call.resume();
    const st = await s.finished();
    assert.notEqual(st, undefined);
    assert.ok(s.pushes.filter((p) => p.pub).length < 200, 'not everything was delivered');
  });

  it('leaves no session, transport or stream behind after many connect and cancel rounds', async () => {
    for (const s of streams) s.call.cancel();
    await waitFor(async () => (await numClients()) === 0, 'earlier sessions to close');
    const baseline = 0;
    for (let round = 0; round < 5; round++) {
      const batch: Stream[] = [];
      for (let i = 0; i < 20; i++) batch.push(new Stream(client, { token: await hmacToken(SECRET, { sub: `churn-${i}` }) }));
      await Promise.all(batch.map((s) => s.push((p) => p.connect, 'connect')));
      assert.equal(await numClients(), baseline + 20);
      for (const s of batch) s.call.cancel();
      await waitFor(async () => (await numClients()) === baseline, 'sessions to close');
    }
    const tracked = ['ClientSession', 'ConnectionWriter', 'UniGrpcTransport', 'ServerWritableStreamImpl'];
    const counts = await waitFor(async () => {
      const c = await snapshotCounts(gyre.child, gyre.dir, tracked);
      return tracked.every((n) => (c[n] ?? 0) === 0) ? c : undefined;
    }, 'no live session objects', 20_000).catch(async () => snapshotCounts(gyre.child, gyre.dir, tracked));
    for (const n of tracked) assert.equal(counts[n] ?? 0, 0, `${n} left: ${JSON.stringify(counts)}`);
  });
});

describe('uni_grpc at shutdown', { timeout: 60_000 }, () => {
  it('sends the shutdown disconnect (3001) and ends the stream, and the process exits', async () => {
    const port = await freePort();
    const apiPort = await freePort();
    const gyre = await startGyre({
      log: { level: 'warn' },
      client: { allow_anonymous_connect_without_token: true },
      uni_grpc: { enabled: true, address: '127.0.0.1', port },
      grpc_api: { enabled: true, address: '127.0.0.1', port: apiPort },
    });
    const client = uniClient(port);
    try {
      const s = new Stream(client, {});
      await s.push((p) => p.connect, 'connect');
      const exit = gyre.stop();
      const d = await s.push((p) => p.disconnect, 'shutdown disconnect');
      assert.equal(d.disconnect.code, 3001);
      assert.equal((await s.finished()).code, grpc.status.OK);
      assert.equal(await exit, 0);
    } finally {
      client.close();
      await gyre.stop();
    }
  });
});
