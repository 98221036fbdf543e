/**
 * The GRPC server API against a real Gyre process, with a @grpc/grpc-js client built from
 * proto/api.proto: the API key, every method (answers equal to the HTTP API's), bytes
 * payloads, errors in the response and as statuses (transport error mode), malformed
 * request bytes, methods Gyre does not serve, reflection, TLS, the receive size limit and
 * metrics. A publication sent over GRPC reaches an official-SDK subscriber over WebSocket.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import net from 'node:net';
import { GyreServer } from '../../src/server/index.js';
import { apiCall, apiResult } from '../helpers/api.js';
import { apiClient, rawUnary, selfSignedCert, unary } from '../helpers/grpc.js';
import { SdkClients } from '../helpers/sdk.js';
import { freePort, repoRoot, startGyre, type GyreProcess } from '../helpers/server-process.js';
import { hmacToken } from '../helpers/tokens.js';
import { uniq, waitEvent, waitFor } from '../helpers/wait.js';

const SECRET = 'grpc-api-secret-0123456789abcdef01234';
const KEY = 'grpc-api-key';
const auth = { authorization: `apikey ${KEY}` };

const namespaces = [{ name: 'ns', presence: true, history_size: 10, history_ttl: '60s', allow_subscribe_for_client: true, join_leave: true }];

/** A google.rpc.Status from grpc-status-details-bin, with its first detail's type and Error fields. */
function decodeStatusDetails(bin: Buffer): { code: number; message: string; typeUrl: string; errCode: number; errMessage: string } {
  const { root } = protobuf.parse(`syntax = "proto3";
    message Status { int32 code = 1; string message = 2; repeated Any details = 3; }
    message Any { string type_url = 1; bytes value = 2; }
    message Error { uint32 code = 1; string message = 2; }`, { keepCase: true });
  const st = root.lookupType('Status').decode(bin) as any;
  const any = st.details[0];
  const err = root.lookupType('Error').decode(any.value) as any;
  return { code: st.code, message: st.message, typeUrl: any.type_url, errCode: err.code, errMessage: err.message };
}

describe('GRPC server API', { timeout: 120_000 }, () => {
  let gyre: GyreProcess;
  let port = 0;
  let client: grpc.Client & Record<string, any>;
  let sdk: SdkClients;

  before(async () => {
    port = await freePort();
    gyre = await startGyre({
      log: { level: 'warn' },
      client: { token: { hmac_secret_key: SECRET } },
      channel: { namespaces },
      http_api: { key: 'http-key' },
      grpc_api: { enabled: true, address: '127.0.0.1', port, key: KEY },
      prometheus: { enabled: true },
    });
    client = apiClient(port);
    sdk = new SdkClients(gyre.wsUrl, 'json');
  });

  after(async () => {
    sdk?.closeAll();
    client?.close();
    await gyre?.stop();
  });

  const connectSdk = async (user: string) => sdk.connected({ token: await hmacToken(SECRET, { sub: user, info: { name: user } }) });

  it('requires the API key in the authorization metadata', async () => {
    const none = await unary(client, 'Info', {});
    assert.equal(none.err?.code, grpc.status.UNAUTHENTICATED);
    const wrong = await unary(client, 'Info', {}, { authorization: 'apikey nope' });
    assert.equal(wrong.err?.code, grpc.status.UNAUTHENTICATED);
    const bare = await unary(client, 'Info', {}, { authorization: KEY });
    assert.equal(bare.err?.code, grpc.status.UNAUTHENTICATED);
    const ok = await unary(client, 'Info', {}, auth);
    assert.equal(ok.err, undefined);
    assert.equal(ok.res.result.nodes.length, 1);
  });

  it('delivers a GRPC publish to an SDK subscriber, data bytes as JSON', async () => {
    const c = await connectSdk('pub-user');
    const channel = `ns:${uniq('pub')}`;
    const sub = c.newSubscription(channel);
    const subscribed = waitEvent(sub, 'subscribed');
    sub.subscribe();
    await subscribed;
    const got = waitEvent<any>(sub, 'publication');
    const r = await unary(client, 'Publish', { channel, data: Buffer.from('{"text":"over grpc","n":1}') }, auth);
    assert.equal(r.err, undefined);
    assert.equal(r.res.error, undefined);
    assert.equal(r.res.result.offset, 1);
    assert.ok(r.res.result.epoch);
    assert.deepEqual((await got).data, { text: 'over grpc', n: 1 });
    // b64data is honoured too.
    const got2 = waitEvent<any>(sub, 'publication');
    const r2 = await unary(client, 'Publish', { channel, b64data: Buffer.from('{"b":64}').toString('base64') }, auth);
    assert.equal(r2.res.result.offset, 2);
    assert.deepEqual((await got2).data, { b: 64 });
  });

  it('answers history, presence, channels and info as the HTTP API does', async () => {
    const c = await connectSdk('hist-user');
    const channel = `ns:${uniq('hist')}`;
    const sub = c.newSubscription(channel);
    const subscribed = waitEvent(sub, 'subscribed');
    sub.subscribe();
    await subscribed;
    await unary(client, 'Publish', { channel, data: Buffer.from('{"a":1}'), tags: { k: 'v' } }, auth);
    await unary(client, 'Broadcast', { channels: [channel, 'ns:other'], data: Buffer.from('{"a":2}') }, auth);

    const hist = await unary(client, 'History', { channel, limit: -1 }, auth);
    const httpHist = await apiResult(gyre.apiUrl, 'http-key', 'history', { channel, limit: -1 });
    assert.equal(hist.res.result.publications.length, 2);
    assert.equal(hist.res.result.epoch, httpHist.epoch);
    assert.equal(hist.res.result.offset, httpHist.offset);
    hist.res.result.publications.forEach((p: any, i: number) => {
      assert.deepEqual(JSON.parse(p.data.toString()), httpHist.publications[i].data);
      assert.equal(p.offset, httpHist.publications[i].offset);
    });
    assert.deepEqual(hist.res.result.publications[0].tags, { k: 'v' });

    const since = await unary(client, 'History', { channel, limit: 10, since: { offset: 1, epoch: hist.res.result.epoch } }, auth);
    assert.deepEqual(since.res.result.publications.map((p: any) => p.offset), [2]);

    const pres = await unary(client, 'Presence', { channel }, auth);
    const entries = Object.values(pres.res.result.presence) as any[];
    assert.equal(entries.length, 1);
    assert.equal(entries[0].user, 'hist-user');
    assert.deepEqual(JSON.parse(entries[0].conn_info.toString()), { name: 'hist-user' });
    const stats = await unary(client, 'PresenceStats', { channel }, auth);
    assert.deepEqual(stats.res.result, { num_clients: 1, num_users: 1 });

    const chans = await unary(client, 'Channels', { pattern: 'ns:hist*' }, auth);
    assert.equal(chans.res.result.channels[channel].num_clients, 1);

    const info = await unary(client, 'Info', {}, auth);
    const httpInfo = await apiResult(gyre.apiUrl, 'http-key', 'info', {});
    assert.equal(info.res.result.nodes[0].uid, httpInfo.nodes[0].uid);
    assert.equal(info.res.result.nodes[0].name, httpInfo.nodes[0].name);
    assert.ok(info.res.result.nodes[0].num_clients >= 1);

    const removed = await unary(client, 'HistoryRemove', { channel }, auth);
    assert.deepEqual(removed.res.result, {});
    const after = await unary(client, 'History', { channel, limit: -1 }, auth);
    assert.equal(after.res.result.publications, undefined);
  });

  it('subscribes, unsubscribes, refreshes and disconnects SDK clients', async () => {
    const c = await connectSdk('ctl-user');
    const channel = `ns:${uniq('srv')}`;
    const serverSub = waitEvent<any>(c, 'subscribed', { pred: (ctx) => ctx.channel === channel });
    const s = await unary(client, 'Subscribe', { channel, user: 'ctl-user', data: Buffer.from('{"hello":1}') }, auth);
    assert.deepEqual(s.res, { result: {} });
    assert.deepEqual((await serverSub).data, { hello: 1 });
    const unsub = waitEvent<any>(c, 'unsubscribed', { pred: (ctx) => ctx.channel === channel });
    const u = await unary(client, 'Unsubscribe', { channel, user: 'ctl-user' }, auth);
    assert.deepEqual(u.res, { result: {} });
    await unsub;
    const ref = await unary(client, 'Refresh', { user: 'ctl-user', expire_at: Math.floor(Date.now() / 1000) + 3600 }, auth);
    assert.deepEqual(ref.res, { result: {} });
    const gone = waitEvent<any>(c, 'disconnected');
    const d = await unary(client, 'Disconnect', { user: 'ctl-user', disconnect: { code: 4500, reason: 'bye' } }, auth);
    assert.deepEqual(d.res, { result: {} });
    const ctx = await gone;
    assert.equal(ctx.code, 4500);
  });

  it('reports API errors in the response like the HTTP API', async () => {
    const unknown = await unary(client, 'Publish', { channel: 'nope:x', data: Buffer.from('{}') }, auth);
    const httpUnknown = await apiCall(gyre.apiUrl, 'http-key', 'publish', { channel: 'nope:x', data: {} });
    assert.deepEqual(unknown.res.error, httpUnknown.body.error);
    assert.deepEqual(unknown.res.error, { code: 102, message: 'unknown channel' });
    const missing = await unary(client, 'Publish', { data: Buffer.from('{}') }, auth);
    assert.deepEqual(missing.res.error, { code: 107, message: 'bad request' });
    const rpc = await unary(client, 'RPC', { method: 'nothing', params: Buffer.from('{}') }, auth);
    assert.deepEqual(rpc.res.error, { code: 104, message: 'not found' });
  });

  it('answers a batch in command order, unknown commands as 104', async () => {
    const channel = `ns:${uniq('batch')}`;
    const r = await unary(
      client,
      'Batch',
      {
        commands: [
          { publish: { channel, data: Buffer.from('{"i":1}') } },
          { connections: {} },
          { publish: { channel: 'nope:x', data: Buffer.from('{}') } },
          { history: { channel, limit: -1 } },
        ],
      },
      auth,
    );
    assert.equal(r.err, undefined);
    const replies = r.res.replies;
    assert.equal(replies.length, 4);
    assert.equal(replies[0].publish.offset, 1);
    assert.deepEqual(replies[1].error, { code: 104, message: 'not found' });
    assert.deepEqual(replies[2].error, { code: 102, message: 'unknown channel' });
    assert.deepEqual(JSON.parse(replies[3].history.publications[0].data.toString()), { i: 1 });
    const par = await unary(client, 'Batch', { parallel: true, commands: [{ presence_stats: { channel } }, { info: {} }] }, auth);
    assert.equal(par.res.replies[0].presence_stats.num_clients ?? 0, 0);
    assert.equal(par.res.replies[1].info.nodes.length, 1);
  });

  it('turns errors into statuses in transport error mode (metadata)', async () => {
    const r = await unary(client, 'Publish', { channel: 'nope:x', data: Buffer.from('{}') }, { ...auth, 'x-centrifugo-error-mode': 'transport' });
    assert.equal(r.err?.code, grpc.status.NOT_FOUND);
    assert.equal(r.err?.details, 'unknown channel');
    const bin = r.err?.metadata.get('grpc-status-details-bin')[0];
    assert.ok(Buffer.isBuffer(bin));
    const st = decodeStatusDetails(bin);
    assert.deepEqual(st, { code: grpc.status.NOT_FOUND, message: 'unknown channel', typeUrl: 'type.googleapis.com/centrifugal.centrifugo.api.Error', errCode: 102, errMessage: 'unknown channel' });
    const bad = await unary(client, 'Publish', { data: Buffer.from('{}') }, { ...auth, 'x-centrifugo-error-mode': 'transport' });
    assert.equal(bad.err?.code, grpc.status.INVALID_ARGUMENT);
    // Batch keeps per-command errors whatever the mode.
    const batch = await unary(client, 'Batch', { commands: [{ publish: { channel: 'nope:x', data: Buffer.from('{}') } }] }, { ...auth, 'x-centrifugo-error-mode': 'transport' });
    assert.deepEqual(batch.res.replies[0].error, { code: 102, message: 'unknown channel' });
  });

  it('answers INVALID_ARGUMENT for bytes that are not the request message', async () => {
    const md = new grpc.Metadata();
    md.set('authorization', `apikey ${KEY}`);
    // Field 4 (skip_history, a varint) cut off in the middle of its value.
    const r = await rawUnary(client, '/centrifugal.centrifugo.api.CentrifugoApi/Publish', Buffer.from([0x0a, 0x01, 0x61, 0x20, 0xff]), md);
    assert.equal(r.err?.code, grpc.status.INVALID_ARGUMENT);
    // Well-formed bytes work on the same raw path.
    const ok = await rawUnary(client, '/centrifugal.centrifugo.api.CentrifugoApi/Info', Buffer.alloc(0), md);
    assert.equal(ok.err, undefined);
    // The server carries on.
    assert.equal((await unary(client, 'Info', {}, auth)).err, undefined);
  });

  it('answers UNIMPLEMENTED for methods Gyre does not serve', async () => {
    for (const m of ['Connections', 'UpdateUserStatus', 'DeviceList']) {
      const r = await unary(client, m, {}, auth);
      assert.equal(r.err?.code, grpc.status.UNIMPLEMENTED, m);
    }
  });

  it('counts calls under protocol "grpc" in the metrics', async () => {
    await unary(client, 'Info', {}, auth);
    const text = await waitFor(async () => {
      const t = await (await fetch(`${gyre.base}/metrics`)).text();
      return /centrifugo_api_command_duration_seconds_count\{[^}]*protocol="grpc"[^}]*method="info"/.test(t) ? t : undefined;
    }, 'grpc info metric');
    assert.match(text, /protocol="grpc"/);
  });
});

describe('GRPC server API with TLS, reflection, error_mode transport and a size limit', { timeout: 60_000 }, () => {
  let gyre: GyreProcess;
  let port = 0;
  let cert: { cert: string; key: string };

  before(async () => {
    port = await freePort();
    cert = selfSignedCert();
    gyre = await startGyre({
      log: { level: 'warn' },
      channel: { namespaces },
      grpc_api: {
        enabled: true,
        address: '127.0.0.1',
        port,
        error_mode: 'transport',
        reflection: true,
        max_receive_message_size: 2048,
        tls: { enabled: true, cert_pem: Buffer.from(cert.cert).toString('base64'), key_pem: cert.key },
      },
    });
  });

  after(async () => {
    await gyre?.stop();
  });

  const tlsClient = (): grpc.Client & Record<string, any> => apiClient(port, grpc.credentials.createSsl(Buffer.from(cert.cert)), { 'grpc.ssl_target_name_override': 'localhost' });

  it('serves over TLS with no key configured, and refuses plaintext', async () => {
    const c = tlsClient();
    try {
      const r = await unary(c, 'Publish', { channel: 'ns:tls', data: Buffer.from('{"x":1}') });
      assert.equal(r.err, undefined);
      assert.equal(r.res.result.offset, 1);
    } finally {
      c.close();
    }
    const plain = apiClient(port);
    try {
      const r = await unary(plain, 'Info', {});
      assert.equal(r.err?.code, grpc.status.UNAVAILABLE);
    } finally {
      plain.close();
    }
  });

  it('maps errors to statuses when error_mode is transport', async () => {
    const c = tlsClient();
    try {
      const r = await unary(c, 'History', { channel: 'ns:x', limit: 10, since: { offset: 5, epoch: 'wrong' } });
      assert.equal(r.err?.code, grpc.status.OUT_OF_RANGE);
      assert.equal(r.err?.details, 'unrecoverable position');
      const unknown = await unary(c, 'Presence', { channel: 'nope:x' });
      assert.equal(unknown.err?.code, grpc.status.NOT_FOUND);
    } finally {
      c.close();
    }
  });

  it('refuses requests over max_receive_message_size', async () => {
    const c = tlsClient();
    try {
      const r = await unary(c, 'Publish', { channel: 'ns:big', data: Buffer.from(JSON.stringify({ s: 'x'.repeat(4096) })) });
      assert.equal(r.err?.code, grpc.status.RESOURCE_EXHAUSTED);
      const small = await unary(c, 'Publish', { channel: 'ns:big', data: Buffer.from('{}') });
      assert.equal(small.err, undefined);
    } finally {
      c.close();
    }
  });

  it('lists the service through reflection', async () => {
    const def = protoLoader.loadSync(join(repoRoot, 'node_modules', '@grpc', 'reflection', 'build', 'proto', 'grpc', 'reflection', 'v1', 'reflection.proto'), { keepCase: true });
    const pkg = grpc.loadPackageDefinition(def) as any;
    const refl = new pkg.grpc.reflection.v1.ServerReflection(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(cert.cert)), { 'grpc.ssl_target_name_override': 'localhost' });
    try {
      const call = refl.ServerReflectionInfo();
      const answer = new Promise<any>((resolve, reject) => {
        call.on('data', resolve);
        call.on('error', reject);
      });
      call.write({ list_services: '*' });
      const res = await answer;
      call.end();
      const names = res.list_services_response.service.map((s: any) => s.name);
      assert.ok(names.includes('centrifugal.centrifugo.api.CentrifugoApi'), names.join(','));
    } finally {
      refl.close();
    }
  });
});

describe('GRPC listeners of an embedded server', { timeout: 30_000 }, () => {
  it('bind on listen() and are released by close()', async () => {
    const apiPort = await freePort();
    const uniPort = await freePort();
    const server = new GyreServer({
      http_server: { address: '127.0.0.1', port: 0 },
      grpc_api: { enabled: true, address: '127.0.0.1', port: apiPort },
      uni_grpc: { enabled: true, address: '127.0.0.1', port: uniPort },
    });
    await server.listen();
    const c = apiClient(apiPort);
    try {
      const r = await unary(c, 'Info', {});
      assert.equal(r.res.result.nodes.length, 1);
    } finally {
      c.close();
    }
    await server.close();
    for (const port of [apiPort, uniPort]) {
      await new Promise<void>((resolve, reject) => {
        const probe = net.createServer();
        probe.once('error', reject);
        probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
      });
    }
  });
});
