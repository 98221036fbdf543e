/**
 * The embedding's lifecycle hooks, in process: onRefresh renews a connection onConnecting
 * granted with an expiry (the server refreshes, the client is not asked), onSubRefresh does
 * the same for a subscription from onSubscribe, and onUnsubscribe / onDisconnect hear of every
 * subscription and connection that ends, whatever ended it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GyreServer } from '../src/server/index.js';
import type { ClientRef, EndReason, RefreshDecision } from '../src/index.js';
import { RawClient } from './helpers/raw-ws.js';
import { waitFor } from './helpers/wait.js';

describe('embedding lifecycle hooks', { timeout: 30_000 }, () => {
  let server: GyreServer;
  let wsUrl = '';
  const nowSec = (): number => Math.floor(Date.now() / 1000);
  const refreshes: (RefreshDecision | undefined)[] = [];
  const subRefreshes: (RefreshDecision | undefined)[] = [];
  const refreshCalls: string[] = [];
  const subRefreshCalls: string[] = [];
  const unsubscribed: { client: string; channel: string; why: EndReason }[] = [];
  const disconnected: { client: string; why: EndReason }[] = [];

  before(async () => {
    server = new GyreServer(
      { http_server: { address: '127.0.0.1', port: 0 }, http_api: { disabled: true }, client: { presence_update_interval: 300 } },
      {
        handlers: {
          onConnecting: async () => ({ userId: 'u1', expireAt: nowSec() + 1 }),
          onSubscribe: async (ctx) => (ctx.channel.startsWith('timed') ? { expireAt: nowSec() + 1 } : {}),
          onRefresh: async (c: ClientRef) => {
            refreshCalls.push(c.id);
            return refreshes.shift();
          },
          onSubRefresh: async (_c: ClientRef, channel: string) => {
            subRefreshCalls.push(channel);
            return subRefreshes.shift();
          },
          onUnsubscribe: (c, channel, why) => void unsubscribed.push({ client: c.id, channel, why }),
          onDisconnect: (c, why) => void disconnected.push({ client: c.id, why }),
        },
      },
    );
    const { port } = await server.listen();
    wsUrl = `ws://127.0.0.1:${port}/connection/websocket`;
  });
  after(async () => {
    await server.close();
  });

  it('renews through onRefresh, then expires when it says so, and reports the disconnect', async () => {
    refreshes.push({ expireAt: nowSec() + 1 });
    const raw = await RawClient.open(wsUrl);
    const r = await raw.connect({});
    const id = r.connect.client as string;
    assert.equal(r.connect.expires, undefined, 'the server refreshes, not the client');
    const closed = await raw.waitClose(8000);
    assert.equal(closed.code, 3005);
    assert.deepEqual(refreshCalls.filter((c) => c === id).length, 2, 'renewed once, then expired');
    await waitFor(() => disconnected.find((d) => d.client === id), 'onDisconnect');
    assert.deepEqual(disconnected.find((d) => d.client === id)?.why, { code: 3005, reason: 'connection expired' });
  });

  it('renews a subscription through onSubRefresh and reports every unsubscribe with its code', async () => {
    refreshes.push({ expireAt: nowSec() + 60 });
    subRefreshes.push({ expireAt: nowSec() + 1 }, { expired: true });
    const raw = await RawClient.open(wsUrl);
    const r = await raw.connect({});
    const id = r.connect.client as string;
    assert.ok((await raw.call({ subscribe: { channel: 'timed' } })).subscribe);
    assert.ok((await raw.call({ subscribe: { channel: 'plain' } })).subscribe);
    assert.ok((await raw.call({ subscribe: { channel: 'other' } })).subscribe);
    const push = await raw.push((p) => p.unsubscribe && p.channel === 'timed', 'expiry unsubscribe', 8000);
    assert.equal(push.unsubscribe.code, 2501);
    assert.deepEqual(subRefreshCalls, ['timed', 'timed']);
    assert.ok((await raw.call({ unsubscribe: { channel: 'plain' } })).unsubscribe);
    await raw.close();
    await waitFor(() => disconnected.find((d) => d.client === id), 'onDisconnect');
    const mine = unsubscribed.filter((u) => u.client === id).map((u) => [u.channel, u.why.code]);
    assert.deepEqual(mine, [
      ['timed', 2501],
      ['plain', 0],
      ['other', 1],
    ]);
  });
});
