/**
 * Lifecycle notifications to a GRPC backend (endpoints that are not http(s)): a real GRPC
 * server the test runs implements gyre.events.v1.GyreEvents (NotifyDisconnect,
 * NotifyUnsubscribe, proto/gyre_events.proto) and CentrifugoProxy/NotifyChannelState
 * (proto/proxy.proto); a Gyre process sends it batches for the official SDK's actions. The
 * first state call answers with an `error`: the batch comes again.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { SdkClients, subscribed } from '../helpers/sdk.js';
import { repoRoot, startGyre, type GyreProcess } from '../helpers/server-process.js';
import { hmacToken } from '../helpers/tokens.js';
import { uniq, waitEvent, waitFor } from '../helpers/wait.js';

const SECRET = 'grpc-lifecycle-secret';
const LOADER: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: false };

type Call = { method: string; events: Record<string, unknown>[]; answeredError: boolean; metadata: grpc.Metadata };

describe('lifecycle notifications over GRPC', { timeout: 60_000 }, () => {
  const calls: Call[] = [];
  let stateErrors = 1;
  let server: grpc.Server;
  let gyre: GyreProcess;
  let clients: SdkClients;

  before(async () => {
    const events = grpc.loadPackageDefinition(protoLoader.loadSync(join(repoRoot, 'proto', 'gyre_events.proto'), LOADER)) as any;
    const proxy = grpc.loadPackageDefinition(protoLoader.loadSync(join(repoRoot, 'proto', 'proxy.proto'), LOADER)) as any;
    server = new grpc.Server();
    const record = (method: string, error: boolean) => (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => {
      calls.push({ method, events: call.request.events, answeredError: error, metadata: call.metadata });
      cb(null, error ? { error: { code: 1, message: 'try later' } } : { result: {} });
    };
    server.addService(events.gyre.events.v1.GyreEvents.service, {
      NotifyDisconnect: record('NotifyDisconnect', false),
      NotifyUnsubscribe: record('NotifyUnsubscribe', false),
    });
    server.addService(proxy.centrifugal.centrifugo.proxy.CentrifugoProxy.service, {
      NotifyChannelState: (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => {
        const err = stateErrors > 0;
        if (err) stateErrors--;
        record('NotifyChannelState', err)(call, cb);
      },
    });
    const port = await new Promise<number>((res, rej) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
    );
    const endpoint = `grpc://127.0.0.1:${port}`;
    gyre = await startGyre({
      log: { level: 'warn' },
      client: {
        token: { hmac_secret_key: SECRET },
        proxy: { disconnect: { enabled: true, endpoint, timeout: '1s', grpc: { credentials_key: 'x-events-key', credentials_value: 'k1' } } },
      },
      channel_state: { vacated_event_delay: '300ms' },
      channel: {
        proxy: { unsubscribe: { endpoint, timeout: '1s' }, state: { endpoint, timeout: '1s' } },
        namespaces: [{ name: 'room', allow_subscribe_for_client: true, presence: true, state_proxy_enabled: true, unsubscribe_proxy_enabled: true }],
      },
    });
    clients = new SdkClients(gyre.wsUrl, 'json');
  });
  after(async () => {
    clients?.closeAll();
    await gyre?.stop();
    server?.forceShutdown();
  });

  const accepted = (method: string): Record<string, unknown>[] => calls.filter((c) => c.method === method && !c.answeredError).flatMap((c) => c.events);

  it('sends disconnect, unsubscribe and channel state batches to the GRPC services', async () => {
    const user = uniq('u');
    const c = clients.make({ token: await hmacToken(SECRET, { sub: user }) });
    const up = waitEvent(c, 'connected');
    c.connect();
    const client = (await up).client as string;
    const ch = `room:${uniq()}`;
    const { sub } = await subscribed(c, ch);
    sub.unsubscribe();
    await waitFor(() => accepted('NotifyChannelState').length === 2 || undefined, 'occupied and vacated', 10_000);
    c.disconnect();
    await waitFor(() => accepted('NotifyDisconnect').find((e) => e.client === client), 'disconnect');

    const un = accepted('NotifyUnsubscribe').filter((e) => e.channel === ch);
    assert.equal(un.length, 1);
    assert.deepEqual({ ...un[0], time_ms: 0 }, { type: 'unsubscribe', client, user, channel: ch, code: 0, reason: 'client unsubscribed', time_ms: 0 });
    const d = accepted('NotifyDisconnect').find((e) => e.client === client)!;
    assert.deepEqual([d.type, d.user, d.code, d.reason, d.transport], ['disconnect', user, 3000, 'connection closed', 'websocket']);
    assert.ok(Number(d.time_ms) > 0);
    const dc = calls.find((x) => x.method === 'NotifyDisconnect')!;
    assert.deepEqual(dc.metadata.get('x-events-key'), ['k1']);

    // The first state call was answered with an error: the same batch came again.
    const st = calls.filter((x) => x.method === 'NotifyChannelState');
    assert.equal(st[0]!.answeredError, true);
    assert.deepEqual(st[1]!.events, st[0]!.events);
    assert.deepEqual(
      accepted('NotifyChannelState').map((e) => [e.channel, e.type]),
      [
        [ch, 'occupied'],
        [ch, 'vacated'],
      ],
    );
  });
});
