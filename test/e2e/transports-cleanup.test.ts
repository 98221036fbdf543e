/**
 * Resource cleanup of the HTTP transports, in process so the registries can be read:
 * whichever side ends a stream (client abort, server disconnect, shutdown), its emulation
 * session leaves the registry, the connection leaves the hub, and its timers are cancelled.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { GyreServer } from '../../src/server/index.js';
import { StreamClient } from '../helpers/streams.js';
import { waitFor } from '../helpers/wait.js';

/** Pending timers of the node's shared wheel (private; read for this test only). */
const pendingTimers = (server: GyreServer): number => (server.node.wheel as unknown as { count: number }).count;

describe('HTTP transports free their sessions and timers', { timeout: 60_000 }, () => {
  let server: GyreServer;
  let base: string;
  let baselineTimers: number;

  before(async () => {
    server = new GyreServer({
      http_server: { address: '127.0.0.1', port: 0 },
      client: { insecure: true, ping_interval: 1000, pong_timeout: 500 },
      http_api: { disabled: true },
      http_stream: { enabled: true },
      sse: { enabled: true },
      uni_sse: { enabled: true },
      uni_http_stream: { enabled: true },
      uni_websocket: { enabled: true },
    });
    const { port } = await server.listen();
    base = `http://127.0.0.1:${port}`;
    baselineTimers = pendingTimers(server);
  });
  after(async () => {
    await server.close();
  });

  const registry = (): number => server.transports.emulation?.size ?? -1;
  const settled = async (what: string): Promise<void> => {
    await waitFor(() => registry() === 0 && server.node.hub.numClients === 0 && pendingTimers(server) === baselineTimers, what);
  };

  it('a client aborting an http_stream or sse stream frees the session, the hub entry and the timers', async () => {
    const hs = await StreamClient.open(`${base}/connection/http_stream`, { method: 'POST', body: '{"connect":{},"id":1}' }, 'lines');
    const sse = await StreamClient.open(`${base}/connection/sse?cf_connect=${encodeURIComponent('{"connect":{},"id":1}')}`, {}, 'sse');
    await hs.message((m) => m.id === 1, 'http_stream connect');
    const sseConnect = await sse.message((m) => m.id === 1, 'sse connect');
    // A subscription adds presence/position work; it must go away too.
    await fetch(`${base}/emulation`, {
      method: 'POST',
      body: JSON.stringify({ session: sseConnect.connect.session, node: sseConnect.connect.node, data: '{"id":2,"subscribe":{"channel":"room"}}' }),
    });
    await sse.message((m) => m.id === 2, 'subscribe reply');
    assert.equal(registry(), 2);
    assert.equal(server.node.hub.numClients, 2);
    assert.ok(pendingTimers(server) > baselineTimers, 'connected sessions hold timers');
    await hs.close();
    await sse.close();
    await settled('cleanup after client aborts');
    assert.equal(server.node.hub.numChannels, 0);
  });

  it('a server-side disconnect ends the stream and frees everything', async () => {
    const hs = await StreamClient.open(`${base}/connection/http_stream`, { method: 'POST', body: '{"connect":{},"id":1}' }, 'lines');
    const reply = await hs.message((m) => m.id === 1, 'connect');
    await server.node.disconnect({ user: '', client: reply.connect.client, code: 3503, reason: 'force disconnect' });
    await hs.waitEnd();
    assert.deepEqual(hs.messages.at(-1), { push: { disconnect: { code: 3503, reason: 'force disconnect' } } });
    await settled('cleanup after a server disconnect');
    // The closed session is gone: commands for it are dropped with 204.
    const res = await fetch(`${base}/emulation`, {
      method: 'POST',
      body: JSON.stringify({ session: reply.connect.session, node: reply.connect.node, data: '{"id":2,"rpc":{}}' }),
    });
    assert.equal(res.status, 204);
  });

  it('a stream whose first command is not connect is closed with 3501 and freed', async () => {
    // `{}` is a pong: before connect it is a protocol violation.
    const hs = await StreamClient.open(`${base}/connection/http_stream`, { method: 'POST', body: '{}' }, 'lines');
    await hs.waitEnd();
    assert.equal(hs.messages.at(-1)?.push?.disconnect?.code, 3501);
    await settled('cleanup after a bad first command');
  });

  it('unidirectional streams and sockets free their connections and timers when the client goes away', async () => {
    const us = await StreamClient.open(`${base}/connection/uni_sse`, {}, 'sse');
    const uh = await StreamClient.open(`${base}/connection/uni_http_stream`, { method: 'POST', body: '{}' }, 'lines');
    const ws = new WebSocket(`${base.replace('http', 'ws')}/connection/uni_websocket?cf_connect=%7B%7D`);
    const wsConnected = new Promise<void>((resolve) => ws.once('message', () => resolve()));
    await us.message((m) => m.connect, 'uni_sse connect');
    await uh.message((m) => m.connect, 'uni_http_stream connect');
    await wsConnected;
    assert.equal(server.node.hub.numClients, 3);
    assert.equal(registry(), 0, 'unidirectional sessions never enter the emulation registry');
    await us.close();
    await uh.close();
    ws.terminate();
    await settled('cleanup after unidirectional clients left');
  });
});
